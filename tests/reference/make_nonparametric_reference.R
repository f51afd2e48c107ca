# Reference numbers for cohortcalc's nonparametric estimators and tests.
# Run from the repository root:  Rscript tests/reference/make_nonparametric_reference.R
# Made with R survival 3.5.3 and cmprsk 2.2.11 (Debian packages). Numbers are written with
# 17 significant digits so that doubles round-trip exactly.
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
})
out <- "tests/reference"
num17 <- function(df) {
  for (nm in names(df)) if (is.numeric(df[[nm]])) df[[nm]] <- sprintf("%.17g", df[[nm]])
  df
}
write_ref <- function(df, name) {
  write.csv(num17(df), file.path(out, name), row.names = FALSE, quote = FALSE)
}

# ---- data exported for the Python tests ---------------------------------------------
lung_data <- data.frame(time = lung$time, status = lung$status - 1L,
                        sex = ifelse(lung$sex == 1, "male", "female"),
                        ph_ecog = lung$ph.ecog, age = lung$age,
                        karno_high = as.integer(!is.na(lung$ph.karno) & lung$ph.karno >= 80))
lung_data$w <- 0.5 + (seq_len(nrow(lung_data)) %% 7) / 4    # non-integer case weights
lung_data$wi <- 1L + seq_len(nrow(lung_data)) %% 3L         # integer (frequency) weights
write_ref(lung_data, "lung.csv")
mg <- data.frame(
  id = mgus2$id,
  sex = ifelse(mgus2$sex == "F", "female", "male"),
  age = mgus2$age,
  futime = mgus2$futime,          # months
  death = mgus2$death,
  etime = ifelse(mgus2$pstat == 0, mgus2$futime, mgus2$ptime),
  event = ifelse(mgus2$pstat == 0, 2L * mgus2$death, 1L),   # 0 censored, 1 PCM, 2 death
  age_group = cut(mgus2$age, c(0, 60, 72, 200), labels = c("<60", "60-72", ">72")),
  entry_months = mgus2$age * 12L,
  exit_months = mgus2$age * 12L + mgus2$futime
)
mg$w <- 0.5 + (seq_len(nrow(mg)) %% 5) / 3
mg$exit_cr_months <- mg$entry_months + mg$etime   # age scale (months) for the competing risks
write_ref(mg, "mgus2.csv")

# ---- Kaplan-Meier ---------------------------------------------------------------------
km_table <- function(fit, label, by = NULL) {
  strata <- if (is.null(fit$strata)) rep("all", length(fit$time)) else
    rep(sub(".*=", "", names(fit$strata)), fit$strata)
  data.frame(case = label, group = strata, time = fit$time, n_risk = fit$n.risk,
             n_event = fit$n.event, n_censor = fit$n.censor, survival = fit$surv,
             # survival scale, as summary.survfit (the IJ std.err already is: logse = FALSE)
             std_err = if (fit$logse) fit$std.err * fit$surv else fit$std.err,
             lower = fit$lower, upper = fit$upper)
}
km <- rbind(
  km_table(survfit(Surv(time, status) ~ 1, data = lung_data), "lung_all_log"),
  km_table(survfit(Surv(time, status) ~ sex, data = lung_data), "lung_sex_log"),
  km_table(survfit(Surv(time, status) ~ sex, data = lung_data, conf.type = "log-log"),
           "lung_sex_loglog"),
  km_table(survfit(Surv(time, status) ~ sex, data = lung_data, conf.type = "plain"),
           "lung_sex_plain"),
  km_table(survfit(Surv(time, status) ~ sex, data = lung_data, conf.int = 0.9),
           "lung_sex_log90"),
  km_table(survfit(Surv(futime, death) ~ sex, data = mg), "mgus2_sex_ties"),
  km_table(survfit(Surv(entry_months, exit_months, death) ~ 1, data = mg),
           "mgus2_age_scale_entry"),
  # non-integer weights: survfit switches to the infinitesimal-jackknife SE (logse = FALSE)
  km_table(survfit(Surv(time, status) ~ sex, data = lung_data, weights = w), "lung_sex_weighted"),
  km_table(survfit(Surv(time, status) ~ sex, data = lung_data, weights = wi),
           "lung_sex_integer_weights")
)
write_ref(km, "km_reference.csv")

# ---- Aalen-Johansen (multi-state survfit, infinitesimal-jackknife SE) -----------------
aj_table <- function(fit, label) {
  nt <- length(fit$time)
  strata <- if (is.null(fit$strata)) rep("all", nt) else
    rep(sub(".*=", "", names(fit$strata)), fit$strata)
  rows <- list()
  for (k in 2:length(fit$states)) {
    cause <- fit$states[k]
    rows[[k - 1]] <- data.frame(case = label, group = strata, cause = cause, time = fit$time,
      n_risk = fit$n.risk[, 1], n_event = fit$n.event[, k], n_censor = fit$n.censor,
      cif = fit$pstate[, k], std_err = fit$std.err[, k],
      lower = fit$lower[, k], upper = fit$upper[, k])
  }
  do.call(rbind, rows)
}
mg$fevent <- factor(mg$event, 0:2, c("censor", "1", "2"))
aj <- rbind(
  aj_table(survfit(Surv(etime, fevent) ~ 1, data = mg), "mgus2_all"),
  aj_table(survfit(Surv(etime, fevent) ~ sex, data = mg), "mgus2_sex"),
  aj_table(survfit(Surv(etime, fevent) ~ sex, data = mg, conf.int = 0.9), "mgus2_sex_90"),
  aj_table(survfit(Surv(etime, fevent) ~ 1, data = mg, conf.type = "log-log"), "mgus2_loglog"),
  aj_table(survfit(Surv(etime, fevent) ~ 1, data = mg, conf.type = "plain"), "mgus2_plain"),
  aj_table(survfit(Surv(etime, fevent) ~ sex, data = mg, weights = w), "mgus2_sex_weighted"),
  # delayed entry (age as the time scale): counting-process form, one row per id
  aj_table(survfit(Surv(entry_months, exit_cr_months, fevent) ~ sex, data = mg, id = id),
           "mgus2_sex_age_scale"),
  aj_table(survfit(Surv(entry_months, exit_cr_months, fevent) ~ 1, data = mg, id = id,
                   weights = w), "mgus2_age_scale_weighted")
)
write_ref(aj, "aj_reference.csv")

# ---- log-rank, trend, Gray, lrtest, Poisson --------------------------------------------
scalars <- list()
add <- function(name, value) scalars[[length(scalars) + 1]] <<- data.frame(name = name, value = value)
sd1 <- survdiff(Surv(time, status) ~ sex, data = lung_data)
add("logrank_lung_sex_chisq", sd1$chisq)
add("logrank_lung_sex_df", length(sd1$n) - 1)
add("logrank_lung_sex_p", pchisq(sd1$chisq, length(sd1$n) - 1, lower.tail = FALSE))
for (i in seq_along(sd1$n)) {
  add(paste0("logrank_lung_sex_obs_", sub(".*=", "", names(sd1$n)[i])), sd1$obs[i])
  add(paste0("logrank_lung_sex_exp_", sub(".*=", "", names(sd1$n)[i])), sd1$exp[i])
}
ecog <- lung_data[!is.na(lung_data$ph_ecog), ]
sd2 <- survdiff(Surv(time, status) ~ ph_ecog, data = ecog)
df2 <- sum(sd2$exp > 0) - 1
add("logrank_lung_ecog_chisq", sd2$chisq)
add("logrank_lung_ecog_df", df2)
add("logrank_lung_ecog_p", pchisq(sd2$chisq, df2, lower.tail = FALSE))
sd3 <- survdiff(Surv(time, status) ~ sex + strata(karno_high), data = lung_data)
add("logrank_lung_sex_strata_chisq", sd3$chisq)
add("logrank_lung_sex_strata_p", pchisq(sd3$chisq, 1, lower.tail = FALSE))
pp1 <- survdiff(Surv(time, status) ~ sex, data = lung_data, rho = 1)    # Peto-Peto
add("petopeto_lung_sex_chisq", pp1$chisq)
add("petopeto_lung_sex_obs_female", pp1$obs[1]); add("petopeto_lung_sex_exp_female", pp1$exp[1])
pp2 <- survdiff(Surv(time, status) ~ ph_ecog + strata(karno_high), data = ecog, rho = 1)
add("petopeto_lung_ecog_strata_chisq", pp2$chisq)
pp3 <- survdiff(Surv(futime, death) ~ age_group, data = mg, rho = 0.5)
add("rho_half_mgus2_agegroup_chisq", pp3$chisq)
sd4 <- survdiff(Surv(futime, death) ~ age_group, data = mg)
add("logrank_mgus2_agegroup_chisq", sd4$chisq)
add("logrank_mgus2_agegroup_p", pchisq(sd4$chisq, 2, lower.tail = FALSE))
# trend: chisq = (s'(O-E))^2 / s'Vs with survdiff's variance matrix, default scores 1..k
trend <- function(sd, scores) {
  u <- sum(scores * (sd$obs - sd$exp))
  v <- drop(t(scores) %*% sd$var %*% scores)
  c(u^2 / v, pchisq(u^2 / v, 1, lower.tail = FALSE))
}
t1 <- trend(sd2, 1:4)
add("trend_lung_ecog_chisq", t1[1]); add("trend_lung_ecog_p", t1[2])
t2 <- trend(sd2, c(0, 1, 3, 7))
add("trend_lung_ecog_scores_chisq", t2[1]); add("trend_lung_ecog_scores_p", t2[2])
t3 <- trend(sd4, 1:3)
add("trend_mgus2_agegroup_chisq", t3[1]); add("trend_mgus2_agegroup_p", t3[2])
# Gray's test, cmprsk::cuminc(...)$Tests, rho = 0
g1 <- cuminc(mg$etime, mg$event, mg$sex)$Tests
g2 <- cuminc(mg$etime, mg$event, mg$age_group)$Tests
g3 <- cuminc(mg$etime, mg$event, mg$age_group, strata = mg$sex)$Tests
g4 <- cuminc(mg$etime, mg$event, mg$age_group, rho = 1)$Tests
add("gray_mgus2_agegroup_rho1_cause1_stat", g4["1", "stat"])
for (cause in c("1", "2")) {
  add(paste0("gray_mgus2_sex_cause", cause, "_stat"), g1[cause, "stat"])
  add(paste0("gray_mgus2_sex_cause", cause, "_p"), g1[cause, "pv"])
  add(paste0("gray_mgus2_agegroup_cause", cause, "_stat"), g2[cause, "stat"])
  add(paste0("gray_mgus2_agegroup_cause", cause, "_p"), g2[cause, "pv"])
  add(paste0("gray_mgus2_agegroup_strata_cause", cause, "_stat"), g3[cause, "stat"])
  add(paste0("gray_mgus2_agegroup_strata_cause", cause, "_p"), g3[cause, "pv"])
}
# likelihood-ratio test between nested Cox fits (anova.coxph), Efron ties
fa <- coxph(Surv(time, status) ~ age, data = lung_data)
fb <- coxph(Surv(time, status) ~ age + sex, data = lung_data)
an <- anova(fa, fb)
add("lrtest_lung_loglik_a", fa$loglik[2]); add("lrtest_lung_loglik_b", fb$loglik[2])
add("lrtest_lung_chisq", an$Chisq[2]); add("lrtest_lung_df", an$Df[2])
add("lrtest_lung_p", an[["Pr(>|Chi|)"]][2])
write_ref(do.call(rbind, scalars), "tests_reference.csv")

# exact Poisson (Garwood) intervals for rates, poisson.test
rates <- data.frame(events = c(0, 1, 5, 37, 1000), person_years = c(10, 2.5, 120.75, 800, 5e4))
ci95 <- t(mapply(function(x, t) poisson.test(x, t)$conf.int, rates$events, rates$person_years))
ci90 <- t(mapply(function(x, t) poisson.test(x, t, conf.level = 0.9)$conf.int,
                 rates$events, rates$person_years))
rates$lower95 <- ci95[, 1]; rates$upper95 <- ci95[, 2]
rates$lower90 <- ci90[, 1]; rates$upper90 <- ci90[, 2]
write_ref(rates, "poisson_reference.csv")
# rates by sex in lung (time in days -> person-years / 365.25)
by_sex <- do.call(rbind, lapply(split(lung_data, lung_data$sex), function(d) {
  py <- sum(d$time) / 365.25; x <- sum(d$status)
  ci <- poisson.test(x, py)$conf.int
  data.frame(sex = d$sex[1], events = x, person_years = py, rate = 1000 * x / py,
             lower = 1000 * ci[1], upper = 1000 * ci[2])
}))
write_ref(by_sex, "rates_lung_sex_reference.csv")
