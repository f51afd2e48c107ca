# Reference numbers for cc.predict on Fine-Gray fits (tests/performance/test_predict_finegray.py).
#
# Run from the repository root:  Rscript tests/reference/make_predict_finegray_reference.R
# Made with R cmprsk 2.2.11 predict.crr. Reads finegray_mgus2.csv and finegray_synth.csv
# (written by make_finegray_reference.R); writes predict_finegray_reference.json: the
# cumulative incidence of cause 1 at given times for given rows (0-based row numbers of the
# csv file), 17 significant digits. gtol = 1e-13 runs crr to full convergence, so the
# comparison tests the prediction formula, not where two optimisers stopped.
suppressPackageStartupMessages(library(cmprsk))
out_dir <- "tests/reference"
num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
mat <- function(m) paste0("[", paste(apply(m, 1, vec), collapse = ", "), "]")

case <- function(name, file, formula, covariates, rows, times) {
  d <- read.csv(file.path(out_dir, file), stringsAsFactors = FALSE)
  d <- d[complete.cases(d[, c("time", "status", all.vars(formula))]), ]
  x <- model.matrix(formula, d)[, -1, drop = FALSE]
  fit <- crr(d$time, d$status, cov1 = x, failcode = 1, cencode = 0, gtol = 1e-13)
  pred <- predict(fit, cov1 = x[rows + 1, , drop = FALSE])
  idx <- findInterval(times, pred[, 1])
  cif <- t(sapply(seq_along(rows), function(i) ifelse(idx == 0, 0, pred[pmax(idx, 1), i + 1])))
  paste0("{\"name\": \"", name, "\", \"data\": \"", file, "\", \"covariates\": ", covariates,
         ", \"rows\": [", paste(rows, collapse = ", "), "], \"times\": ", vec(times),
         ", \"coef\": ", vec(fit$coef), ", \"cif\": ", mat(cif), "}")
}
cases <- c(
  case("mgus2", "finegray_mgus2.csv", ~ age + sex + hgb, "[\"age\", \"sex\", \"hgb\"]",
       c(0, 1, 2, 10, 100, 500), c(12, 60, 120.5, 240)),
  case("synth", "finegray_synth.csv", ~ age + sex + diabetes + cac_category,
       "[\"age\", \"sex\", \"diabetes\", \"cac_category\"]", c(0, 1, 2, 3, 50, 99),
       c(365, 1825, 3650))
)
writeLines(paste0("[\n", paste(cases, collapse = ",\n"), "\n]"),
           file.path(out_dir, "predict_finegray_reference.json"))
