# Reference numbers for cc.score (tests/performance/test_score.py).
#
# Run from the repository root:  Rscript tests/reference/make_score_reference.R
# Made with R riskRegression 2022.11.28 Score(): AUC and Brier at given times with
# se.fit = TRUE, conservative = FALSE and a marginal (Kaplan-Meier) censoring model
# (formula Hist(time, status) ~ 1), null.model = FALSE, contrasts of the second model
# against the first. The predicted risks are written with the results, so the test scores
# exactly the same numbers. Reads cox_lung.csv and finegray_mgus2.csv; writes
# score_reference.json (17 significant digits).
suppressPackageStartupMessages({library(survival); library(riskRegression); library(prodlim)})
out_dir <- "tests/reference"
num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
mat <- function(m) paste0("[", paste(apply(m, 1, vec), collapse = ", "), "]")

cox_risk <- function(fit, data, times) {
  base <- basehaz(fit, centered = FALSE)
  h <- sapply(times, function(t) { k <- findInterval(t, base$time); if (k == 0) 0 else base$hazard[k] })
  lp <- predict(fit, newdata = data, type = "lp", reference = "zero")
  1 - exp(-outer(exp(lp), h))
}

run <- function(name, data, risks, times, cause, time_col, event_col) {
  d <- data.frame(time = data[[time_col]], status = data[[event_col]])
  sc <- Score(risks, formula = Hist(time, status) ~ 1, data = d, times = times,
              metrics = c("auc", "brier"), null.model = FALSE, se.fit = TRUE,
              conservative = FALSE, cause = cause, contrasts = TRUE)
  auc <- sc$AUC$score; brier <- sc$Brier$score
  ca <- sc$AUC$contrasts; cb <- sc$Brier$contrasts
  paste0(
    "{\"name\": \"", name, "\", \"time\": \"", time_col, "\", \"event\": \"", event_col,
    "\", \"cause\": ", cause, ", \"times\": ", vec(times), ", \"rows\": ", nrow(d),
    ", \"risks\": {", paste0("\"", names(risks), "\": ", sapply(risks, mat), collapse = ", "), "}",
    ", \"auc\": {\"model\": [", paste0("\"", auc$model, "\"", collapse = ", "), "], \"times\": ",
    vec(auc$times), ", \"AUC\": ", vec(auc$AUC), ", \"se\": ", vec(auc$se), "}",
    ", \"brier\": {\"model\": [", paste0("\"", brier$model, "\"", collapse = ", "), "], \"times\": ",
    vec(brier$times), ", \"Brier\": ", vec(brier$Brier), ", \"se\": ", vec(brier$se), "}",
    ", \"auc_contrast\": {\"times\": ", vec(ca$times), ", \"delta\": ", vec(ca$delta.AUC),
    ", \"se\": ", vec(ca$se), "}",
    ", \"brier_contrast\": {\"times\": ", vec(cb$times), ", \"delta\": ", vec(cb$delta.Brier),
    ", \"se\": ", vec(cb$se), "}}"
  )
}

lung <- read.csv(file.path(out_dir, "cox_lung.csv"))
lung <- lung[!is.na(lung$ph_ecog), ]
lung_times <- c(180, 365, 500)
fit1 <- coxph(Surv(time, event) ~ age, data = lung)
fit2 <- coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung)
lung_risks <- list(age = cox_risk(fit1, lung, lung_times), full = cox_risk(fit2, lung, lung_times))

mgus <- read.csv(file.path(out_dir, "finegray_mgus2.csv"), stringsAsFactors = FALSE)
mgus_times <- c(60, 120, 240)
lp1 <- 0.04 * (mgus$age - 70) + 0.3 * (mgus$sex == "M")
lp2 <- lp1 - 0.15 * (mgus$hgb - 13) + 0.5 * mgus$mspike
cif <- function(lp) 1 - exp(-outer(exp(lp), c(0.03, 0.06, 0.11)))
mgus_risks <- list(base = cif(lp1), marker = cif(lp2))

cases <- c(
  run("lung", lung, lung_risks, lung_times, 1, "time", "event"),
  run("mgus2_competing", mgus, mgus_risks, mgus_times, 1, "time", "status")
)
writeLines(paste0("[\n", paste(cases, collapse = ",\n"), "\n]"),
           file.path(out_dir, "score_reference.json"))
