# Reference numbers for cc.standardized_risk (tests/effects/test_standardized.py).
#
# Run from the repository root:  Rscript tests/reference/make_ate_reference.R
# Made with R 4, survival 3.5.3, riskRegression 2022.11.28, cmprsk 2.2.11.
# Writes ate_lung.csv, ate_mgus2.csv (lung rows of cox_lung.csv with complete covariates, times made distinct
# by adding a permuted 0..0.5-day grid: riskRegression's influence function of beta-hat is
# R's dfbeta only without tied times) and ate_reference.json: for each case the g-formula
# standardised risk of riskRegression::ate (se, and the interval with meanRisk.transform
# "cloglog"), the risk differences (se, plain interval) and ratios (se, log interval) against
# the first level. The CSC case (ate_mgus2.csv: mgus2.csv with distinct times) gives the
# cumulative incidence from cause-specific Cox fits of both causes. The Fine-Gray case (mgus2.csv, tied times) has point estimates only (see
# below why it is computed with cmprsk directly).
suppressPackageStartupMessages({
  library(survival)
  library(riskRegression)
  library(prodlim)
  library(data.table)
})
out_dir <- "tests/reference"
num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
str_vec <- function(x) paste0("[", paste0("\"", x, "\"", collapse = ", "), "]")

lung <- read.csv(file.path(out_dir, "cox_lung.csv"))
lung <- na.omit(lung[, c("time", "event", "age", "sex", "ph_ecog")])
set.seed(2024)
lung$time <- lung$time + seq(0, 0.5, length.out = nrow(lung))[sample(nrow(lung))]
lung$sex <- ifelse(lung$sex == 1, "male", "female")
lung$ecog <- ifelse(lung$ph_ecog >= 2, "2+", as.character(lung$ph_ecog))
write.csv(lung, file.path(out_dir, "ate_lung.csv"), row.names = FALSE)
lung <- read.csv(file.path(out_dir, "ate_lung.csv"))  # the numbers the tests read
stopifnot(!anyDuplicated(lung$time))
lung$sex <- factor(lung$sex, levels = c("female", "male"))
lung$ecog <- factor(lung$ecog, levels = c("0", "1", "2+"))

case <- function(name, fit, data, treatment, times, args, se = TRUE, cause = NA) {
  a <- ate(fit, treatment = treatment, data = data, times = times, se = se, cause = cause,
           verbose = FALSE)
  mean_risk <- as.data.frame(a$meanRisk)
  diff_risk <- as.data.frame(a$diffRisk)
  ratio_risk <- as.data.frame(a$ratioRisk)
  first <- levels(data[[treatment]])[1]
  diff_risk <- diff_risk[diff_risk$A == first, ]
  ratio_risk <- ratio_risk[ratio_risk$A == first, ]
  body <- paste0(
    "{\"name\": \"", name, "\", \"args\": ", args, ", \"exposure\": \"", treatment, "\"",
    ", \"times\": ", vec(times),
    ", \"risk\": {\"level\": ", str_vec(mean_risk$treatment), ", \"time\": ", vec(mean_risk$time),
    ", \"risk\": ", vec(mean_risk$estimate),
    ", \"diff_level\": ", str_vec(diff_risk$B), ", \"diff_time\": ", vec(diff_risk$time),
    ", \"difference\": ", vec(diff_risk$estimate), ", \"ratio\": ", vec(ratio_risk$estimate)
  )
  if (se) {
    ci <- confint(a, meanRisk.transform = "cloglog", diffRisk.transform = "none",
                  ratioRisk.transform = "log")
    cm <- as.data.frame(ci$meanRisk)
    cd <- as.data.frame(ci$diffRisk); cd <- cd[cd$A == first, ]
    cr <- as.data.frame(ci$ratioRisk); cr <- cr[cr$A == first, ]
    body <- paste0(
      body, ", \"se\": ", vec(cm$se), ", \"lower\": ", vec(cm$lower), ", \"upper\": ", vec(cm$upper),
      ", \"difference_se\": ", vec(cd$se), ", \"difference_lower\": ", vec(cd$lower),
      ", \"difference_upper\": ", vec(cd$upper),
      ", \"ratio_se\": ", vec(cr$se), ", \"ratio_lower\": ", vec(cr$lower),
      ", \"ratio_upper\": ", vec(cr$upper)
    )
  }
  paste0(body, "}}")
}

times <- c(90, 180, 365, 540)
cases <- c(
  case("lung_sex_breslow",
       coxph(Surv(time, event) ~ sex + age + ph_ecog, data = lung, ties = "breslow", x = TRUE, y = TRUE),
       lung, "sex", times,
       "{\"data\": \"ate_lung.csv\", \"covariates\": [\"sex\", \"age\", \"ph_ecog\"], \"ties\": \"breslow\"}"),
  case("lung_ecog_efron",
       coxph(Surv(time, event) ~ ecog + sex + age, data = lung, ties = "efron", x = TRUE, y = TRUE),
       lung, "ecog", times,
       "{\"data\": \"ate_lung.csv\", \"covariates\": [\"ecog\", \"sex\", \"age\"], \"ties\": \"efron\"}"),
  case("lung_ecog_strata_sex",
       coxph(Surv(time, event) ~ ecog + age + strata(sex), data = lung, x = TRUE, y = TRUE),
       lung, "ecog", times,
       "{\"data\": \"ate_lung.csv\", \"covariates\": [\"ecog\", \"age\"], \"ties\": \"efron\", \"strata\": \"sex\"}")
)

# Cause-specific Cox fits of both causes (CSC): the standardised cumulative incidence of cause 1
# (product limit of both hazards, as predict.CauseSpecificCox) with its SEs. mgus2 with its
# times made distinct as lung's above.
csc_data <- read.csv(file.path(out_dir, "mgus2.csv"))[, c("etime", "event", "sex", "age")]
set.seed(2025)
csc_data$etime <- csc_data$etime + seq(0, 0.5, length.out = nrow(csc_data))[sample(nrow(csc_data))]
write.csv(csc_data, file.path(out_dir, "ate_mgus2.csv"), row.names = FALSE)
csc_data <- read.csv(file.path(out_dir, "ate_mgus2.csv"))
stopifnot(!anyDuplicated(csc_data$etime))
csc_data$sex <- factor(csc_data$sex, levels = c("female", "male"))
cases <- c(cases, case("mgus2_csc_sex", CSC(Hist(etime, event) ~ sex + age, data = csc_data),
  csc_data, "sex", c(60, 120, 240),
  "{\"data\": \"ate_mgus2.csv\", \"covariates\": [\"sex\", \"age\"], \"time\": \"etime\", \"event\": \"event\", \"cause\": 1, \"competing\": 2, \"ties\": \"efron\"}",
  cause = 1))

# riskRegression 2022.11.28's ate() fails on an FGR fit ("object 'eventVar.status' not found"),
# so the Fine-Gray g-formula is computed here as ate does it: cmprsk::crr, predict.crr for every
# row with the exposure set to each level, averaged over the rows.
mgus2 <- read.csv(file.path(out_dir, "mgus2.csv"))
mgus2 <- mgus2[, c("etime", "event", "sex", "age")]
fg <- cmprsk::crr(mgus2$etime, mgus2$event, cov1 = cbind(sexmale = mgus2$sex == "male", age = mgus2$age),
                  failcode = 1, cencode = 0)
fg_times <- c(60, 120, 240)
fg_risk <- sapply(c(FALSE, TRUE), function(male) {
  pred <- predict(fg, cov1 = cbind(male, mgus2$age))
  idx <- findInterval(fg_times, pred[, 1])
  colMeans(t(pred[pmax(idx, 1), -1, drop = FALSE]) * (idx > 0))
})
cases <- c(cases, paste0(
  "{\"name\": \"mgus2_finegray_sex\", \"args\": {\"data\": \"mgus2.csv\", \"covariates\": [\"sex\", \"age\"], ",
  "\"time\": \"etime\", \"event\": \"event\", \"cause\": 1}, \"exposure\": \"sex\", \"times\": ", vec(fg_times),
  ", \"coef\": ", vec(fg$coef),
  ", \"risk\": {\"level\": ", str_vec(rep(c("female", "male"), each = length(fg_times))),
  ", \"time\": ", vec(rep(fg_times, 2)), ", \"risk\": ", vec(c(fg_risk)),
  ", \"diff_level\": ", str_vec(rep("male", length(fg_times))), ", \"diff_time\": ", vec(fg_times),
  ", \"difference\": ", vec(fg_risk[, 2] - fg_risk[, 1]), ", \"ratio\": ", vec(fg_risk[, 2] / fg_risk[, 1]), "}}"
))

writeLines(paste0("[\n", paste(cases, collapse = ",\n"), "\n]"), file.path(out_dir, "ate_reference.json"))
