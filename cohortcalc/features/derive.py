"""``derive()``: add every feature whose inputs are present, on any engine, in one lazy plan.

A derived column whose inputs are present is (re)computed even if the frame already has a
column of that name, so derive() is idempotent; a column whose inputs are absent is kept as
given (e.g. a ``cac_agatston`` column without ``lesions=`` feeds ``cac_category``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw

from cohortcalc.errors import FeatureError, FrameError
from cohortcalc.features import cac, kidney, mesa, mineral, outcomes, prevent, risk_scores
from cohortcalc.features._checks import raise_violations
from cohortcalc.features._engine import POSITION, ROW_INDEX, materialize, to_lazy
from cohortcalc.features.options import check_censor_date, check_options
from cohortcalc.features.tables import LESION_OUTPUTS, OUTCOME_INPUTS, with_side_columns


@dataclass(frozen=True)
class Predictors:
    """Intermediate values shared by features (a risk equation's predictors), by name.

    Engines other than Polars rebuild an expression at every use (on PySpark each node is a
    round trip to the JVM), so there derive() computes them once, as columns ``prefix`` +
    name (``prefix`` lengthened with "_" until no column of the frame starts with it) in a
    stage before their features, and drops them at the end; Polars gets them inline
    and finds the common subexpressions itself. Same operations either way, same values.
    """

    prefix: str
    build: Callable[[], dict[str, nw.Expr]]


PCE_PREDICTORS = Predictors("__cohortcalc_pce_", risk_scores.pce_predictors)
PREVENT_PREDICTORS = Predictors(
    "__cohortcalc_prevent_", lambda: prevent.prevent_predictors(bmi=False)
)


@dataclass(frozen=True)
class Feature:
    """One derived column: its name, the columns it needs, and its expression builder
    (for a categorical column, ``build(dtype)``: labels as strings for None, else of dtype;
    with ``predictors``, ``build(columns)``: None to build them inline, else their columns)."""

    name: str
    inputs: tuple[str, ...]
    build: Callable[..., nw.Expr]
    levels: tuple[str, ...] | None = None  # ordered categories, when the column is one
    predictors: Predictors | None = None


def participant_features(
    cac_cuts: tuple[float, ...], ckd_definition: str, hyperphosphatemia_above: float
) -> list[Feature]:
    """The row-wise features, in dependency order, for the chosen definitions."""
    c = nw.col
    ckd_inputs = {
        "egfr_or_uacr": (("egfr", "uacr"), lambda: kidney.ckd(c("egfr"), c("uacr"))),
        "egfr": (("egfr",), lambda: kidney.ckd(c("egfr"), None)),
        "egfr_cr_cys_or_uacr": (
            ("egfr_cr_cys", "uacr"),
            lambda: kidney.ckd(c("egfr_cr_cys"), c("uacr")),
        ),
    }[ckd_definition]
    return [
        Feature(
            "cac_category",
            ("cac_agatston",),
            lambda dtype: cac.cac_category(c("cac_agatston"), cac_cuts, dtype),
            tuple(cac.cac_category_labels(cac_cuts)),
        ),
        Feature("log_cac", ("cac_agatston",), lambda: cac.log_cac(c("cac_agatston"))),
        Feature(
            "egfr",
            ("serum_creatinine", "age", "sex"),
            lambda: kidney.egfr_ckd_epi_2021(c("serum_creatinine"), c("age"), c("sex")),
        ),
        Feature(
            "egfr_cr_cys",
            ("serum_creatinine", "cystatin_c", "age", "sex"),
            lambda: kidney.egfr_ckd_epi_2021_cr_cys(
                c("serum_creatinine"), c("cystatin_c"), c("age"), c("sex")
            ),
        ),
        Feature(
            "ckd_stage_g",
            ("egfr",),
            lambda dtype: kidney.ckd_stage_g(c("egfr"), dtype),
            ("G1", "G2", "G3a", "G3b", "G4", "G5"),
        ),
        Feature(
            "ckd_stage_a",
            ("uacr",),
            lambda dtype: kidney.ckd_stage_a(c("uacr"), dtype),
            ("A1", "A2", "A3"),
        ),
        Feature("ckd", *ckd_inputs),
        Feature(
            "corrected_calcium",
            ("serum_calcium", "albumin"),
            lambda: mineral.corrected_calcium(c("serum_calcium"), c("albumin")),
        ),
        Feature(
            "ca_x_p",
            ("serum_calcium", "serum_phosphate"),
            lambda: mineral.ca_x_p(c("serum_calcium"), c("serum_phosphate")),
        ),
        *_flags(hyperphosphatemia_above),
        Feature(
            "pce_risk", risk_scores.PCE_INPUTS, risk_scores.pce_risk, predictors=PCE_PREDICTORS
        ),
        Feature(
            "pce_risk_group",
            ("pce_risk",),
            lambda dtype: risk_scores.risk_group(c("pce_risk"), dtype),
            risk_scores.RISK_GROUPS,
        ),
        *(
            Feature(name, prevent.PREVENT_INPUTS, build, predictors=PREVENT_PREDICTORS)
            for name, build in [
                ("prevent_cvd_10y", prevent.prevent_cvd_10y),
                ("prevent_ascvd_10y", prevent.prevent_ascvd_10y),
            ]
        ),
        Feature("prevent_hf_10y", prevent.PREVENT_HF_INPUTS, prevent.prevent_hf_10y),
        Feature("mesa_chd_10y", mesa.MESA_INPUTS, mesa.mesa_chd_10y),
        Feature("mesa_chd_cac_10y", mesa.MESA_CAC_INPUTS, mesa.mesa_chd_cac_10y),
        Feature(
            "prevent_risk_group",
            ("prevent_ascvd_10y",),
            lambda dtype: risk_scores.risk_group(c("prevent_ascvd_10y"), dtype),
            risk_scores.RISK_GROUPS,
        ),
    ]


def _flags(hyperphosphatemia_above: float) -> list[Feature]:
    c, above = nw.col, mineral.above
    return [
        Feature(
            "hypercalcemia",
            ("corrected_calcium",),
            lambda: above(c("corrected_calcium"), mineral.HYPERCALCEMIA_ABOVE_MG_DL),
        ),
        Feature(
            "hyperphosphatemia",
            ("serum_phosphate",),
            lambda: above(c("serum_phosphate"), hyperphosphatemia_above),
        ),
        Feature(
            "high_ca_x_p", ("ca_x_p",), lambda: above(c("ca_x_p"), mineral.CA_X_P_ABOVE_MG2_DL2)
        ),
        Feature(
            "high_alkaline_phosphatase",
            ("alkaline_phosphatase",),
            lambda: above(c("alkaline_phosphatase"), mineral.ALKALINE_PHOSPHATASE_ABOVE_U_L),
        ),
        Feature(
            "vitamin_d_deficiency",
            ("vitamin_d_25oh",),
            lambda: mineral.vitamin_d_deficiency(c("vitamin_d_25oh")),
        ),
        Feature(
            "vitamin_d_insufficiency",
            ("vitamin_d_25oh",),
            lambda: mineral.vitamin_d_insufficiency(c("vitamin_d_25oh")),
        ),
        Feature("high_pth", ("pth",), lambda: above(c("pth"), mineral.PTH_ABOVE_PG_ML)),
    ]


# Physically impossible values: (column, comparison, bound) -> FeatureError, never NaN.
IMPOSSIBLE = (
    ("age", "<", 0.0), ("serum_creatinine", "<=", 0.0), ("cystatin_c", "<=", 0.0),
    ("uacr", "<", 0.0), ("serum_calcium", "<=", 0.0), ("serum_phosphate", "<=", 0.0),
    ("albumin", "<=", 0.0), ("pth", "<", 0.0), ("vitamin_d_25oh", "<", 0.0),
    ("alkaline_phosphatase", "<", 0.0), ("cac_agatston", "<", 0.0), ("sbp", "<=", 0.0),
    ("total_cholesterol", "<=", 0.0), ("hdl_cholesterol", "<=", 0.0), ("bmi", "<=", 0.0),
)  # fmt: skip
CODED_VALUES = {"sex": ("female", "male"), "smoking": ("never", "former", "current")}


def _value_checks(schema: nw.Schema) -> dict[str, nw.Expr]:
    checks: dict[str, nw.Expr] = {}
    for column, op, bound in IMPOSSIBLE:
        if column not in schema:
            continue
        value = nw.col(column)
        checks[f"{column} {op} {bound:g}"] = value < bound if op == "<" else value <= bound
        if schema[column].is_float():
            checks[f"{column} is NaN (use null for a missing value)"] = value.is_nan()
    for column, allowed in CODED_VALUES.items():
        if column in schema:
            value = nw.col(column)
            checks[f"{column} not one of {allowed}"] = ~value.is_null() & ~value.is_in(allowed)
    return checks


def _available(
    columns: set[str], features: list[Feature], lesions: bool, outcome_tables: bool
) -> set[str]:
    """Every column derive() will produce from ``columns`` (static; nothing is computed)."""
    available = set(columns)
    if lesions and "participant_id" in columns:
        available |= set(LESION_OUTPUTS)
    if outcome_tables and set(OUTCOME_INPUTS) <= columns:
        available |= set(outcomes.OUTCOME_COLUMNS)
        if "age" not in columns:
            available -= set(outcomes.AGE_COLUMNS)
    for feature in features:
        if set(feature.inputs) <= available:
            available.add(feature.name)
    return available


def _check_required(
    require: Sequence[str], columns: set[str], available: set[str], features: list[Feature]
) -> None:
    by_name = {f.name: f for f in features}
    known = set(by_name) | set(LESION_OUTPUTS) | set(outcomes.OUTCOME_COLUMNS)
    unknown = [name for name in require if name not in known and name not in columns]
    if unknown:
        raise FeatureError(f"require: unknown feature(s) {unknown}; known: {sorted(known)}.")

    def missing_inputs(name: str) -> list[str]:
        if name in available:
            return []
        if name in LESION_OUTPUTS:
            return ["lesions= table (participant_id, artery, area_mm2, peak_hu)"]
        if name in outcomes.OUTCOME_COLUMNS:
            needs = [c for c in OUTCOME_INPUTS if c not in columns]
            age = ["age"] if name in outcomes.AGE_COLUMNS and "age" not in columns else []
            return ["events= and followup= tables", *needs, *age]
        if name not in by_name:  # a raw input column
            return [name]
        return [m for i in by_name[name].inputs for m in missing_inputs(i)]

    problems = [f"{name} needs {missing_inputs(name)}" for name in require if name not in available]
    if problems:
        raise FeatureError(
            "required feature(s) cannot be derived: "
            + "; ".join(problems)
            + ". Add the missing column(s) or table(s), or drop them from require=."
        )


def derive(
    frame: Any,
    *,
    lesions: Any = None,
    events: Any = None,
    followup: Any = None,
    require: Sequence[str] = (),
    cac_categories: str | Sequence[float] = "standard",
    ckd_definition: str = "egfr_or_uacr",
    hyperphosphatemia_above: float = mineral.HYPERPHOSPHATEMIA_ABOVE_MG_DL,
    censor_date: dt.date | str | None = None,
    landmark_days: int | None = None,
    slice_thickness_mm: float = cac.DEFAULT_SLICE_THICKNESS_MM,
) -> Any:
    """Add every feature whose inputs are present; return the same kind of frame.

    ``frame``: one row per participant (pandas, Polars eager/lazy, PyArrow, DuckDB, PySpark,
    or a Parquet path, which gives a Polars LazyFrame); eager frames keep their row order.
    ``lesions`` (cac_lesions rows) -> Agatston total and per artery, area, volume, density;
    every participant counts as scanned (CAC 0 without lesions) unless a boolean
    ``cac_scanned`` column says otherwise. ``events`` + ``followup`` -> outcome columns (see
    ``cohortcalc.features.outcomes``); ``censor_date`` (date or ISO string) ends follow-up
    administratively; ``landmark_days`` keeps participants alive, MI-free and followed past
    the landmark and measures time (and age_entry) from it. ``require``: output columns that
    must be produced (else FeatureError naming the missing inputs). ``cac_categories``:
    "standard" (100/400), "mesa" (100/300) or cut points; ``ckd_definition``:
    "egfr_or_uacr" (default), "egfr" or "egfr_cr_cys_or_uacr". Impossible values (e.g.
    creatinine <= 0) and contradictory dates raise FeatureError naming the participants; a
    wrong-typed or impossible option (e.g. a ``censor_date`` before a baseline_date, a
    slice thickness <= 0) raises ``DeriveOptionError`` naming it.
    """
    options = check_options(
        require=require, cac_categories=cac_categories, ckd_definition=ckd_definition,
        hyperphosphatemia_above=hyperphosphatemia_above, censor_date=censor_date,
        landmark_days=landmark_days, slice_thickness_mm=slice_thickness_mm, events=events,
        followup=followup,
    )  # fmt: skip
    lazy, restore = to_lazy(frame)
    schema = lazy.collect_schema()
    columns = set(schema.names())
    internal = {POSITION} | (set(outcomes.TEMPORARY_COLUMNS) if events is not None else set())
    if columns & internal:
        raise FeatureError(
            f"column(s) {sorted(columns & internal)} are names derive() uses internally; "
            "rename them."
        )
    features = participant_features(options.cac_cuts, ckd_definition, hyperphosphatemia_above)
    available = _available(columns, features, lesions is not None, events is not None)
    _check_required(require, columns, available, features)
    id_column = next((c for c in ("participant_id", ROW_INDEX) if c in columns), None)
    (lazy,) = materialize(lazy)
    raise_violations(lazy, _value_checks(schema), id_column, "the analysis frame")
    if options.censor_date is not None and events is not None and "baseline_date" in columns:
        check_censor_date(lazy, options.censor_date, id_column)
    if lesions is not None or events is not None:
        try:
            lazy = with_side_columns(
                lazy, columns, lesions, events, followup, slice_thickness_mm,
                options.censor_date, options.landmark_days,
            )  # fmt: skip
        except Exception as error:  # DuckDB cannot join relations of two connections
            if "different connections" not in str(error):
                raise
            raise FrameError(
                "the DuckDB frame belongs to its own connection, but lesions/events/followup "
                "were not relations of that connection; create them with the same connection "
                "(con.from_arrow(...) / con.read_parquet(...)) or use the default connection."
            ) from error
    return restore(_add_features(lazy, features))


def _computable(present: set[str], features: list[Feature]) -> set[str]:
    """Names of the ``features`` that will be computed from ``present`` (a static closure)."""
    available, names, grown = set(present), set(), True
    while grown:
        new = {f.name for f in features if f.name not in names and set(f.inputs) <= available}
        grown = bool(new)
        names |= new
        available |= new
    return names


def _add_features(lazy: nw.LazyFrame, features: list[Feature]) -> nw.LazyFrame:
    """Add features in dependency stages; ordered categories become Enums where supported
    (on Polars built as Enums directly: cheap codes, not strings cast afterwards); shared
    predictors are columns of their own, except on Polars (see ``Predictors``)."""
    polars = lazy.implementation is nw.Implementation.POLARS
    shared: dict[Predictors, dict[str, nw.Expr] | None] = {}

    def build(feature: Feature) -> nw.Expr:
        if feature.levels is not None:
            return feature.build(nw.Enum(feature.levels) if polars else None)
        if feature.predictors is not None:
            return feature.build(shared[feature.predictors])
        return feature.build()

    present = set(lazy.collect_schema().names())
    pending, built, temporary = list(features), set(), []
    while True:
        # A feature waits while an input of it is still to be (re)computed: a frame's own
        # egfr is stale once creatinine changes, so ckd_stage_g must read the new egfr.
        to_come = _computable(present, pending) - built
        ready = [f for f in pending if set(f.inputs) <= present and not set(f.inputs) & to_come]
        if not ready:
            break
        needed = [f.predictors for f in ready if f.predictors and f.predictors not in shared]
        for group in dict.fromkeys(needed):  # first use: computed in a stage of their own
            shared[group] = None
            if not polars:
                prefix = group.prefix
                while any(c.startswith(prefix) for c in present):  # never a column of the frame
                    prefix = "_" + prefix
                values = {prefix + name: value for name, value in group.build().items()}
                lazy = lazy.with_columns(**values)
                shared[group] = {c.removeprefix(prefix): nw.col(c) for c in values}
                temporary += values
        lazy = lazy.with_columns(*[build(f).alias(f.name) for f in ready])
        present |= {f.name for f in ready}
        built |= {f.name for f in ready}
        pending = [f for f in pending if f not in ready]
    if temporary:
        lazy = lazy.drop(*temporary)
    if not lazy.implementation.is_spark_like():  # also given columns (e.g. cac_category)
        done = built if polars else set()
        categorical = [f for f in features if f.levels is not None and f.name in present - done]
        if categorical:
            lazy = lazy.with_columns(*[nw.col(f.name).cast(nw.Enum(f.levels)) for f in categorical])
    return lazy
