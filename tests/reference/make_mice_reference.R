# Reference numbers for cohortcalc.imputation.pool (tests/imputation/test_pooling.py).
# Run from the repository root:  Rscript tests/reference/make_mice_reference.R
# R 4, mice 3.15, mitml 0.4.4, survival 3.5.3, cmprsk 2.2.11.
# Writes mice_completed.csv (the m completed data sets, long format) and mice_reference.json.
suppressPackageStartupMessages({
  library(mice); library(survival); library(cmprsk); library(jsonlite)
})
set.seed(20261206)
n <- 400
x1 <- rnorm(n)
x2 <- rbinom(n, 1, 0.45)
grp <- factor(sample(c("a", "b", "c"), n, replace = TRUE, prob = c(0.5, 0.3, 0.2)))
lp1 <- 0.5 * x1 - 0.4 * x2 + c(a = 0, b = 0.3, c = 0.7)[as.character(grp)]
t1 <- rexp(n, 0.1 * exp(lp1))
t2 <- rexp(n, 0.05 * exp(-0.3 * x1))
cens <- runif(n, 0, 12)
time <- ceiling(pmin(t1, t2, cens) * 30)  # days, with ties
status <- ifelse(t1 <= pmin(t2, cens), 1L, ifelse(t2 <= cens, 2L, 0L))
cl <- (seq_len(n) - 1) %/% 2
full <- data.frame(id = seq_len(n), cl = cl, time = time, status = status, x1 = x1, x2 = x2,
                   grp = grp)
# missing at random: x1 more often missing after an event, grp for x2 == 1
obs <- full
obs$x1[runif(n) < plogis(-1.5 + 1.0 * (status == 1))] <- NA
obs$grp[runif(n) < plogis(-2 + 1.2 * x2)] <- NA
obs$ev1 <- as.integer(status == 1)
obs$H1 <- nelsonaalen(obs, time, ev1)
meth <- make.method(obs)
meth[c("id", "cl", "time", "status", "ev1", "H1")] <- ""
pred <- make.predictorMatrix(obs)
pred[, c("id", "cl", "time", "status")] <- 0
imp <- mice(obs, m = 5, method = meth, predictorMatrix = pred, seed = 7, printFlag = FALSE)
long <- complete(imp, "long")
long$grp <- as.character(long$grp)
write.csv(long[, c(".imp", "id", "cl", "time", "status", "x1", "x2", "grp")],
          "tests/reference/mice_completed.csv", row.names = FALSE)
m <- imp$m
data_sets <- lapply(seq_len(m), function(i) {
  d <- long[long$.imp == i, ]
  d$grp <- factor(d$grp, levels = c("a", "b", "c"))
  d
})

pooled_table <- function(pooled) {
  s <- summary(pooled, type = "all", conf.int = TRUE, conf.level = 0.95)
  list(term = as.character(s$term), estimate = s$estimate, ubar = s$ubar, b = s$b, t = s$t,
       dfcom = s$dfcom, df = s$df, riv = s$riv, lambda = s$lambda, fmi = s$fmi,
       std_error = s$std.error, statistic = s$statistic, p_value = s$p.value,
       lower = s[["2.5 %"]], upper = s[["97.5 %"]])
}
out <- list()

# 1. Cox, Efron ties: pool() takes dfcom = events - coefficients
cox1 <- lapply(data_sets, function(d) coxph(Surv(time, status == 1) ~ x1 + x2 + grp, data = d))
cox0 <- lapply(data_sets, function(d) coxph(Surv(time, status == 1) ~ x1 + x2, data = d))
out$cox <- pooled_table(pool(as.mira(cox1)))
out$cox$events <- cox1[[1]]$nevent

# 2. D1 (multivariate Wald, mitml::testModels via mice::D1) of grp, nested Cox models
d1 <- D1(as.mira(cox1), as.mira(cox0))
out$d1_grp <- as.list(setNames(as.numeric(d1$result), colnames(d1$result)))
out$d1_grp$dfcom <- d1$dfcom
d1_inf <- mitml::testModels(cox1, cox0, method = "D1")  # no complete-data df
out$d1_grp_no_dfcom <- as.list(setNames(as.numeric(d1_inf$test), colnames(d1_inf$test)))

# 3. D3 (Meng & Rubin 1992) for Cox: mice::D3 stops with "D3 does not support the Cox model",
#    so the same formula as mice::D3 (copied below), with each data set's partial
#    log-likelihood evaluated at the pooled coefficients (coxph init = qbar, iter.max = 0).
fixed_loglik <- function(fit, d, beta) {
  f <- coxph(formula(fit), data = d, init = beta, control = coxph.control(iter.max = 0))
  f$loglik[2]
}
d3_formula <- function(dev1.M, dev0.M, dev1.L, dev0.L, k, m) {
  dev.M <- mean(dev0.M - dev1.M)
  dev.L <- mean(dev0.L - dev1.L)
  rm <- ((m + 1) / (k * (m - 1))) * (dev.M - dev.L)
  Dm <- dev.L / (k * (1 + rm))
  v <- k * (m - 1)
  if (v > 4) w <- 4 + (v - 4) * ((1 + (1 - 2 / v) * (1 / rm))^2)
  else w <- v * (1 + 1 / k) * ((1 + 1 / rm)^2) / 2
  c(statistic = Dm, df1 = k, df2 = w, p = pf(Dm, k, w, lower.tail = FALSE), riv = rm)
}
qbar1 <- rowMeans(sapply(cox1, coef)); qbar0 <- rowMeans(sapply(cox0, coef))
dev1.M <- -2 * sapply(cox1, function(f) f$loglik[2])
dev0.M <- -2 * sapply(cox0, function(f) f$loglik[2])
dev1.L <- -2 * mapply(fixed_loglik, cox1, data_sets, MoreArgs = list(beta = qbar1))
dev0.L <- -2 * mapply(fixed_loglik, cox0, data_sets, MoreArgs = list(beta = qbar0))
out$d3_cox_grp <- as.list(d3_formula(dev1.M, dev0.M, dev1.L, dev0.L, k = 2, m = m))
out$d3_cox_grp$dev1_L <- dev1.L

# 4. the D3 formula itself against mice::D3 on logistic models (which mice supports)
glm1 <- with(imp, glm(I(status == 1) ~ x1 + x2 + grp, family = binomial))
glm0 <- with(imp, glm(I(status == 1) ~ x1 + x2, family = binomial))
d3g <- D3(glm1, glm0)
out$d3_glm <- c(as.list(setNames(as.numeric(d3g$result), c("statistic", "df1", "df2", "p", "riv"))),
                lapply(d3g$deviances, as.numeric))

# 5. Cox with a cluster-robust variance: pool() uses robust.se
coxr <- lapply(data_sets, function(d)
  coxph(Surv(time, status == 1) ~ x1 + x2 + grp, data = d, cluster = cl))
out$cox_robust <- pooled_table(pool(as.mira(coxr)))

# 6. Fine-Gray (cmprsk::crr, converged tightly: gtol 1e-13) pooled with pool.scalar,
#    dfcom = cause-1 events - coefficients
fg <- lapply(data_sets, function(d) {
  X <- model.matrix(~ x1 + x2 + grp, d)[, -1]
  crr(d$time, d$status, X, failcode = 1, cencode = 0, gtol = 1e-13, maxiter = 100)
})
k <- length(fg[[1]]$coef); events <- sum(data_sets[[1]]$status == 1)
out$finegray <- lapply(seq_len(k), function(j) {
  s <- pool.scalar(sapply(fg, function(f) f$coef[j]), sapply(fg, function(f) f$var[j, j]),
                   n = events, k = k)
  list(qbar = s$qbar, ubar = s$ubar, b = s$b, t = s$t, df = s$df, r = s$r, fmi = s$fmi)
})

# 7. incidence rates of cause 1 by (imputed) grp, pooled as log rates, var = 1/events, dfcom Inf
out$rates <- lapply(c("a", "b", "c"), function(g) {
  Q <- sapply(data_sets, function(d) log(sum(d$status[d$grp == g] == 1) /
                                          (sum(d$time[d$grp == g]) / 365.25)))
  U <- sapply(data_sets, function(d) 1 / sum(d$status[d$grp == g] == 1))
  s <- pool.scalar(Q, U)
  list(grp = g, qbar = s$qbar, t = s$t, df = s$df, fmi = s$fmi)
})
# 8. D1 where k (m - 1) = 4: Reiter's df divides by zero (c0 = Inf) and mitml returns 4
set.seed(1)
Q <- rnorm(5, 0.5, 0.1)
edge <- mitml:::.D1(matrix(Q, 1), array(0.01, c(1, 1, 5)), df.com = 100)
out$d1_edge <- list(q = Q, u = 0.01, dfcom = 100, F = edge$F[1], df2 = edge$v, riv = edge$r)
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
      "tests/reference/mice_reference.json")
