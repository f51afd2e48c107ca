"""The methods text of a run, written from the spec and what the run found (N, SDs, tests).

Paragraphs in Markdown; the report renders them. Every default that can change a number
(ties method, CI type, reference level, competing-risk method, missing-data rule) is stated.
"""

from __future__ import annotations

from collections.abc import Mapping

from cohortcalc.analysis.exposure_response_spec import exposure_response_methods
from cohortcalc.analysis.imputation_spec import missing_data_methods
from cohortcalc.analysis.manifest import package_versions
from cohortcalc.analysis.prediction_spec import prediction_methods
from cohortcalc.analysis.spec import Outcome, Spec
from cohortcalc.reporting.format import short_label


def methods_paragraphs(
    spec: Spec, n_analysed: int, per_sd_units: Mapping[str, float], inputs: Mapping[str, object]
) -> list[str]:
    """The methods section as a list of Markdown paragraphs."""
    return [
        _data(spec, inputs),
        _population(spec, n_analysed),
        _exposures(spec, per_sd_units),
        _outcomes(spec),
        _models(spec),
        *([_modifiers(spec)] if spec.effect_modifiers else []),
        *([_sensitivity(spec)] if spec.sensitivity else []),
        *exposure_response_methods(spec),
        *prediction_methods(spec),
        *missing_data_methods(spec, inputs),
        _reporting(spec),
    ]


def _data(spec: Spec, inputs: Mapping[str, object]) -> str:
    data = spec.data
    if data.synthetic is not None:
        source = (
            f"the embedded synthetic cohort (cohortcalc.synth; n = {data.synthetic.n:,}, "
            f"seed {data.synthetic.seed}), a MESA/CRIC-style cohort with known true hazard ratios"
        )
    elif data.store is not None:
        source = f"the cohort store `{data.store}`"
    else:
        assert data.raw is not None
        rows = inputs.get("rows", {})
        quarantined = ", ".join(
            f"{counts['quarantined']:,} of {counts['read']:,} {table} rows"
            for table, counts in sorted(rows.items())  # type: ignore[union-attr]
        )
        source = (
            f"the raw study files in `{inputs.get('sources', data.raw.sources)}`, ingested "
            f"with the mapping `{data.raw.mapping}` (units converted, codes mapped; rows "
            f"failing validation quarantined: {quarantined or 'none'})"
        )
    options = ", ".join(f"{k} = {v}" for k, v in sorted(spec.derive.items()))
    derived = f" with options {options}" if options else " with the package defaults"
    return (
        f"**Data.** The analysis used {source}. Features ({features_sentence(spec.derive)}) "
        f"were derived by `cohortcalc.derive`{derived}. Input hashes are in `manifest.json` "
        f"(input kind: {inputs.get('kind')})." + _engine(spec)
    )


_CKD_TEXT = {
    "egfr_or_uacr": "CKD as eGFR < 60 mL/min/1.73 m² or UACR ≥ 30 mg/g",
    "egfr": "CKD as eGFR < 60 mL/min/1.73 m² (albuminuria not used)",
    "egfr_cr_cys_or_uacr": (
        "CKD as eGFR by the CKD-EPI 2021 creatinine–cystatin C equation < 60 mL/min/1.73 m² "
        "or UACR ≥ 30 mg/g"
    ),
}
_CAC_TEXT = {"standard": "0, 1–100, 101–400, >400", "mesa": "0, 1–100, 101–300, >300"}


def features_sentence(options: Mapping[str, object]) -> str:
    """What ``derive`` computed with the spec's ``derive`` options, in words (the CAC cut
    points and the CKD definition as run, not the defaults)."""
    cuts = options.get("cac_categories", "standard")
    if isinstance(cuts, str):
        categories = _CAC_TEXT.get(cuts, cuts)
    else:
        bounds = [int(c) if float(c).is_integer() else c for c in cuts]  # type: ignore[union-attr]
        edges = [f"{lo + 1}–{hi}" for lo, hi in zip([0, *bounds[:-1]], bounds, strict=True)]
        categories = ", ".join(["0", *edges, f">{bounds[-1]}"])
    ckd = _CKD_TEXT[str(options.get("ckd_definition", "egfr_or_uacr"))]
    return (
        f"Agatston score from lesion-level CT data, CAC categories {categories} Agatston "
        "units, eGFR by the race-free CKD-EPI 2021 creatinine equation, "
        f"{ckd}, and time-to-event outcomes"
    )


def _engine(spec: Spec) -> str:
    if spec.engine == "local":
        return ""
    return (
        " Data preparation and model fitting ran on Apache Spark (cohortcalc's Spark engine, "
        "which computes the same estimates from Spark aggregations; version and master in "
        "`manifest.json`)."
    )


def _population(spec: Spec, n_analysed: int) -> str:
    if spec.population:
        criteria = "; ".join(rule.describe() for rule in spec.population)
        return (
            f"**Population.** Participants were included if: {criteria}. "
            f"{n_analysed:,} participants were analysed (see the flow table)."
        )
    return f"**Population.** All {n_analysed:,} participants were analysed."


def _exposures(spec: Spec, per_sd_units: Mapping[str, float]) -> str:
    parts = []
    for exposure in spec.exposures:
        label = exposure.label or exposure.column
        if exposure.kind == "categorical":
            parts.append(f"{label} (`{exposure.column}`; reference level {exposure.reference!r})")
        elif exposure.per_sd:
            sd = per_sd_units.get(exposure.column, float("nan"))
            parts.append(
                f"{label} (`{exposure.column}`, per standard deviation; SD = {sd:.3f} in the "
                "main analysis population, used for every analysis)"
            )
        else:
            parts.append(f"{label} (`{exposure.column}`, per unit)")
    return "**Exposures.** " + "; ".join(parts) + "."


def _outcomes(spec: Spec) -> str:
    parts = []
    for outcome in spec.outcomes:
        text = f"{outcome.label or outcome.name} ({_time_scale(outcome)}; " + (
            f"event `{outcome.status}` = {outcome.event_code}"
        )
        if outcome.competing_code is not None:
            text += f"; competing event `{outcome.status}` = {outcome.competing_code}"
        parts.append(text + ")")
    text = "**Outcomes.** " + "; ".join(parts) + "."
    if any(o.entry is not None for o in spec.outcomes):
        text += (
            " On the age (or calendar) time scale each participant was at risk from the age "
            "(date) at entry to the age (date) at that outcome's own event or censoring "
            "(delayed entry, left truncation): risk sets, curves and numbers at risk compare "
            "participants at the same age, and person-years run from entry to exit."
        )
    return text


def _time_scale(outcome: Outcome) -> str:
    if outcome.time_scale == "age":
        return f"age as the time scale: entry `{outcome.entry}`, exit `{outcome.time}`, years"
    if outcome.time_scale == "calendar":
        return (
            f"calendar time as the time scale: entry `{outcome.entry}`, exit `{outcome.time}`, "
            "decimal years"
        )
    entry = f", delayed entry at `{outcome.entry}`" if outcome.entry is not None else ""
    return f"follow-up time `{outcome.time}` in {outcome.time_unit}{entry}"


def _adjustment(sets: Mapping[str, list[str]]) -> str:
    return "; ".join(
        f"{name}: {', '.join(short_label(c) for c in cov) or 'none'}" for name, cov in sets.items()
    )


def _models(spec: Spec) -> str:
    adjustment = _adjustment(spec.models.covariate_sets())
    own = [
        f"for {o.label or o.name}, {_adjustment(spec.models.covariate_sets(o))}"
        for o in spec.outcomes
        if o.adjustment is not None
    ]
    if own:
        adjustment += " (outcome-specific sets: " + "; ".join(own) + ")"
    delayed_fine_gray = any(o.entry is not None and "finegray" in o.methods for o in spec.outcomes)
    methods = {m for outcome in spec.outcomes for m in outcome.methods}
    text = (
        "**Models.** Hazard ratios (HR) were estimated by Cox proportional hazards regression "
        f"({spec.models.ties.capitalize()} method for tied times); for outcomes with a "
        "competing event this is the cause-specific hazard (competing events censored)."
    )
    if "finegray" in methods:
        text += (
            " Subdistribution hazard ratios (sHR) were estimated by Fine–Gray regression "
            "(Fine & Gray, JASA 1999) with inverse-probability-of-censoring weights from the "
            "Kaplan–Meier censoring distribution and the sandwich variance of cmprsk::crr."
        )
    if delayed_fine_gray:
        text += (
            " With delayed entry, the weights of participants after a competing event were "
            "the product of the censoring and the entry (truncation) distributions (Geskus, "
            "Biometrics 2011), as R survival::finegray(); these models were fitted as weighted "
            "Cox models on counting-process data with Breslow ties and a robust variance "
            "clustered on participant, which treats the weights as known."
        )
    if spec.missing_data is not None:  # the Missing data paragraph gives the pooled inference
        return text + (
            f" Sequential adjustment sets — {adjustment}. Missing covariates were multiply "
            "imputed and estimates pooled (see Missing data); in the complete-case sensitivity "
            "analysis 95% confidence intervals are Wald intervals on the log scale. The p for "
            "trend across ordered categories is the test of the category's ordinal score "
            "(0, 1, 2, …) entered in place of the categories in the same model."
        )
    return text + (
        f" Sequential adjustment sets — {adjustment}. 95% confidence intervals are Wald "
        "intervals on the log scale. Participants with a missing value in a model's "
        "variables were left out of that model (available-case analysis). The p for trend "
        "across ordered categories is the Wald p of the category's ordinal score (0, 1, 2, …) "
        "entered in place of the categories in the same model."
    )


def _modifiers(spec: Spec) -> str:
    parts = []
    for modifier in spec.effect_modifiers:
        test = (
            "a Wald test pooled over the imputed data sets (D1; see Missing data)"
            if spec.missing_data is not None
            else "a likelihood-ratio test (Cox) or a joint Wald test (Fine–Gray)"
            if modifier.test == "lrt"
            else "a joint Wald test"
        )
        parts.append(
            f"{modifier.label or modifier.column}: models were fitted within each level, and "
            f"the exposure × {modifier.label or modifier.column} interaction was tested by "
            f"{test} of the product "
            "terms, in models that also contain the modifier's main effect"
        )
    return "**Effect modification.** " + "; ".join(parts) + "."


def _sensitivity(spec: Spec) -> str:
    parts = []
    for sensitivity in spec.sensitivity:
        steps = []
        if sensitivity.complete_cases:
            steps.append(
                "restricted to participants with complete data on every exposure, covariate "
                "and modifier"
            )
        if sensitivity.exclude_first_years is not None:
            years = f"{sensitivity.exclude_first_years:g}"
            steps.append(
                f"a landmark analysis excluding the first {years} year(s) after each "
                "participant's entry: participants with an event or censored before it were "
                "excluded, and follow-up was counted from it"
                + (
                    f" (on the age or calendar scale the entry moved {years} year(s) later; "
                    "exits were unchanged)"
                    if any(o.entry is not None for o in spec.outcomes)
                    else ""
                )
            )
        parts.append(f"{sensitivity.label or sensitivity.name} — " + "; ".join(steps))
    return "**Sensitivity analyses.** " + "; ".join(parts) + "."


def _reporting(spec: Spec) -> str:
    threshold = spec.small_cell_threshold
    suppression = (
        f'Counts from 1 to {threshold - 1} are suppressed (shown as "<{threshold}"), with '
        "complementary suppression of cells that would reveal them."
        if threshold > 1
        else "No small-cell suppression was applied."
    )
    sparse = spec.sparse_events_threshold
    checks = ""
    if "assumptions" in spec.outputs.tables:
        checks = (
            " Proportional hazards were assessed for every model of the main analysis by the "
            "score test on Schoenfeld residuals (Grambsch & Therneau 1994; for Fine–Gray "
            "models on the Schoenfeld-type residuals of the weighted risk sets), with models "
            "with p < 0.05 flagged; cumulative incidence curves were compared by Gray's test."
        )
    marked = (
        f" Hazard ratios from a level or reference level with fewer than {sparse} events are "
        "marked † as imprecise."
        if sparse > 0
        else ""
    )
    return (
        f"**Reporting.** {suppression} Incidence rates are per 1,000 person-years with exact "
        f"Poisson confidence intervals.{marked}{checks} Software: cohortcalc "
        f"{package_versions()['cohortcalc']}."
    )
