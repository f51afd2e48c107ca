"""The analysis spec: the YAML schema of ``analyses/*.yaml`` (pydantic v2, strict).

An unknown key or a value of the wrong type is a ``SpecError`` naming the file and line.
``load_spec(path)`` reads a file; ``Spec.model_validate(dict)`` builds one in Python.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cohortcalc.analysis.exposure_response_spec import ExposureResponse
from cohortcalc.analysis.imputation_spec import MissingData
from cohortcalc.analysis.prediction_spec import Prediction
from cohortcalc.analysis.yaml_lines import line_of, load_yaml_with_lines, read_spec_text
from cohortcalc.errors import SpecError

Scalar = bool | int | float | str | dt.date
FilterOp = Literal[
    "==", "!=", ">", ">=", "<", "<=", "in", "not_in", "between", "is_null", "not_null"
]
TableName = Literal[
    "table_one", "hazard_ratios", "incidence_rates", "interactions", "flow", "assumptions"
]
FigureName = Literal["cumulative_incidence", "kaplan_meier", "forest"]
TableFormat = Literal["csv", "md", "html", "tex", "docx"]
FigureFormat = Literal["png", "pdf", "svg", "tiff"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SyntheticSource(_Strict):
    """The embedded synthetic cohort: ``cc.simulate(n, seed, params)``."""

    n: int = Field(20_000, ge=200)
    seed: int = 1
    params: dict[str, Any] = Field(default_factory=dict)


class RawSource(_Strict):
    """Raw study files ingested with a mapping (paths relative to the spec file)."""

    sources: str
    mapping: str
    simulate_if_missing: SyntheticSource | None = None


class DataSource(_Strict):
    """Exactly one of: a cohort store folder, raw files with a mapping, a synthetic cohort."""

    store: str | None = None
    raw: RawSource | None = None
    synthetic: SyntheticSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DataSource:
        given = [k for k in ("store", "raw", "synthetic") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of 'store', 'raw' or 'synthetic' (got {given or 'none'})"
            )
        return self


class Filter(_Strict):
    """One population restriction, e.g. ``{column: age, op: ">=", value: 45}``; all are ANDed."""

    column: str
    op: FilterOp
    value: Scalar | list[Scalar] | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Filter:
        if self.op in ("is_null", "not_null"):
            if self.value is not None:
                raise ValueError(f"op {self.op!r} takes no 'value'")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"op {self.op!r} needs 'value' as a non-empty list")
        elif self.op == "between":
            if not isinstance(self.value, list) or len(self.value) != 2:
                raise ValueError("op 'between' needs 'value' as a list [low, high]")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a single 'value'")
        return self

    def describe(self) -> str:
        """Human wording of the restriction, used in the flow table and the methods text."""
        if self.label:
            return self.label
        if self.op in ("is_null", "not_null"):
            return f"{self.column} {'missing' if self.op == 'is_null' else 'not missing'}"
        return f"{self.column} {self.op} {self.value}"


class LogOptions(_Strict):
    """``log``/``log2`` of ``column + offset`` (e.g. ``offset: 1`` for CAC, which can be 0)."""

    offset: float = 0.0


class Cut(_Strict):
    """Cut a numeric column at ``breaks`` into ordered ``labels`` (one more than the breaks).

    ``closed``: ``left`` makes intervals [a, b) (a value equal to a break goes up), ``right``
    makes (a, b] (it goes down); there is no default, so the spec says which.
    """

    breaks: list[float] = Field(min_length=1)
    labels: list[str]
    closed: Literal["left", "right"]

    @model_validator(mode="after")
    def _consistent(self) -> Cut:
        if any(b >= a for a, b in zip(self.breaks[1:], self.breaks, strict=False)):
            raise ValueError(f"'breaks' must increase strictly, got {self.breaks}")
        if len(self.labels) != len(self.breaks) + 1:
            raise ValueError(
                f"{len(self.breaks)} break(s) make {len(self.breaks) + 1} groups; give that many "
                f"'labels' (got {len(self.labels)})"
            )
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"'labels' must be unique, got {self.labels}")
        return self


#: The operations of a derived variable (exactly one, or ``recode`` with ``order``).
DERIVED_OPERATIONS = ("log", "log2", "divide_by", "cut", "recode", "order")


class DerivedVariable(_Strict):
    """A new column computed from ``column`` by one operation of a closed vocabulary (never
    code): ``log``/``log2`` (of column + offset), ``divide_by`` (per-unit scaling, e.g. 10 for
    "per 10 mmHg"), ``cut`` (breaks, labels, closed side), ``recode`` (map levels to new or
    merged levels, the rest kept) and/or ``order`` (an ordered category in this level order).
    """

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    column: str
    label: str | None = None
    log: LogOptions | None = None
    log2: LogOptions | None = None
    divide_by: float | None = Field(None, gt=0)
    cut: Cut | None = None
    recode: dict[str, str] | None = Field(None, min_length=1)
    order: list[str] | None = Field(None, min_length=2)

    @model_validator(mode="after")
    def _one_operation(self) -> DerivedVariable:
        given = [op for op in DERIVED_OPERATIONS if getattr(self, op) is not None]
        if given not in (["recode", "order"],) and len(given) != 1:
            raise ValueError(
                f"give one of {list(DERIVED_OPERATIONS)} (or 'recode' with 'order'); got "
                f"{given or 'none'}"
            )
        if self.order is not None and len(set(self.order)) != len(self.order):
            raise ValueError(f"'order' levels must be unique, got {self.order}")
        return self


class Exposure(_Strict):
    """A CAC exposure: a categorical column with its reference level, or continuous (per SD)."""

    column: str
    kind: Literal["categorical", "continuous"]
    label: str | None = None
    reference: str | None = None
    per_sd: bool = False

    @model_validator(mode="after")
    def _kind_options(self) -> Exposure:
        if self.kind == "categorical" and self.per_sd:
            raise ValueError("'per_sd' applies to continuous exposures only")
        if self.kind == "continuous" and self.reference is not None:
            raise ValueError("'reference' applies to categorical exposures only")
        return self


TimeScale = Literal["follow_up", "age", "calendar"]


class AdjustmentSet(_Strict):
    """One model of a sequential adjustment: its own ``covariates`` or ``add`` to the previous."""

    name: str
    covariates: list[str] | None = None
    add: list[str] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> AdjustmentSet:
        if (self.covariates is None) == (self.add is None):
            raise ValueError("give exactly one of 'covariates' or 'add'")
        return self


def resolve_adjustment(adjustment: list[AdjustmentSet]) -> dict[str, list[str]]:
    """Model name -> full covariate list, resolving ``add`` cumulatively."""
    out: dict[str, list[str]] = {}
    current: list[str] = []
    for step in adjustment:
        if step.covariates is not None:
            current = list(step.covariates)
        else:
            current = current + [c for c in step.add or [] if c not in current]
        out[step.name] = list(dict.fromkeys(current))
    return out


def _check_adjustment(adjustment: list[AdjustmentSet]) -> None:
    if adjustment[0].covariates is None:
        raise ValueError("the first adjustment set needs 'covariates' (nothing to add to)")
    names = [a.name for a in adjustment]
    if len(set(names)) != len(names):
        raise ValueError(f"adjustment set names must be unique, got {names}")


class Outcome(_Strict):
    """A time-to-event outcome: time scale, entry and exit columns, status and its codes, the
    methods, and (optionally) its own adjustment sets.

    ``time_scale``: ``follow_up`` (``time`` is the time since baseline; entry 0 unless
    ``entry`` is given), ``age`` or ``calendar`` (``entry`` is the age or date at baseline,
    ``time`` the age or date at this outcome's own event or censoring; each participant is at
    risk from entry to exit only: delayed entry, Korn, Graubard & Midthune 1997).
    ``cox`` on an outcome with a competing code is the cause-specific hazard (competing events
    censored); ``finegray`` is the subdistribution hazard (Fine & Gray 1999), with delayed
    entry by Geskus' (2011) weights. ``adjustment`` replaces ``models.adjustment`` for this
    outcome (same model names in the same order), e.g. without age on the age scale.
    """

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    label: str | None = None
    time_scale: TimeScale = "follow_up"
    entry: str | None = None
    time: str
    status: str
    event_code: int = 1
    competing_code: int | None = None
    time_unit: Literal["years", "days"] = "years"
    methods: list[Literal["cox", "finegray"]] = Field(default_factory=lambda: ["cox"], min_length=1)
    adjustment: list[AdjustmentSet] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Outcome:
        if "finegray" in self.methods and self.competing_code is None:
            raise ValueError("method 'finegray' needs 'competing_code' (the competing event)")
        if self.competing_code == self.event_code:
            raise ValueError("'competing_code' must differ from 'event_code'")
        if self.time_scale != "follow_up" and self.entry is None:
            origin = "birth" if self.time_scale == "age" else "year 0"
            raise ValueError(
                f"time_scale {self.time_scale!r} needs 'entry' (e.g. entry: age_entry and "
                f"time: {self.name}_age_exit); without it everyone is at risk from {origin}"
            )
        if self.time_scale != "follow_up" and self.time_unit != "years":
            raise ValueError(f"time_scale {self.time_scale!r} is measured in years")
        if self.entry is not None and self.entry == self.time:
            raise ValueError("'entry' and 'time' must be different columns")
        if self.adjustment is not None:
            _check_adjustment(self.adjustment)
        return self


class Models(_Strict):
    """Sequential adjustment sets and the Cox ties method."""

    ties: Literal["efron", "breslow"] = "efron"
    adjustment: list[AdjustmentSet] = Field(min_length=1)

    @model_validator(mode="after")
    def _first_is_complete(self) -> Models:
        _check_adjustment(self.adjustment)
        return self

    def covariate_sets(self, outcome: Outcome | None = None) -> dict[str, list[str]]:
        """Model name -> full covariate list (``outcome``'s own sets when it has them)."""
        if outcome is not None and outcome.adjustment is not None:
            return resolve_adjustment(outcome.adjustment)
        return resolve_adjustment(self.adjustment)


class EffectModifier(_Strict):
    """Fit within each level of ``column`` and test the exposure x modifier interaction.

    ``test: lrt`` compares Cox fits with and without the interaction (likelihood ratio);
    Fine-Gray has no likelihood, so its interaction is always a joint Wald test.
    """

    column: str
    label: str | None = None
    test: Literal["lrt", "wald"] = "lrt"


class Sensitivity(_Strict):
    """A sensitivity analysis: a landmark at ``exclude_first_years`` and/or complete cases."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    label: str | None = None
    exclude_first_years: float | None = Field(None, gt=0)
    complete_cases: bool = False

    @model_validator(mode="after")
    def _does_something(self) -> Sensitivity:
        if self.exclude_first_years is None and not self.complete_cases:
            raise ValueError("set 'exclude_first_years' and/or 'complete_cases: true'")
        return self


class Outputs(_Strict):
    """Which tables and figures to write, in which formats, and the report format."""

    tables: list[TableName] = Field(
        default_factory=lambda: [
            "flow",
            "table_one",
            "hazard_ratios",
            "interactions",
            "assumptions",
        ]
    )
    figures: list[FigureName] = Field(default_factory=lambda: ["cumulative_incidence", "forest"])
    table_formats: list[TableFormat] = Field(default_factory=lambda: ["csv", "md", "html"])
    figure_formats: list[FigureFormat] = Field(default_factory=lambda: ["png"])
    figure_dpi: Literal[300, 600] = 300
    report: Literal["html", "md"] = "html"
    table_one_by: str | None = None
    table_one_variables: list[str] | None = None
    table_one_median: list[str] = Field(default_factory=list)  # median [IQR], not mean (SD)
    figures_by: list[str] = Field(default_factory=list)

    @field_validator("figures_by")
    @classmethod
    def _groupings(cls, figures_by: list[str]) -> list[str]:
        for grouping in figures_by:
            parts = grouping.split(" within ")
            if len(parts) > 2 or not all(p.strip() and " " not in p.strip() for p in parts):
                raise ValueError(
                    f"a figure grouping is a column or 'COLUMN within COLUMN' (curves by the "
                    f"first, one panel per level of the second), got {grouping!r}"
                )
        return figures_by


def split_grouping(grouping: str) -> tuple[str, str | None]:
    """``"cac_category within ckd"`` -> (``cac_category``, ``ckd``); a column -> (it, None)."""
    curves, _, panels = grouping.partition(" within ")
    return curves.strip(), (panels.strip() or None)


class SparkSettings(_Strict):
    """Spark session settings for ``engine: spark`` (read only when no session is active).

    ``master``: e.g. ``local[4]``, ``yarn``, ``spark://head:7077``, ``k8s://https://...``;
    leave it out under ``spark-submit`` or on a cluster, where the launcher sets it.
    ``config``: Spark properties (``spark.*`` keys), e.g. ``spark.executor.memory: 8g``.
    """

    master: str | None = None
    app_name: str = "cohortcalc"
    config: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("config")
    @classmethod
    def _spark_keys(cls, config: dict[str, Any]) -> dict[str, Any]:
        odd = [key for key in config if not key.startswith("spark.")]
        if odd:
            raise ValueError(
                f"Spark properties start with 'spark.' (got {odd}); Hadoop settings are "
                "written 'spark.hadoop.<key>'"
            )
        return config


class Spec(_Strict):
    """A scripted analysis: data, population, exposures, outcomes, models and outputs.

    ``engine: spark`` reads the data and fits the models in Spark (``spark:`` holds the
    session settings); ``local`` (the default) runs on Polars and numpy in this process.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str
    description: str | None = None
    data: DataSource
    derive: dict[str, Any] = Field(default_factory=dict)
    derived: list[DerivedVariable] = Field(default_factory=list)
    population: list[Filter] = Field(default_factory=list)
    exposures: list[Exposure] = Field(min_length=1)
    outcomes: list[Outcome] = Field(min_length=1)
    models: Models
    effect_modifiers: list[EffectModifier] = Field(default_factory=list)
    sensitivity: list[Sensitivity] = Field(default_factory=list)
    exposure_response: ExposureResponse | None = None
    prediction: Prediction | None = None
    missing_data: MissingData | None = None
    outputs: Outputs = Field(default_factory=Outputs)
    small_cell_threshold: int = Field(11, ge=0)
    sparse_events_threshold: int = Field(10, ge=0)
    engine: Literal["local", "spark"] = "local"
    spark: SparkSettings | None = None

    _source: str = PrivateAttr(default="<spec>")
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_names(self) -> Spec:
        for what, names in (
            ("outcome", [o.name for o in self.outcomes]),
            ("sensitivity", [s.name for s in self.sensitivity]),
            ("exposure", [e.column for e in self.exposures]),
            ("derived variable", [d.name for d in self.derived]),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"{what} names must be unique, got {names}")
        models = [a.name for a in self.models.adjustment]
        for outcome in self.outcomes:
            own = [a.name for a in outcome.adjustment or self.models.adjustment]
            if own != models:
                raise ValueError(
                    f"outcome {outcome.name!r}: its adjustment sets are named {own}; name them "
                    f"as models.adjustment {models} (same order), so the tables line up"
                )
        return self

    @field_validator("spark")
    @classmethod
    def _spark_needs_engine(cls, spark: SparkSettings | None, info: ValidationInfo) -> Any:
        if spark is not None and info.data.get("engine") == "local":
            raise ValueError("'spark' settings need 'engine: spark' (the engine is local)")
        return spark

    @property
    def source(self) -> str:
        """The file the spec came from (or ``<spec>`` when built in Python)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the spec are resolved against."""
        return self._base_dir

    def where(self, *loc: str | int) -> str:
        """``"file, line N"`` for a location in the spec, for error messages."""
        line = line_of(self._lines, loc)
        return f"{self._source}, line {line}" if line is not None else self._source

    def resolve(self, path: str) -> Path:
        """A path from the spec, relative to the spec file's folder unless absolute."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self._base_dir / candidate)


def spec_from_text(text: str, source: str = "<spec>", base_dir: Path | None = None) -> Spec:
    """Validate YAML text into a ``Spec``; errors name ``source`` and the line."""
    data, lines = load_yaml_with_lines(text, source)
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a spec is a YAML mapping (key: value), got {type(data)}.")
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_errors(exc, lines, source)) from None
    spec._source = source
    spec._base_dir = base_dir if base_dir is not None else Path.cwd()
    spec._lines = lines
    return spec


def spec_from_dict(data: Any, base_dir: Path | None = None) -> Spec:
    """Validate a Python mapping into a ``Spec`` (errors name the key path)."""
    try:
        spec = Spec.model_validate(dict(data))
    except ValidationError as exc:
        raise SpecError(_format_errors(exc, {}, "<spec>")) from None
    spec._base_dir = base_dir if base_dir is not None else Path.cwd()
    return spec


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file (YAML, safely loaded)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file. Give the path to an analyses/*.yaml file.")
    text = read_spec_text(path)
    return spec_from_text(text, source=str(path), base_dir=path.resolve().parent)


def _format_errors(exc: ValidationError, lines: dict[Any, int], source: str) -> str:
    messages = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        where = ".".join(str(part) for part in loc) or "(top level)"
        line = line_of(lines, loc)
        at = f"{source}, line {line}" if line is not None else source
        if error["type"] == "extra_forbidden":
            text = f"unknown key {loc[-1]!r}; check the spelling against the spec schema"
        elif error["type"] == "missing":
            text = f"required key {loc[-1]!r} is missing"
        else:
            text = f"{error['msg']} (got {error.get('input')!r})"
            text = text.replace("Value error, ", "")
        messages.append(f"{at}: {where}: {text}")
    return "invalid analysis spec:\n  " + "\n  ".join(messages)
