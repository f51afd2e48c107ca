# Reference numbers for analyses on the age time scale (tests/analysis/test_agescale_reference.py).
#
# Run from the repository root:  Rscript tests/reference/make_agescale_reference.R
# Needs R survival 3.5.  Data: tests/reference/agescale_cohort.csv (written by
# make_agescale_data.py from cc.simulate + cc.derive; 1,500 participants aged >= 45) and
# survival::mgus2 (ages in years and follow-up in months, with ties; written to agescale_mgus2.csv).
# Writes (17 significant digits):
#   agescale_coefficients.csv  case, term, coef, se (as coxph reports: robust when clustered),
#                              naive_se, loglik, loglik_null, n, nevent
#     "cox_death_age"      coxph(Surv(age_entry, death_age_exit, death_status) ~ cac_category
#                          + sex, ties = "efron")                      (delayed entry: age)
#     "cox_death_age_landmark2"  the same with entry moved to age_entry + 2 and the rows
#                          whose exit is not after it dropped (landmark 2 years after entry)
#     "cox_mgus2_age"      mgus2 on the age scale in months (whole numbers, so ties are exact and
#                          many): coxph(Surv(age * 12, age * 12 + futime, death) ~ sex + hgb)
#     "fg_mi_age"          finegray(Surv(age_entry, mi_age_exit, factor(mi_status)) ~ ., id = id,
#                          etype = "1") + coxph(Surv(fgstart, fgstop, fgstatus) ~ log_cac + sex,
#                          weights = fgwt, cluster = id, ties = "breslow")
#                          (Geskus 2011 weights: censoring x truncation distribution)
#     "fg_mgus2_age"       the same on mgus2 (PCM first; death without PCM competing) on the
#                          age scale in months, ~ sex + hgb
#     "headline_death_age_model2"  the headline spec's age-scale all-cause mortality, Model 2, on
#                          agescale_headline.csv (its population, n = 3,000, seed 1):
#                          coxph(Surv(age_entry, death_age_exit, death_status) ~ cac_category
#                          + sex + race_ethnicity + diabetes + smoking + sbp + bp_treated
#                          + total_cholesterol + hdl_cholesterol + statin, ties = "efron")
#   agescale_zph.csv        cox.zph(fit) (transform "km", terms = TRUE): case, term, chisq, df, p
#                          for "cox_death_age" and for "fg_mi_age" (the Fine-Gray analogue:
#                          Schoenfeld-type residuals of the weighted counting-process fit)
#   agescale_mgus2.csv     the mgus2 rows used (hgb known), with the age-scale columns
#   agescale_km.csv         survfit(Surv(age_entry, death_age_exit, death_status) ~ sex):
#                          strata, time, n.risk, n.event, n.censor, surv, std.err, lower, upper
#   agescale_aj.csv         survfit(Surv(age_entry, mi_age_exit, factor(mi_status)) ~ 1, id = id):
#                          time, n.risk, cif of MI (pstate), its std.err, lower, upper
suppressPackageStartupMessages(library(survival))
f17 <- function(x) sprintf("%.17g", x)
stopifnot(packageVersion("survival") >= "3.5")

dir <- "tests/reference"
cohort <- read.csv(file.path(dir, "agescale_cohort.csv"), stringsAsFactors = FALSE)
cohort$cac_category <- factor(cohort$cac_category, levels = c("0", "1-100", "101-400", ">400"))
cohort$sex <- factor(cohort$sex, levels = c("female", "male"))
mgus <- survival::mgus2[!is.na(survival::mgus2$hgb), ]
mgus$sex <- factor(as.character(mgus$sex), levels = c("F", "M"))
mgus$age_entry <- mgus$age * 12
mgus$age_exit <- mgus$age_entry + mgus$futime
mgus$etime <- ifelse(mgus$pstat == 0, mgus$futime, mgus$ptime)
mgus$event <- ifelse(mgus$pstat == 0, 2 * mgus$death, 1)
mgus$age_exit_cr <- mgus$age_entry + mgus$etime
write.csv(data.frame(id = mgus$id, sex = mgus$sex, hgb = mgus$hgb, death = mgus$death,
                     event = mgus$event, age_entry = mgus$age_entry, age_exit = mgus$age_exit,
                     age_exit_cr = mgus$age_exit_cr),
          file.path(dir, "agescale_mgus2.csv"), row.names = FALSE)

# Exact times: aeqSurv (timefix) must leave every time as it is, so that cohortcalc, which ties
# only exactly equal times, sees the same risk sets.
same_after_timefix <- function(start, stop, status) {
  y <- Surv(start, stop, status)
  identical(unclass(aeqSurv(y))[, 1:2], unclass(y)[, 1:2])
}
stopifnot(same_after_timefix(cohort$age_entry, cohort$death_age_exit, cohort$death_status),
          same_after_timefix(cohort$age_entry, cohort$mi_age_exit, cohort$mi_status > 0),
          same_after_timefix(mgus$age_entry, mgus$age_exit, mgus$death),
          same_after_timefix(mgus$age_entry, mgus$age_exit_cr, mgus$event > 0))
rows <- list()
add <- function(case, fit) {
  naive <- sqrt(diag(if (is.null(fit$naive.var)) fit$var else fit$naive.var))
  rows[[length(rows) + 1]] <<- data.frame(
    case = case, term = names(coef(fit)), coef = f17(coef(fit)), se = f17(sqrt(diag(fit$var))),
    naive_se = f17(naive), loglik = f17(fit$loglik[2]), loglik_null = f17(fit$loglik[1]),
    n = fit$n, nevent = fit$nevent)
}

cox_death_age <- coxph(Surv(age_entry, death_age_exit, death_status) ~ cac_category + sex,
                       data = cohort, ties = "efron")
add("cox_death_age", cox_death_age)
landmark <- transform(cohort, age_entry = age_entry + 2)
landmark <- landmark[landmark$death_age_exit > landmark$age_entry, ]
add("cox_death_age_landmark2",
    coxph(Surv(age_entry, death_age_exit, death_status) ~ cac_category + sex, data = landmark,
          ties = "efron"))
add("cox_mgus2_age", coxph(Surv(age_entry, age_exit, death) ~ sex + hgb, data = mgus, ties = "efron"))

cohort$mi_factor <- factor(cohort$mi_status, levels = 0:2, labels = c("censor", "1", "2"))
fg <- finegray(Surv(age_entry, mi_age_exit, mi_factor) ~ ., data = cohort, id = id, etype = "1")
fg_mi_age <- coxph(Surv(fgstart, fgstop, fgstatus) ~ log_cac + sex, data = fg,
                   weights = fgwt, cluster = id, ties = "breslow")
add("fg_mi_age", fg_mi_age)
zph <- function(case, fit) {
  table <- cox.zph(fit)$table
  data.frame(case = case, term = rownames(table), chisq = f17(table[, "chisq"]),
             df = table[, "df"], p = f17(table[, "p"]))
}
write.csv(rbind(zph("cox_death_age", cox_death_age), zph("fg_mi_age", fg_mi_age)),
          file.path(dir, "agescale_zph.csv"), row.names = FALSE)
mgus$event_factor <- factor(mgus$event, levels = 0:2, labels = c("censor", "pcm", "death"))
fg2 <- finegray(Surv(age_entry, age_exit_cr, event_factor) ~ ., data = mgus, id = id, etype = "pcm")
add("fg_mgus2_age", coxph(Surv(fgstart, fgstop, fgstatus) ~ sex + hgb, data = fg2,
                          weights = fgwt, cluster = id, ties = "breslow"))
headline <- read.csv(file.path(dir, "agescale_headline.csv"), stringsAsFactors = FALSE)
headline$cac_category <- factor(headline$cac_category,
                                levels = c("0", "1-100", "101-400", ">400"))
stopifnot(same_after_timefix(headline$age_entry, headline$death_age_exit, headline$death_status))
add("headline_death_age_model2",
    coxph(Surv(age_entry, death_age_exit, death_status) ~ cac_category + sex + race_ethnicity
          + diabetes + smoking + sbp + bp_treated + total_cholesterol + hdl_cholesterol + statin,
          data = headline, ties = "efron"))
write.csv(do.call(rbind, rows), file.path(dir, "agescale_coefficients.csv"), row.names = FALSE,
          quote = TRUE)

km <- survfit(Surv(age_entry, death_age_exit, death_status) ~ sex, data = cohort)
strata <- rep(sub("sex=", "", names(km$strata)), km$strata)
write.csv(data.frame(sex = strata, time = f17(km$time), n_risk = km$n.risk,
                     n_event = km$n.event, n_censor = km$n.censor, surv = f17(km$surv),
                     std_err = f17(km$std.err), lower = f17(km$lower), upper = f17(km$upper)),
          file.path(dir, "agescale_km.csv"), row.names = FALSE)

aj <- survfit(Surv(age_entry, mi_age_exit, mi_factor) ~ 1, data = cohort, id = id)
k <- which(aj$states == "1")
write.csv(data.frame(time = f17(aj$time), n_risk = aj$n.risk[, 1], cif = f17(aj$pstate[, k]),
                     std_err = f17(aj$std.err[, k]), lower = f17(aj$lower[, k]),
                     upper = f17(aj$upper[, k])),
          file.path(dir, "agescale_aj.csv"), row.names = FALSE)
