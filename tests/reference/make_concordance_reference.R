# Reference numbers for cc.concordance (tests/performance/test_concordance.py).
#
# Run from the repository root:  Rscript tests/reference/make_concordance_reference.R
# Made with R survival 3.5.3 concordance(). Reads cox_lung.csv and cox_heart.csv (written by
# make_cox_reference.R); writes concordance_reference.json: for each case the C of each
# model, the variance matrix and the counts (concordant, discordant, tied.x, tied.y,
# tied.xy), 17 significant digits. "models" name cc.cox fits (by their covariates) or score
# columns; score columns use reverse = TRUE (a higher score = a shorter time), as cohortcalc.
# (No (start, stop] case with timewt = "S": R 3.5.3 crashes on it, so cohortcalc refuses it.)
suppressPackageStartupMessages(library(survival))
out_dir <- "tests/reference"
lung <- read.csv(file.path(out_dir, "cox_lung.csv"))
heart <- read.csv(file.path(out_dir, "cox_heart.csv"))
lung$sex_label <- ifelse(lung$sex == 1, "male", "female")

num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
mat <- function(m) paste0("[", paste(apply(as.matrix(m), 1, vec), collapse = ", "), "]")

case <- function(name, cc, args) {
  count <- if (is.matrix(cc$count)) cc$count else matrix(cc$count, nrow = 1)
  if (is.matrix(cc$count) && !is.null(rownames(cc$count)) && length(cc$concordance) == 1)
    count <- matrix(colSums(cc$count), nrow = 1)
  paste0("{\"name\": \"", name, "\", \"args\": ", args,
         ", \"concordance\": ", vec(cc$concordance), ", \"var\": ", mat(cc$var),
         ", \"count\": ", mat(count), "}")
}

lung3 <- coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung)
lung1 <- coxph(Surv(time, event) ~ age, data = lung, subset = !is.na(ph_ecog))
lungw <- coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung, weights = w_int)
lung_inst <- lung[!is.na(lung$ph_ecog) & !is.na(lung$inst), ]
lungc <- coxph(Surv(time, event) ~ age + sex, data = lung_inst, cluster = inst)
heart3 <- coxph(Surv(start, stop, event) ~ age + year + transplant, data = heart)
cases <- c()
for (tw in c("n", "S", "S/G", "n/G2")) {
  for (ymax in list(NULL, 500)) {
    cc <- concordance(lung3, timewt = tw, ymax = ymax)
    name <- paste0("lung_cox_", gsub("/", "", tw), if (is.null(ymax)) "" else "_ymax500")
    cases <- c(cases, case(name, cc, paste0(
      "{\"data\": \"cox_lung.csv\", \"models\": [[\"age\", \"sex\", \"ph_ecog\"]], ",
      "\"timewt\": \"", tw, "\", \"tau\": ", if (is.null(ymax)) "null" else ymax, "}")))
  }
}
cases <- c(cases,
  case("lung_two_fits", concordance(lung1, lung3), paste0(
    "{\"data\": \"cox_lung.csv\", \"models\": [[\"age\"], [\"age\", \"sex\", \"ph_ecog\"]], ",
    "\"drop_missing\": [\"ph_ecog\"], \"timewt\": \"n\", \"tau\": null}")),
  case("lung_two_fits_uno", concordance(lung1, lung3, timewt = "n/G2", ymax = 600), paste0(
    "{\"data\": \"cox_lung.csv\", \"models\": [[\"age\"], [\"age\", \"sex\", \"ph_ecog\"]], ",
    "\"drop_missing\": [\"ph_ecog\"], \"timewt\": \"n/G2\", \"tau\": 600}")),
  case("lung_weights", concordance(lungw, timewt = "S"), paste0(
    "{\"data\": \"cox_lung.csv\", \"models\": [[\"age\", \"sex\", \"ph_ecog\"]], ",
    "\"weights\": \"w_int\", \"timewt\": \"S\", \"tau\": null}")),
  case("lung_cox_cluster", concordance(lungc), paste0(
    "{\"data\": \"cox_lung.csv\", \"models\": [[\"age\", \"sex\"]], \"fit_cluster\": \"inst\", ",
    "\"drop_missing\": [\"ph_ecog\", \"inst\"], \"timewt\": \"n\", \"tau\": null}")),
  case("lung_score_ties", concordance(Surv(time, event) ~ ph_ecog, data = lung, reverse = TRUE),
    "{\"data\": \"cox_lung.csv\", \"models\": [\"ph_ecog\"], \"timewt\": \"n\", \"tau\": null}"),
  case("lung_score_strata_SG", concordance(Surv(time, event) ~ age + strata(sex_label),
                                           data = lung, reverse = TRUE, timewt = "S/G"),
    "{\"data\": \"cox_lung.csv\", \"models\": [\"age\"], \"strata\": \"sex_label\", \"timewt\": \"S/G\", \"tau\": null}"),
  case("lung_score_cluster", concordance(Surv(time, event) ~ age + cluster(inst),
                                         data = lung, reverse = TRUE),
    "{\"data\": \"cox_lung.csv\", \"models\": [\"age\"], \"cluster\": \"inst\", \"drop_missing\": [\"inst\"], \"timewt\": \"n\", \"tau\": null}"),
  case("heart_entry", concordance(heart3), paste0(
    "{\"data\": \"cox_heart.csv\", \"models\": [[\"age\", \"year\", \"transplant\"]], ",
    "\"entry\": \"start\", \"timewt\": \"n\", \"tau\": null}"))
)
writeLines(paste0("[\n", paste(cases, collapse = ",\n"), "\n]"),
           file.path(out_dir, "concordance_reference.json"))
