# Reference numbers for cc.predict on Cox fits (tests/performance/test_predict.py).
#
# Run from the repository root:  Rscript tests/reference/make_predict_reference.R
# Made with R survival 3.5.3. Reads cox_lung.csv and cox_heart.csv (written by
# make_cox_reference.R) and writes predict_reference.json: for each fit, the survival, the
# standard error of the cumulative hazard (survfit's std.err) and the interval of
# survfit(fit, newdata = one row, conf.type = ...) at given times, for given rows (0-based row
# numbers of the csv file). Every number has 17 significant digits.
suppressPackageStartupMessages(library(survival))
out_dir <- "tests/reference"
lung <- read.csv(file.path(out_dir, "cox_lung.csv"))
heart <- read.csv(file.path(out_dir, "cox_heart.csv"))
lung$sex_label <- ifelse(lung$sex == 1, "male", "female")
lung$ecog <- factor(lung$ph_ecog)

num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
mat <- function(m) paste0("[", paste(apply(m, 1, vec), collapse = ", "), "]")

at_times <- function(sf, times, field, start) {
  idx <- findInterval(times, sf$time)
  values <- sf[[field]]
  ifelse(idx == 0, start, values[pmax(idx, 1)])
}

case <- function(name, fit, data, data_file, rows, times, args, conf_type = "log") {
  surv <- se <- lower <- upper <- matrix(NA_real_, length(rows), length(times))
  for (i in seq_along(rows)) {
    sf <- survfit(fit, newdata = data[rows[i] + 1, , drop = FALSE], conf.type = conf_type)
    surv[i, ] <- at_times(sf, times, "surv", 1)
    se[i, ] <- at_times(sf, times, "std.err", 0)
    lower[i, ] <- at_times(sf, times, "lower", NA)
    upper[i, ] <- at_times(sf, times, "upper", NA)
  }
  paste0(
    "{\"name\": \"", name, "\", \"data\": \"", data_file, "\", \"args\": ", args, ", ",
    "\"conf_type\": \"", conf_type, "\", \"rows\": ", paste0("[", paste(rows, collapse = ", "), "]"),
    ", \"times\": ", vec(times), ", \"coef\": ", vec(coef(fit)),
    ", \"surv\": ", mat(surv), ", \"std_err\": ", mat(se),
    ", \"lower\": ", mat(lower), ", \"upper\": ", mat(upper), "}"
  )
}

lung_rows <- c(0, 1, 2, 5, 10, 20, 40, 60, 100, 150)
lung_times <- c(5, 100, 365, 500.5, 700)
cases <- c(
  case("lung_efron", coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung),
       lung, "cox_lung.csv", lung_rows, lung_times,
       "{\"time\": \"time\", \"event\": \"event\", \"covariates\": [\"age\", \"sex\", \"ph_ecog\"], \"ties\": \"efron\"}"),
  case("lung_breslow", coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung,
                             ties = "breslow"),
       lung, "cox_lung.csv", lung_rows, lung_times,
       "{\"time\": \"time\", \"event\": \"event\", \"covariates\": [\"age\", \"sex\", \"ph_ecog\"], \"ties\": \"breslow\"}"),
  case("lung_factor_loglog", coxph(Surv(time, event) ~ age * sex_label + ecog, data = lung),
       lung, "cox_lung.csv", lung_rows, lung_times,
       "{\"time\": \"time\", \"event\": \"event\", \"covariates\": [\"age\", \"sex_label\", \"age:sex_label\", \"C(ph_ecog)\"], \"ties\": \"efron\"}",
       conf_type = "log-log"),
  case("lung_strata", coxph(Surv(time, event) ~ age + ph_ecog + strata(sex), data = lung),
       lung, "cox_lung.csv", lung_rows, c(5, 100, 365, 700),
       "{\"time\": \"time\", \"event\": \"event\", \"covariates\": [\"age\", \"ph_ecog\"], \"strata\": \"sex\", \"ties\": \"efron\"}"),
  case("lung_two_strata", coxph(Surv(time, event) ~ age + ph_ecog + strata(sex_label, w_int),
                                data = lung),
       lung, "cox_lung.csv", lung_rows, c(5, 100, 365),
       "{\"time\": \"time\", \"event\": \"event\", \"covariates\": [\"age\", \"ph_ecog\"], \"strata\": [\"sex_label\", \"w_int\"], \"ties\": \"efron\"}"),
  case("lung_weights_cluster", coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung,
                                     weights = w_int, cluster = inst),
       lung, "cox_lung.csv", lung_rows, lung_times,
       "{\"time\": \"time\", \"event\": \"event\", \"covariates\": [\"age\", \"sex\", \"ph_ecog\"], \"weights\": \"w_int\", \"cluster\": \"inst\", \"ties\": \"efron\"}",
       conf_type = "plain"),
  case("heart_entry_strata", coxph(Surv(start, stop, event) ~ age + year + transplant +
                                     strata(surgery), data = heart),
       heart, "cox_heart.csv", c(0, 1, 2, 3, 10, 50, 100, 171), c(1, 30, 200, 900),
       "{\"time\": \"stop\", \"event\": \"event\", \"entry\": \"start\", \"covariates\": [\"age\", \"year\", \"transplant\"], \"strata\": \"surgery\", \"ties\": \"efron\"}"),
  case("heart_entry_breslow", coxph(Surv(start, stop, event) ~ age + year + transplant,
                                    data = heart, ties = "breslow"),
       heart, "cox_heart.csv", c(0, 1, 2, 3, 10, 50, 100, 171), c(1, 30, 200, 900),
       "{\"time\": \"stop\", \"event\": \"event\", \"entry\": \"start\", \"covariates\": [\"age\", \"year\", \"transplant\"], \"ties\": \"breslow\"}")
)
writeLines(paste0("[\n", paste(cases, collapse = ",\n"), "\n]"),
           file.path(out_dir, "predict_reference.json"))
