# Reference numbers for cohortcalc's restricted cubic splines (tests/effects/test_splines_reference.py).
#
# Run from the repository root:  Rscript tests/reference/make_rcs_reference.R
# Needs R packages survival (3.5-3), cmprsk (2.2-11), rms (6.5-0), Hmisc.  Writes the synthetic
# CAC cohort to tests/reference/rcs_cac.csv and every number to rcs_reference.json (17
# significant digits).
#
# References:
#   "knots"    attr(rms::rcs(x, nk), "parms") -- rms's default knot placement (Hmisc
#              rcspline.eval, fractied = 0.05) on real and synthetic vectors chosen to hit each
#              rule: plain quantiles, a tied minimum (CAC = 0), a tied maximum, fewer than 100
#              values (5th smallest/largest), too few distinct values (rms warns), for 3-7 knots.
#              Each case stores its input vector and whether rms warned.
#   "basis"    unclass(rms::rcs(x, nk or knots)) -- the basis columns.
#   "cox"      coxph(Surv(time, status) ~ rcs(x, nk) + ..., ties = ...) coef, var, loglik;
#              rms::cph on the same formula for anova.rms (Wald chi-square of the spline
#              "TOTAL" association and its "Nonlinear" part) and rms::contrast (log HR, SE and
#              95% CI at chosen values against a reference value); anova(coxph(linear),
#              coxph(spline)) for the likelihood-ratio test of non-linearity; cox.zph(fit)
#              (one test per model term, the spline's on k - 1 df, and GLOBAL).
#   "crr"      cmprsk::crr(ftime, fstatus, cov1 = cbind(rcs basis, other covariates),
#              gtol = 1e-13, maxiter = 100) coef and var, plus the Wald tests from coef/var.
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
  library(rms)
})
stopifnot(packageVersion("rms") == "6.5.0", packageVersion("cmprsk") == "2.2.11")

out_dir <- "tests/reference"
num <- function(x) {
  x <- as.numeric(x)
  paste0("[", paste(ifelse(is.na(x), "null", sprintf("%.17g", x)), collapse = ", "), "]")
}
str_vec <- function(x) paste0("[", paste0('"', x, '"', collapse = ", "), "]")
mat <- function(m) paste0("[", paste(apply(as.matrix(m), 1, num), collapse = ", "), "]")
obj <- function(...) {
  items <- list(...)
  paste0("{", paste0('"', names(items), '": ', unlist(items), collapse = ", "), "}")
}

lung <- read.csv(file.path(out_dir, "lung.csv"))
mgus <- read.csv(file.path(out_dir, "finegray_mgus2.csv"))

# a synthetic CAC cohort: ~45% CAC = 0, integer Agatston scores, a non-linear log hazard
set.seed(20)
n <- 600
age <- round(rnorm(n, 62, 9))
cac <- ifelse(runif(n) < 0.45, 0, round(rlnorm(n, 4, 1.6)))
log_cac <- log(cac + 1)
lp <- 0.04 * (age - 62) + 0.5 * log(1 + log_cac) + 0.08 * pmax(log_cac - 4, 0)^2
t_event <- rexp(n, 0.02 * exp(lp))
t_compete <- rexp(n, 0.03)
t_censor <- runif(n, 2, 15)
time <- pmin(t_event, t_compete, t_censor)
status <- ifelse(time == t_event, 1, ifelse(time == t_compete, 2, 0))
cac_cohort <- data.frame(time = round(time, 3), status = status, mi = as.integer(status == 1),
                         age = age, cac = cac, log_cac = log_cac)
write.csv(cac_cohort, file.path(out_dir, "rcs_cac.csv"), row.names = FALSE)
cac_cohort <- read.csv(file.path(out_dir, "rcs_cac.csv"))  # the values the tests read

set.seed(7)
vectors <- list(
  lung_age = lung$age,
  mgus2_hgb = mgus$hgb,
  mgus2_mspike = mgus$mspike,
  cac = cac_cohort$log_cac,
  cac_small = cac_cohort$log_cac[1:60],
  normal_small = round(rnorm(40), 2),
  tied_max = pmin(round(rnorm(300), 3), 1.2),
  tied_both = pmax(pmin(round(rnorm(300), 3), 1.2), -1),
  few_distinct = sample(1:6, 50, replace = TRUE)
)
knot_cases <- character(0)
for (name in names(vectors)) {
  for (nk in 3:7) {
    warned <- FALSE
    knots <- withCallingHandlers(
      attr(rcs(vectors[[name]], nk), "parms"),
      warning = function(w) { warned <<- TRUE; invokeRestart("muffleWarning") }
    )
    knot_cases <- c(knot_cases, obj(name = paste0('"', name, '"'), n_knots = nk,
                                    knots = num(knots), warned = tolower(warned)))
  }
}

basis_case <- function(name, x, spec) {
  b <- unclass(rcs(x, spec))
  obj(name = paste0('"', name, '"'), x = num(x), spec = num(spec),
      knots = num(attr(b, "parms")), basis = mat(b[, , drop = FALSE]))
}
basis_cases <- c(
  basis_case("lung_age_4", lung$age, 4),
  basis_case("lung_age_5", lung$age, 5),
  basis_case("cac_4", cac_cohort$log_cac, 4),
  basis_case("cac_given", cac_cohort$log_cac, c(0, 2, 4, 6, 8)),
  basis_case("normal_small_3", vectors$normal_small, 3)
)

wald <- function(b, v, idx) {
  b <- b[idx]
  v <- v[idx, idx, drop = FALSE]
  as.numeric(t(b) %*% solve(v, b))
}

cox_case <- function(name, formula, data, ties, exposure, at, ref) {
  fit <- coxph(formula, data = data, ties = ties, x = TRUE)  # x: cox.zph needs no refit
  linear <- update(formula, as.formula(paste(". ~ . -", attr(terms(formula), "term.labels")[1],
                                             "+", exposure)))
  lr <- anova(coxph(linear, data = data, ties = ties), fit)
  dd <<- datadist(data)
  options(datadist = "dd")
  cfit <- cph(formula, data = data, method = ties, x = TRUE, y = TRUE, eps = 1e-12, tol = 1e-14,
              iter.max = 50)
  cat(name, "cph - coxph max |coef diff|:", max(abs(coef(cfit) - coef(fit))), "\n")
  stopifnot(max(abs(coef(cfit) - coef(fit))) < 1e-6)
  an <- anova(cfit)
  row <- which(rownames(an) == exposure)
  a_list <- list(at); names(a_list) <- exposure
  b_list <- list(ref); names(b_list) <- exposure
  con <- contrast(cfit, a_list, b_list)
  obj(name = paste0('"', name, '"'), ties = paste0('"', ties, '"'),
      terms = str_vec(names(coef(fit))), coef = num(coef(fit)), var = mat(vcov(fit)),
      loglik = num(fit$loglik), exposure = paste0('"', exposure, '"'),
      wald_total = num(an[row, c("Chi-Square", "d.f.")]),
      wald_nonlinear = num(an[row + 1, c("Chi-Square", "d.f.")]),
      lr_nonlinear = num(c(lr$Chisq[2], lr$Df[2])),
      zph_chisq = num(cox.zph(fit)$table[, "chisq"]), zph_df = num(cox.zph(fit)$table[, "df"]),
      at = num(at), reference = num(ref),
      contrast_log_hr = num(con$Contrast), contrast_se = num(con$SE),
      contrast_lower = num(con$Lower), contrast_upper = num(con$Upper))
}
lung$male <- as.integer(lung$sex == "male")
cox_cases <- c(
  cox_case("lung_age_4_efron", Surv(time, status) ~ rcs(age, 4) + male, lung, "efron",
           "age", c(40, 50, 55, 65, 70, 80), 60),
  cox_case("lung_age_5_breslow", Surv(time, status) ~ rcs(age, 5) + male, lung, "breslow",
           "age", c(40, 50, 55, 65, 70, 80), 60),
  cox_case("cac_4_efron", Surv(time, mi) ~ rcs(log_cac, 4) + age, cac_cohort, "efron",
           "log_cac", log(c(1, 10, 100, 400, 1000, 3000) + 1), 0),
  cox_case("cac_given_efron", Surv(time, mi) ~ rcs(log_cac, c(0, 2, 4, 6, 8)) + age, cac_cohort,
           "efron", "log_cac", log(c(1, 10, 100, 400, 1000) + 1), 0)
)

crr_case <- function(name, x, spline_cols, extra, data, cause) {
  cov1 <- cbind(unclass(rcs(x, spline_cols))[, , drop = FALSE], as.matrix(data[, extra, drop = FALSE]))
  fit <- crr(data$time, data$status, cov1 = cov1, failcode = cause, cencode = 0,
             gtol = 1e-13, maxiter = 100)
  k <- ncol(cov1) - length(extra)
  obj(name = paste0('"', name, '"'), coef = num(fit$coef), var = mat(fit$var),
      loglik = num(fit$loglik), knots = num(attr(rcs(x, spline_cols), "parms")),
      wald_total = num(c(wald(fit$coef, fit$var, 1:k), k)),
      wald_nonlinear = num(c(wald(fit$coef, fit$var, 2:k), k - 1)))
}
mgus$male <- as.integer(mgus$sex == "M")
crr_cases <- c(
  crr_case("mgus2_hgb_4", mgus$hgb, 4, c("age", "male"), mgus, 1),
  crr_case("cac_4", cac_cohort$log_cac, 4, "age", cac_cohort, 1)
)

writeLines(paste0(
  "{\n",
  '"knots": [\n', paste(knot_cases, collapse = ",\n"), "],\n",
  '"vectors": {', paste0('"', names(vectors), '": ', sapply(vectors, num), collapse = ", "), "},\n",
  '"basis": [\n', paste(basis_cases, collapse = ",\n"), "],\n",
  '"cox": [\n', paste(cox_cases, collapse = ",\n"), "],\n",
  '"crr": [\n', paste(crr_cases, collapse = ",\n"), "]\n",
  "}"
), file.path(out_dir, "rcs_reference.json"))
