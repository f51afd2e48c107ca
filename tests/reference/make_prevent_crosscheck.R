# Cross-check of cohortcalc.features.prevent on profiles that exercise every PREVENT term
# (statin x non-HDL, smoking, eGFR < 60, SBP < 110, age interactions, BMI >= 30).
# An independent implementation in base R of Khan SS et al., Circulation 2024;149:430-449,
# Supplemental Table S12A (10-year base model), written from the published term definitions;
# coefficients transcribed from the PHP PreventCalculatorAPI listing of Table S12A (the Python
# module's were transcribed from A. Linden's Stata prevent10i.ado; both agree digit for digit).
# Run from the repository root:  Rscript tests/reference/make_prevent_crosscheck.R
# Writes tests/reference/prevent_crosscheck.csv (risks as fractions; R writes 15 significant digits).

coef <- list(
  cvd_female = c(age = 0.7939329, non_hdl = 0.0305239, hdl = -0.1606857, sbp_min = -0.2394003,
    sbp_max = 0.3600781, dm = 0.8667604, smoke = 0.5360739, egfr_min = 0.6045917,
    egfr_max = 0.0433769, bp_meds = 0.3151672, statin = -0.1477655, tx_sbp = -0.0663612,
    tx_non_hdl = 0.1197879, age_non_hdl = -0.0819715, age_hdl = 0.0306769,
    age_sbp = -0.0946348, age_dm = -0.27057, age_smoke = -0.078715, age_egfr = -0.1637806,
    intercept = -3.307728),
  ascvd_female = c(age = 0.719883, non_hdl = 0.1176967, hdl = -0.151185, sbp_min = -0.0835358,
    sbp_max = 0.3592852, dm = 0.8348585, smoke = 0.4831078, egfr_min = 0.4864619,
    egfr_max = 0.0397779, bp_meds = 0.2265309, statin = -0.0592374, tx_sbp = -0.0395762,
    tx_non_hdl = 0.0844423, age_non_hdl = -0.0567839, age_hdl = 0.0325692,
    age_sbp = -0.1035985, age_dm = -0.2417542, age_smoke = -0.0791142, age_egfr = -0.1671492,
    intercept = -3.819975),
  hf_female = c(age = 0.8998235, sbp_min = -0.4559771, sbp_max = 0.3576505, dm = 1.038346,
    smoke = 0.583916, bmi_min = -0.0072294, bmi_max = 0.2997706, egfr_min = 0.7451638,
    egfr_max = 0.0557087, bp_meds = 0.3534442, tx_sbp = -0.0981511, age_sbp = -0.0946663,
    age_dm = -0.3581041, age_smoke = -0.1159453, age_bmi = -0.003878, age_egfr = -0.1884289,
    intercept = -4.310409),
  cvd_male = c(age = 0.7688528, non_hdl = 0.0736174, hdl = -0.0954431, sbp_min = -0.4347345,
    sbp_max = 0.3362658, dm = 0.7692857, smoke = 0.4386871, egfr_min = 0.5378979,
    egfr_max = 0.0164827, bp_meds = 0.288879, statin = -0.1337349, tx_sbp = -0.0475924,
    tx_non_hdl = 0.150273, age_non_hdl = -0.0517874, age_hdl = 0.0191169,
    age_sbp = -0.1049477, age_dm = -0.2251948, age_smoke = -0.0895067, age_egfr = -0.1543702,
    intercept = -3.031168),
  ascvd_male = c(age = 0.7099847, non_hdl = 0.1658663, hdl = -0.1144285, sbp_min = -0.2837212,
    sbp_max = 0.3239977, dm = 0.7189597, smoke = 0.3956973, egfr_min = 0.3690075,
    egfr_max = 0.0203619, bp_meds = 0.2036522, statin = -0.0865581, tx_sbp = -0.0322916,
    tx_non_hdl = 0.114563, age_non_hdl = -0.0300005, age_hdl = 0.0232747,
    age_sbp = -0.0927024, age_dm = -0.2018525, age_smoke = -0.0970527, age_egfr = -0.1217081,
    intercept = -3.500655),
  hf_male = c(age = 0.8972642, sbp_min = -0.6811466, sbp_max = 0.3634461, dm = 0.923776,
    smoke = 0.5023736, bmi_min = -0.0485841, bmi_max = 0.3726929, egfr_min = 0.6926917,
    egfr_max = 0.0251827, bp_meds = 0.2980922, tx_sbp = -0.0497731, age_sbp = -0.1289201,
    age_dm = -0.3040924, age_smoke = -0.1401688, age_bmi = 0.0068126, age_egfr = -0.1797778,
    intercept = -3.946391)
)

terms <- function(d) {
  age <- (d$age - 55) / 10
  non_hdl <- (d$total_cholesterol - d$hdl_cholesterol) * 0.02586 - 3.5
  hdl <- (d$hdl_cholesterol * 0.02586 - 1.3) / 0.3
  sbp_max <- (pmax(d$sbp, 110) - 130) / 20
  egfr_min <- (pmin(d$egfr, 60) - 60) / -15
  bmi_max <- (pmax(d$bmi, 30) - 30) / 5
  cbind(age = age, non_hdl = non_hdl, hdl = hdl, sbp_min = (pmin(d$sbp, 110) - 110) / 20,
    sbp_max = sbp_max, dm = d$diabetes, smoke = d$smoker, egfr_min = egfr_min,
    egfr_max = (pmax(d$egfr, 60) - 90) / -15, bp_meds = d$bp_treated, statin = d$statin,
    tx_sbp = d$bp_treated * sbp_max, tx_non_hdl = d$statin * non_hdl,
    age_non_hdl = age * non_hdl, age_hdl = age * hdl, age_sbp = age * sbp_max,
    age_dm = age * d$diabetes, age_smoke = age * d$smoker, age_egfr = age * egfr_min,
    bmi_min = (pmin(d$bmi, 30) - 25) / 5, bmi_max = bmi_max, age_bmi = age * bmi_max,
    intercept = 1)
}

risk <- function(d, outcome) {
  x <- terms(d)
  out <- numeric(nrow(d))
  for (sex in c("female", "male")) {
    b <- coef[[paste(outcome, sex, sep = "_")]]
    rows <- d$sex == sex
    out[rows] <- plogis(x[rows, names(b), drop = FALSE] %*% b)
  }
  out
}

grid <- expand.grid(sex = c("female", "male"), age = c(34, 58, 77), sbp = c(96, 110, 147),
  egfr = c(22, 60, 104), statin = 0:1, smoker = 0:1, bp_treated = 0:1,
  stringsAsFactors = FALSE)
n <- nrow(grid)
grid$diabetes <- rep(c(0, 1, 1, 0, 1), length.out = n)
grid$total_cholesterol <- rep(c(142, 188, 236, 301), length.out = n)
grid$hdl_cholesterol <- rep(c(31, 47, 58, 88, 66), length.out = n)
grid$bmi <- rep(c(21.4, 27, 30, 36.8), length.out = n)
grid$cvd <- risk(grid, "cvd")
grid$ascvd <- risk(grid, "ascvd")
grid$hf <- risk(grid, "hf")
write.csv(grid, "tests/reference/prevent_crosscheck.csv",
  row.names = FALSE, quote = FALSE)
