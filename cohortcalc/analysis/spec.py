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
from cohortcalc.analysis.yaml_lines import line_of, load_yaml_with_lines, read_spec_text
from cohortcalc.errors import SpecError

Scalar = bool | int | float | str | dt.date
FilterOp = Literal[
    "==", "!=", ">", ">=", "<", "<=", "in", "not_in", "between", "is_null", "not_null"
]
TableName = Literal["table_one", "hazard_ratios", "incidence_rates", "interactions", "flow"]
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


class Outcome(_Strict):
    """A time-to-event outcome: time column, status column and its codes, and the methods.

    ``cox`` on an outcome with a competing code is the cause-specific hazard (competing events
    censored); ``finegray`` is the subdistribution hazard (Fine & Gray 1999).
    """

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    label: str | None = None
    time: str
    status: str
    event_code: int = 1
    competing_code: int | None = None
    time_unit: Literal["years", "days"] = "years"
    methods: list[Literal["cox", "finegray"]] = Field(default_factory=lambda: ["cox"], min_length=1)

    @model_validator(mode="after")
    def _finegray_needs_competing(self) -> Outcome:
        if "finegray" in self.methods and self.competing_code is None:
            raise ValueError("method 'finegray' needs 'competing_code' (the competing event)")
        if self.competing_code == self.event_code:
            raise ValueError("'competing_code' must differ from 'event_code'")
        return self


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


class Models(_Strict):
    """Sequential adjustment sets and the Cox ties method."""

    ties: Literal["efron", "breslow"] = "efron"
    adjustment: list[AdjustmentSet] = Field(min_length=1)

    @model_validator(mode="after")
    def _first_is_complete(self) -> Models:
        if self.adjustment[0].covariates is None:
            raise ValueError("the first adjustment set needs 'covariates' (nothing to add to)")
        names = [a.name for a in self.adjustment]
        if len(set(names)) != len(names):
            raise ValueError(f"adjustment set names must be unique, got {names}")
        return self

    def covariate_sets(self) -> dict[str, list[str]]:
        """Model name -> full covariate list, resolving ``add`` cumulatively."""
        out: dict[str, list[str]] = {}
        current: list[str] = []
        for adjustment in self.adjustment:
            if adjustment.covariates is not None:
                current = list(adjustment.covariates)
            else:
                current = current + [c for c in adjustment.add or [] if c not in current]
            out[adjustment.name] = list(dict.fromkeys(current))
        return out


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
        default_factory=lambda: ["flow", "table_one", "hazard_ratios", "interactions"]
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
    population: list[Filter] = Field(default_factory=list)
    exposures: list[Exposure] = Field(min_length=1)
    outcomes: list[Outcome] = Field(min_length=1)
    models: Models
    effect_modifiers: list[EffectModifier] = Field(default_factory=list)
    sensitivity: list[Sensitivity] = Field(default_factory=list)
    exposure_response: ExposureResponse | None = None
    missing_data: MissingData | None = None
    outputs: Outputs = Field(default_factory=Outputs)
    small_cell_threshold: int = Field(11, ge=0)
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
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"{what} names must be unique, got {names}")
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
