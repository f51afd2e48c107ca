# Reference for the baseline-hazard pieces a Cox fit keeps (survival/riskset.py baseline_terms):
# R survival 3.5 basehaz(centered = FALSE), i.e. the cumulative baseline hazard at x = 0 with
# the fit's ties, on the lung data of make_cox_reference.R (cox_lung.csv), Efron and Breslow,
# and stratified by sex (Breslow).
# Run from tests/reference: Rscript make_engine_baseline_reference.R
library(survival)
d <- read.csv("cox_lung.csv")
out <- list()
for (ties in c("efron", "breslow")) {
  f <- coxph(Surv(time, event) ~ age + ph_ecog, data = d, ties = ties)
  b <- basehaz(f, centered = FALSE)
  out[[ties]] <- data.frame(case = ties, strata = "", time = b$time, cumhaz = b$hazard)
}
f <- coxph(Surv(time, event) ~ age + ph_ecog + strata(sex), data = d, ties = "breslow")
b <- basehaz(f, centered = FALSE)
out$strata <- data.frame(case = "strata_breslow", strata = as.character(b$strata),
                         time = b$time, cumhaz = b$hazard)
write.csv(do.call(rbind, out), "engine_baseline_reference.csv", row.names = FALSE)
