# Reference numbers for cohortcalc.finegray (tests/survival/test_finegray.py).
#
# Run from the repository root:  Rscript tests/reference/make_finegray_reference.R
# Needs R packages survival (>= 3.5) and cmprsk (2.2-11).  Writes the data used to
# tests/reference/finegray_*.csv and every fitted number to finegray_reference.json
# (17 significant digits).
#
# References:
#   "crr"            cmprsk::crr(ftime, fstatus, cov1 = model.matrix(...), failcode, cencode)
#                    with gtol = 1e-13, maxiter = 100, plus the default-tolerance fit as
#                    "crr_default".  coef, var (crr's sandwich, including the censoring-
#                    distribution term), loglik, loglik.null.  With the tight gtol crr's
#                    line search stalls at rounding level and it reports converged = FALSE;
#                    its estimate is then as close to the maximum as crr can get (~1e-8
#                    relative on mgus2, whose uncentred age costs crr digits).
#   "finegray_coxph" survival::finegray() + coxph(Surv(fgstart, fgstop, fgstatus) ~ ...,
#                    weights = fgwt, ties = "breslow") -- point estimates only (its
#                    variance ignores the estimated censoring distribution).  Used for
#                    strata (G estimated within stratum; stratified baseline) and for case
#                    weights (on data whose rows are replicated weight times, because
#                    finegray() estimates G without the user's weights), on data without
#                    censorings tied to events (finegray() and crr break such ties
#                    differently when estimating G).
#   "coxph_breslow_robust"  coxph(..., ties = "breslow", robust = TRUE) on data whose
#                    competing events are recoded as censored: Fine-Gray without competing
#                    events is Cox with Breslow ties and crr's sandwich is the robust variance.
#   "censoring"      survfit(Surv(time, status == 0) ~ 1): the KM of the censoring
#                    distribution G that crr weights by (time, n.risk, n.event, surv).
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
})
stopifnot(packageVersion("cmprsk") == "2.2.11")

out_dir <- "tests/reference"
num <- function(x) {
  x <- as.numeric(x)
  paste0("[", paste(ifelse(is.na(x), "null", sprintf("%.17g", x)), collapse = ", "), "]")
}
str_vec <- function(x) paste0("[", paste0('"', x, '"', collapse = ", "), "]")
mat <- function(m) paste0("[", paste(apply(m, 1, num), collapse = ", "), "]")

# fit crr on a data frame; covariates as a one-sided formula (dummy coding by model.matrix)
crr_fit <- function(d, formula, cause, gtol = 1e-13, maxiter = 100) {
  x <- model.matrix(formula, d)[, -1, drop = FALSE]
  fit <- crr(d$time, d$status, cov1 = x, failcode = cause, cencode = 0,
             gtol = gtol, maxiter = maxiter)
  list(terms = colnames(x), coef = fit$coef, var = fit$var, loglik = fit$loglik,
       loglik_null = fit$loglik.null, converged = fit$converged, n = fit$n)
}

fg_coxph <- function(d, formula, cause, strata = NULL) {
  d$fstat <- factor(d$status, levels = sort(unique(d$status)))
  rhs <- paste(attr(terms(formula), "term.labels"), collapse = " + ")
  # finegray() drops a strata() variable from its output, so expand each stratum
  # separately (it estimates G within stratum either way) and stack the pieces
  groups <- if (is.null(strata)) rep("all", nrow(d)) else d[[strata]]
  fgd <- do.call(rbind, lapply(sort(unique(groups)), function(g) {
    piece <- finegray(as.formula(paste("Surv(time, fstat) ~", rhs)),
                      data = d[groups == g, ], etype = as.character(cause))
    piece$fg_stratum <- g
    piece
  }))
  if (!is.null(strata)) rhs <- paste(rhs, "+ strata(fg_stratum)")
  fit <- coxph(as.formula(paste("Surv(fgstart, fgstop, fgstatus) ~", rhs)),
               data = fgd, weights = fgwt, ties = "breslow",
               control = coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 100))
  list(terms = names(coef(fit)), coef = coef(fit))
}

json_model <- function(name, dataset, cause, covariates, fits, extra = "") {
  parts <- c(sprintf('"name": "%s"', name), sprintf('"dataset": "%s"', dataset),
             sprintf('"cause": %d', cause), sprintf('"covariates": %s', str_vec(covariates)))
  for (ref in names(fits)) {
    f <- fits[[ref]]
    fields <- c(sprintf('"terms": %s', str_vec(f$terms)), sprintf('"coef": %s', num(f$coef)))
    if (!is.null(f$se)) fields <- c(fields, sprintf('"se": %s', num(f$se)))
    if (!is.null(f$var)) {
      fields <- c(fields, sprintf('"var": %s', mat(f$var)),
                  sprintf('"loglik": %s', sprintf("%.17g", f$loglik)),
                  sprintf('"loglik_null": %s', sprintf("%.17g", f$loglik_null)),
                  sprintf('"converged": %s', tolower(as.character(f$converged))),
                  sprintf('"n": %d', f$n))
    }
    parts <- c(parts, sprintf('"%s": {%s}', ref, paste(fields, collapse = ", ")))
  }
  if (nzchar(extra)) parts <- c(parts, extra)
  paste0("{", paste(parts, collapse = ", "), "}")
}

write_csv <- function(d, name) {
  path <- file.path(out_dir, name)
  write.csv(d, path, row.names = FALSE)
  stopifnot(file.size(path) < 1e6)
}

models <- character()
add <- function(...) models <<- c(models, json_model(...))

# ---- mgus2: progression to plasma-cell malignancy (1) vs death (2) -------------------
m <- with(mgus2, data.frame(
  time = ifelse(pstat == 1, ptime, futime),
  status = ifelse(pstat == 1, 1L, 2L * as.integer(death)),
  age = age, sex = as.character(sex), hgb = hgb, creat = creat, mspike = mspike))
m <- m[complete.cases(m) & m$time > 0, ]
write_csv(m, "finegray_mgus2.csv")
f1 <- ~ age + sex
add("mgus2_pcm_age_sex", "finegray_mgus2.csv", 1L, c("age", "sex"),
    list(crr = crr_fit(m, f1, 1), crr_default = crr_fit(m, f1, 1, gtol = 1e-6, maxiter = 10)))
f2 <- ~ age + sex + hgb + creat + mspike
add("mgus2_death_full", "finegray_mgus2.csv", 2L, c("age", "sex", "hgb", "creat", "mspike"),
    list(crr = crr_fit(m, f2, 2)))
add("mgus2_pcm_full", "finegray_mgus2.csv", 1L, c("age", "sex", "hgb", "creat", "mspike"),
    list(crr = crr_fit(m, f2, 1)))

# ---- flchain (subsample): circulatory death (1) vs other death (2) ---------------------
set.seed(20261125)
fl <- flchain[!is.na(flchain$creatinine) & flchain$futime > 0, ]
fl <- fl[sort(sample(nrow(fl), 2500)), ]
f <- data.frame(
  time = fl$futime,
  status = ifelse(fl$death == 0, 0L, ifelse(fl$chapter == "Circulatory", 1L, 2L)),
  age = fl$age, sex = as.character(fl$sex), kappa = fl$kappa, lambda = fl$lambda,
  creatinine = fl$creatinine,
  flc_group = c("low", "mid", "high")[cut(fl$flc.grp, c(0, 4, 8, 10), labels = FALSE)])
write_csv(f, "finegray_flchain.csv")
f$flc_group <- factor(f$flc_group, levels = c("low", "mid", "high"))
f3 <- ~ age + sex + creatinine + flc_group
add("flchain_circulatory", "finegray_flchain.csv", 1L,
    c("age", "sex", "creatinine", "flc_group"), list(crr = crr_fit(f, f3, 1)))

# ---- cohortcalc's synthetic MESA-like cohort (day times, CAC categories, an interaction) --
# finegray_synth.csv is read, not made here: exported once from Python with
#   cc.simulate(3000, 11, SynthParams(outcome_model="subdistribution")).analysis_frame()
#   (time = mi_days, status = mi_status, age, sex, diabetes, cac_category, ckd)
y <- read.csv(file.path(out_dir, "finegray_synth.csv"), stringsAsFactors = FALSE)
y$cac_category <- factor(y$cac_category, levels = c("0", "1-100", "101-400", ">400"))
f5 <- ~ age + sex + diabetes + cac_category + ckd + age:ckd
add("synth_mi", "finegray_synth.csv", 1L,
    c("age", "sex", "diabetes", "cac_category", "ckd", "age:ckd"),
    list(crr = crr_fit(y, f5, 1)))

# ---- synthetic, heavy ties (integer times 1..25), events tied with censorings ----------
set.seed(5)
n <- 500
s <- data.frame(x1 = round(rnorm(n), 3), x2 = rbinom(n, 1, 0.4),
                grp = sample(c("a", "b", "c"), n, replace = TRUE),
                stratum = sample(c("s1", "s2"), n, replace = TRUE),
                w = sample(1:3, n, replace = TRUE))
lp1 <- 0.5 * s$x1 - 0.4 * s$x2 + 0.3 * (s$grp == "b")
t1 <- rexp(n, 0.05 * exp(lp1)); t2 <- rexp(n, 0.04 * exp(-0.3 * s$x1))
tc <- runif(n, 0, 40)
tt <- pmin(t1, t2, tc)
s$time <- pmax(1, ceiling(tt))
s$status <- ifelse(tt == tc, 0L, ifelse(tt == t1, 1L, 2L))
write_csv(s, "finegray_ties.csv")
f4 <- ~ x1 + x2 + grp
add("ties_cause1", "finegray_ties.csv", 1L, c("x1", "x2", "grp"),
    list(crr = crr_fit(s, f4, 1)))
add("ties_cause2", "finegray_ties.csv", 2L, c("x1", "x2", "grp"),
    list(crr = crr_fit(s, f4, 2)))
# case weights = rows replicated w times (crr has no weights)
rep_s <- s[rep(seq_len(n), s$w), ]
add("ties_weights", "finegray_ties.csv", 1L, c("x1", "x2", "grp"),
    list(crr = crr_fit(rep_s, f4, 1)), extra = '"weights": "w"')

# no competing events (status 2 recoded as censored): Fine-Gray is then Cox with Breslow
# ties, and crr's sandwich (its censoring term vanishes) is coxph's robust variance
s0 <- transform(s, status = ifelse(status == 2L, 0L, status))
cox0 <- coxph(Surv(time, status == 1) ~ x1 + x2 + grp, data = s0, ties = "breslow",
              robust = TRUE, control = coxph.control(eps = 1e-12, toler.chol = 1e-15))
add("ties_no_competing", "finegray_ties.csv", 1L, c("x1", "x2", "grp"),
    list(crr = crr_fit(s0, f4, 1),
         coxph_breslow_robust = list(terms = names(coef(cox0)), coef = coef(cox0),
                                     se = sqrt(diag(cox0$var)))),
    extra = '"competing_recoded_as_censored": 2')

# ---- synthetic, continuous times (no censoring tied with an event) ---------------------
# finegray() lets events at t leave before the censorings at t when it estimates G, crr
# keeps them at risk; the two agree only without such ties, so strata and weights (which
# only finegray + coxph can check) use untied times.
set.seed(11)
n <- 400
u <- data.frame(x1 = round(rnorm(n), 4), x2 = rbinom(n, 1, 0.5),
                grp = sample(c("a", "b", "c"), n, replace = TRUE),
                stratum = sample(c("s1", "s2", "s3"), n, replace = TRUE),
                w = sample(1:3, n, replace = TRUE))
lp1 <- 0.6 * u$x1 - 0.5 * u$x2 + 0.4 * (u$grp == "c") + 0.3 * (u$stratum == "s2")
t1 <- rexp(n, 0.08 * exp(lp1)); t2 <- rexp(n, 0.05 * exp(0.4 * u$x2))
tc <- runif(n, 0, 25)
tt <- pmin(t1, t2, tc)
u$time <- round(tt, 6)
stopifnot(!anyDuplicated(u$time), all(u$time > 0))
u$status <- ifelse(tt == tc, 0L, ifelse(tt == t1, 1L, 2L))
write_csv(u, "finegray_continuous.csv")
add("continuous_cause1", "finegray_continuous.csv", 1L, c("x1", "x2", "grp"),
    list(crr = crr_fit(u, f4, 1), finegray_coxph = fg_coxph(u, f4, 1)))
add("continuous_strata", "finegray_continuous.csv", 1L, c("x1", "x2", "grp"),
    list(finegray_coxph = fg_coxph(u, f4, 1, strata = "stratum")),
    extra = '"strata": "stratum"')
rep_u <- u[rep(seq_len(n), u$w), ]
add("continuous_weights", "finegray_continuous.csv", 1L, c("x1", "x2", "grp"),
    list(crr = crr_fit(rep_u, f4, 1), finegray_coxph = fg_coxph(rep_u, f4, 1)),
    extra = '"weights": "w"')
add("continuous_weights_strata", "finegray_continuous.csv", 1L, c("x1", "x2", "grp"),
    list(finegray_coxph = fg_coxph(rep_u, f4, 1, strata = "stratum")),
    extra = '"weights": "w", "strata": "stratum"')

# ---- the censoring distribution G (KM with censoring as the event), as crr computes it ----
km_cens <- function(d, label) {
  km <- survfit(Surv(time, status == 0) ~ 1, data = d)
  sprintf('{"name": "%s", "time": %s, "n_risk": %s, "n_censored": %s, "survival": %s}',
          label, num(km$time), num(km$n.risk), num(km$n.event), num(km$surv))
}
censoring <- c(km_cens(s, "ties_all"), km_cens(s[s$stratum == "s2", ], "ties_s2"),
               km_cens(m, "mgus2_all"))

writeLines(c("{", sprintf('"generated_by": "%s",', "tests/reference/make_finegray_reference.R"),
             sprintf('"r_version": "%s", "cmprsk": "%s", "survival": "%s",',
                     getRversion(), packageVersion("cmprsk"), packageVersion("survival")),
             '"censoring": [', paste(censoring, collapse = ",\n"), "],",
             '"models": [', paste(models, collapse = ",\n"), "]}"),
           file.path(out_dir, "finegray_reference.json"))
