# Reference numbers for cohortcalc's Cox engine (tests/survival/test_cox.py,
# tests/survival/test_proportionality.py).
#
# Run from the repository root:  Rscript tests/reference/make_cox_reference.R
# Made with R survival 3.5.3 (Debian r-cran-survival). Writes, next to this script:
#   cox_lung.csv, cox_heart.csv, cox_mgus2.csv, cox_flchain.csv  (the data each fit used)
#   cox_reference.json  (coefficients, SEs, log-likelihoods, iterations, cox.zph tables;
#                        every number printed with 17 significant digits)
# Term names are given in cohortcalc's spelling next to each R call.
suppressPackageStartupMessages(library(survival))
out_dir <- "tests/reference"

# ---- data: exported exactly as used, NA written as empty fields ----------------------
lung_data <- data.frame(
  time = lung$time, event = lung$status - 1, age = lung$age, sex = lung$sex,
  ph_ecog = lung$ph.ecog, wt_loss = lung$wt.loss, inst = lung$inst,
  w_int = 1 + (seq_len(nrow(lung)) %% 3),
  w_frac = 0.5 + (seq_len(nrow(lung)) %% 7) / 4
)
heart_data <- heart[, c("start", "stop", "event", "age", "year", "surgery", "transplant", "id")]
heart_data$transplant <- as.integer(as.character(heart_data$transplant))
# age time scale in whole months (integers), so no two exit ages differ by rounding only
mgus_data <- data.frame(
  entry_months = mgus2$age * 12, exit_months = mgus2$age * 12 + mgus2$futime,
  death = mgus2$death, sex = as.character(mgus2$sex), hgb = mgus2$hgb, creat = mgus2$creat,
  id = mgus2$id
)
fl <- flchain[flchain$futime > 0, ]
flchain_data <- data.frame(
  futime = fl$futime, death = fl$death, age = fl$age, sex = as.character(fl$sex),
  flc_grp = fl$flc.grp, mgus = fl$mgus, creatinine = fl$creatinine
)
write_data <- function(d, name) {
  write.csv(d, file.path(out_dir, name), row.names = FALSE, na = "")
}
write_data(lung_data, "cox_lung.csv")
write_data(heart_data, "cox_heart.csv")
write_data(mgus_data, "cox_mgus2.csv")
write_data(flchain_data, "cox_flchain.csv")

# ---- JSON by hand (jsonlite is not installed) -----------------------------------------
num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
named <- function(names, x) {
  paste0("{", paste0("\"", names, "\": ", num(x), collapse = ", "), "}")
}
fit_json <- function(fit, terms, data_file, call) {
  se <- sqrt(diag(fit$var))
  naive <- if (is.null(fit$naive.var)) se else sqrt(diag(fit$naive.var))
  paste0(
    "{\"call\": \"", call, "\", \"data\": \"", data_file, "\", ",
    "\"coef\": ", named(terms, coef(fit)), ", ",
    "\"se\": ", named(terms, se), ", ",
    "\"naive_se\": ", named(terms, naive), ", ",
    "\"vcov\": [", paste0("[", apply(fit$var, 1, function(r) paste(num(r), collapse = ", ")),
                          "]", collapse = ", "), "], ",
    "\"loglik\": ", num(fit$loglik[2]), ", \"loglik_null\": ", num(fit$loglik[1]), ", ",
    "\"score_test\": ", num(fit$score), ", ",
    "\"iterations\": ", fit$iter, ", \"n\": ", fit$n, ", \"n_events\": ", fit$nevent, ", ",
    "\"n_dropped\": ", length(fit$na.action), ", \"robust\": ",
    ifelse(is.null(fit$naive.var), "false", "true"), "}"
  )
}
zph_json <- function(fit, terms, call) {
  tab <- cox.zph(fit)$table
  rows <- c(terms, "GLOBAL")
  paste0(
    "{\"call\": \"", call, "\", ",
    "\"chisq\": ", named(rows, tab[, "chisq"]), ", ",
    "\"df\": ", named(rows, tab[, "df"]), ", ",
    "\"p\": ", named(rows, tab[, "p"]), "}"
  )
}

fits <- list()
zphs <- list()
lung3 <- c("age", "sex", "ph_ecog")

f <- coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung_data, ties = "efron")
fits$lung_efron <- fit_json(f, lung3, "cox_lung.csv",
                            "coxph(Surv(time, event) ~ age + sex + ph_ecog, ties='efron')")
zphs$lung_efron <- zph_json(f, lung3, "cox.zph(lung_efron)")

f <- coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung_data, ties = "breslow")
fits$lung_breslow <- fit_json(f, lung3, "cox_lung.csv",
                              "coxph(Surv(time, event) ~ age + sex + ph_ecog, ties='breslow')")
zphs$lung_breslow <- zph_json(f, lung3, "cox.zph(lung_breslow)")

f <- coxph(Surv(time, event) ~ age + sex + ph_ecog + strata(inst), data = lung_data)
fits$lung_strata <- fit_json(f, lung3, "cox_lung.csv",
                             "coxph(Surv(time, event) ~ age + sex + ph_ecog + strata(inst))")
zphs$lung_strata <- zph_json(f, lung3, "cox.zph(lung_strata)")

f <- coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung_data, weights = w_int)
fits$lung_weights_int <- fit_json(f, lung3, "cox_lung.csv",
                                  "coxph(Surv(time, event) ~ age + sex + ph_ecog, weights=w_int)")

# non-integer weights: R switches to the robust (per-row) variance by default
f <- coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung_data, weights = w_frac)
fits$lung_weights_frac <- fit_json(f, lung3, "cox_lung.csv",
                                   "coxph(Surv(time, event) ~ age + sex + ph_ecog, weights=w_frac)")

f <- coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung_data, cluster = inst)
fits$lung_cluster <- fit_json(f, lung3, "cox_lung.csv",
                              "coxph(Surv(time, event) ~ age + sex + ph_ecog, cluster=inst)")

f <- coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung_data, cluster = inst,
           ties = "breslow", weights = w_int)
fits$lung_cluster_breslow <- fit_json(
  f, lung3, "cox_lung.csv",
  "coxph(Surv(time, event) ~ age + sex + ph_ecog, cluster=inst, ties='breslow', weights=w_int)")

heart4 <- c("age", "year", "surgery", "transplant")
f <- coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, data = heart_data,
           cluster = id)
fits$heart_counting <- fit_json(
  f, heart4, "cox_heart.csv",
  "coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, cluster=id)")
zphs$heart_counting <- zph_json(f, heart4, "cox.zph(heart_counting)")

f <- coxph(Surv(start, stop, event) ~ age + year + transplant + strata(surgery),
           data = heart_data, cluster = id, ties = "breslow")
fits$heart_strata_breslow <- fit_json(
  f, c("age", "year", "transplant"), "cox_heart.csv",
  "coxph(Surv(start, stop, event) ~ age + year + transplant + strata(surgery), cluster=id, ties='breslow')")

f <- coxph(Surv(entry_months, exit_months, death) ~ sex + hgb + creat, data = mgus_data)
fits$mgus2_age_scale <- fit_json(
  f, c("sex[M]", "hgb", "creat"), "cox_mgus2.csv",
  "coxph(Surv(entry_months, exit_months, death) ~ sex + hgb + creat)")
zphs$mgus2_age_scale <- zph_json(f, c("sex", "hgb", "creat"), "cox.zph(mgus2_age_scale)")

f <- coxph(Surv(futime, death) ~ age * sex + factor(flc_grp) + mgus, data = flchain_data)
fl_terms <- c("age", "sex[M]", paste0("flc_grp[", 2:10, "]"), "mgus", "age:sex[M]")
fits$flchain_interaction <- fit_json(
  f, fl_terms, "cox_flchain.csv",
  "coxph(Surv(futime, death) ~ age * sex + factor(flc_grp) + mgus)")
zphs$flchain_interaction <- zph_json(f, c("age", "sex", "flc_grp", "mgus", "age:sex"),
                                     "cox.zph(flchain_interaction)")

f <- coxph(Surv(futime, death) ~ age + sex + creatinine + relevel(factor(flc_grp), ref = "10"),
           data = flchain_data, ties = "breslow")
fits$flchain_reference <- fit_json(
  f, c("age", "sex[M]", "creatinine", paste0("flc_grp[", 1:9, "]")), "cox_flchain.csv",
  "coxph(Surv(futime, death) ~ age + sex + creatinine + relevel(factor(flc_grp), ref='10'), ties='breslow')")

json <- paste0(
  "{\n\"survival_version\": \"", as.character(packageVersion("survival")), "\",\n",
  "\"fits\": {\n", paste0("\"", names(fits), "\": ", unlist(fits), collapse = ",\n"), "\n},\n",
  "\"zph\": {\n", paste0("\"", names(zphs), "\": ", unlist(zphs), collapse = ",\n"), "\n}\n}\n"
)
writeLines(json, file.path(out_dir, "cox_reference.json"))
