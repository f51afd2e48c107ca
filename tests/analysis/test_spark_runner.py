"""``engine: spark``: ``cohortcalc run`` on Spark gives the local engine's run on the same store.

One small synthetic store (ingested from the generator's raw files), the headline spec's
population, exposure, outcomes and fully adjusted model, run once per engine; the Spark run
uses the test session (``spark`` fixture), so it exercises "use the active session".
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml
from polars.testing import assert_frame_equal

import cohortcalc as cc
from cohortcalc.analysis import load_spec
from cohortcalc.analysis.data import TABLES
from cohortcalc.analysis.spark_frame import SparkFrame, filter_column
from cohortcalc.analysis.spark_session import RUNTIME_CONFIG, read_spark_tables
from cohortcalc.analysis.spec import Filter
from cohortcalc.errors import SpecError
from cohortcalc.synth.export import write_study_export

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cohort store of ~2,500 synthetic participants, made by ``cc.ingest``."""
    root = tmp_path_factory.mktemp("spark_store")
    write_study_export(cc.simulate(n=2500, seed=3), root / "raw")
    mapping = files("cohortcalc.ingest") / "mappings" / "synthetic_study.yaml"
    cc.ingest(root / "raw", mapping=str(mapping), out=root / "store")
    return root / "store"


@pytest.fixture(scope="module")
def spec(store: Path) -> dict[str, Any]:
    """The headline spec on the store: MI (Cox and Fine–Gray) by CAC category, Model 2
    (4 fits with the trend models; sensitivity frames are checked on a tiny frame below)."""
    headline = yaml.safe_load((REPO / "analyses" / "cac_mi_ckd.yaml").read_text())
    headline.update(
        data={"store": str(store)},
        exposures=headline["exposures"][:1],
        outcomes=headline["outcomes"][:1],
        effect_modifiers=[],
        sensitivity=[],
        prediction=headline["prediction"] | {"groups": 4},  # 10 groups: some without events
    )
    model_2 = load_spec(REPO / "analyses" / "cac_mi_ckd.yaml").models.covariate_sets()["Model 2"]
    headline["models"]["adjustment"] = [{"name": "Model 2", "covariates": model_2}]
    headline["outputs"].update(figures=["cumulative_incidence", "forest"])
    return headline


@pytest.fixture(scope="module")
def runs(spark: Any, spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("spark_runs")
    local = cc.run(copy.deepcopy(spec), out=out / "local")
    on_spark = {**copy.deepcopy(spec), "engine": "spark", "spark": {"master": "local[1]"}}
    return local, cc.run(on_spark, out=out / "spark"), out


@pytest.mark.slow
def test_spark_run_equals_the_local_run(runs: tuple) -> None:
    local, spark_run, _ = runs
    a, b = local.summary(), spark_run.summary()
    keys = ["analysis", "outcome", "method", "exposure", "model", "subgroup", "term"]
    assert a[keys].equals(b[keys]) and len(a) == 6  # 3 CAC terms x (Cox, Fine–Gray)
    assert a[["n", "n_events"]].equals(b[["n", "n_events"]])
    excluded = [[f.n_excluded_missing for f in run.fits] for run in (local, spark_run)]
    assert excluded[0] == excluded[1] and max(excluded[0]) > 0  # complete cases per model
    for column in ("hr", "hr_lower", "hr_upper", "p"):
        np.testing.assert_allclose(b[column], a[column], rtol=1e-8, err_msg=column)
    trends = [(f.key, f.p_trend) for f in local.fits], [(f.key, f.p_trend) for f in spark_run.fits]
    np.testing.assert_allclose([p or 0 for _, p in trends[1]], [p or 0 for _, p in trends[0]])
    assert local.flow.equals(spark_run.flow)


@pytest.mark.slow
def test_every_table_and_figure_is_written_the_same(runs: tuple) -> None:
    local, spark_run, out = runs
    assert set(local.tables) == set(spark_run.tables)
    assert {"flow", "table_one", "incidence_rates", "hr_mi_cox", "hr_mi_finegray"} <= set(
        local.tables
    )
    for name, table in local.tables.items():
        assert table.frame.equals(spark_run.tables[name].frame), name
    assert set(local.figures) == set(spark_run.figures) != set()
    assert (out / "spark" / "report.html").is_file()


@pytest.mark.slow
def test_manifest_records_the_engine(runs: tuple, spark: Any) -> None:
    local, spark_run, _ = runs
    assert local.manifest["engine"] == {"name": "local"}
    engine = spark_run.manifest["engine"]
    assert engine["name"] == "spark" and engine["master"] == spark.sparkContext.master
    assert engine["spark_version"] == spark.version
    assert spark_run.manifest["inputs"] == local.manifest["inputs"]  # same store, same hashes
    assert spark_run.manifest["spec"]["content"]["engine"] == "spark"


@pytest.mark.slow
def test_active_session_is_kept_and_its_settings_restored(runs: tuple, spark: Any) -> None:
    assert spark.range(3).count() == 3  # not stopped by the run
    for key in RUNTIME_CONFIG:
        assert spark.conf.get(key) == "true"  # Spark's default again


@pytest.mark.slow
def test_result_frame_holds_the_output_columns_with_local_types(runs: tuple) -> None:
    local, spark_run, _ = runs
    frame = spark_run.frame
    assert {"cac_category", "mi_years", "mi_status", "age", "egfr"} <= set(frame.columns)
    assert frame.columns[0] == "participant_id"  # rows in participant order
    expected = local.frame.select(frame.columns).sort("participant_id")
    # same dtypes (incl. the Enum level order) and values; Spark's pow/log may differ in an ulp
    assert_frame_equal(frame, expected, check_exact=False, rel_tol=1e-12)


@pytest.mark.slow
def test_a_failed_run_releases_its_cached_frame(runs: tuple, spark: Any, spec: dict) -> None:
    failing = {**copy.deepcopy(spec), "engine": "spark"}
    failing["population"] = [{"column": "age", "op": ">", "value": 200}]
    with pytest.raises(SpecError, match="leaves no participants"):
        cc.run(failing)
    assert spark._jsparkSession.sharedState().cacheManager().isEmpty()  # the session lives on


ROWS = pl.DataFrame(
    {
        "age": [40.0, 50.0, None, float("nan"), 70.0, 45.0],
        "sex": ["female", "male", "male", None, "female", "male"],
        "ckd": [True, False, None, True, False, True],
        "day": [dt.date(2020, 1, d) for d in (1, 2, 3, 4, 5, 6)],
        "status": [1, 0, 2, 1, 0, 1],
        "cac": pl.Series(["0", ">400", "0", "1-100", None, "101-400"])
        .cast(pl.Enum(["0", "1-100", "101-400", ">400"])),
        "risk": pl.Series(["low", "high", "borderline", None, "intermediate", "high"])
        .cast(pl.Enum(["low", "borderline", "intermediate", "high"])),  # not alphabetical
    }
)  # fmt: skip

RULES = [
    Filter(column="age", op=">=", value=45),
    Filter(column="age", op="<", value=60),
    Filter(column="age", op="!=", value=50),
    Filter(column="age", op="between", value=[45, 60]),
    Filter(column="age", op="not_null"),
    Filter(column="age", op="is_null"),
    Filter(column="sex", op="==", value="male"),
    Filter(column="sex", op="not_in", value=["female"]),
    Filter(column="cac", op="in", value=["0", ">400"]),
    Filter(column="ckd", op="==", value=True),
    Filter(column="day", op=">", value=dt.date(2020, 1, 3)),
    Filter(column="day", op="between", value=[dt.date(2020, 1, 2), dt.date(2020, 1, 4)]),
    Filter(column="sex", op="between", value=["a", "g"]),
    Filter(column="risk", op=">=", value="intermediate"),
    Filter(column="risk", op="<", value="intermediate"),
    Filter(column="risk", op="between", value=["borderline", "intermediate"]),
    Filter(column="risk", op="!=", value="high"),
]


@pytest.fixture(scope="module")
def rows(spark: Any) -> SparkFrame:
    text = ROWS.with_columns(pl.col("cac", "risk").cast(pl.String))
    data = [tuple(r) for r in text.iter_rows()]
    schema = "age double, sex string, ckd boolean, day date, status bigint, cac string, risk string"
    return SparkFrame(spark.createDataFrame(data, schema), ROWS.schema)


def test_filters_keep_the_rows_polars_keeps(rows: SparkFrame) -> None:
    from cohortcalc.analysis.filters import filter_expression

    flags = rows.df.select(*(filter_column(r, ROWS.schema[r.column]) for r in RULES)).collect()
    for j, rule in enumerate(RULES):
        expected = ROWS.select(filter_expression(rule, ROWS.schema[rule.column])).to_series()
        assert [row[j] for row in flags] == expected.to_list(), rule
    ordered = ROWS.filter(filter_expression(RULES[-4], ROWS.schema["risk"]))["risk"]
    assert ordered.to_list() == ["high", "intermediate", "high"]  # level order, not A-Z


def test_levels_cells_scores_and_sd_match_polars(rows: SparkFrame) -> None:
    from cohortcalc.analysis.checks import cells_without_events, levels_of
    from cohortcalc.analysis.spec import Outcome

    outcome = Outcome(name="x", time="age", status="status")
    for column in ("sex", "ckd", "cac"):
        assert rows.levels(column) == levels_of(ROWS, column), column
    for column in ("sex", "cac"):
        cells = cells_without_events(ROWS, outcome, ("ckd", column))
        assert rows.cells_without_events("status", 1, ("ckd", column)) == cells
    assert rows.levels("cac") == ["0", "1-100", "101-400", ">400"]  # Enum order, not sorted
    assert rows.std("age") == pytest.approx(ROWS["age"].drop_nulls().drop_nans().std(), 1e-12)
    scored = rows.with_score("cac", "score").collect(["cac", "score"])
    assert scored["score"].to_list() == [0.0, 3.0, 0.0, 1.0, None, 2.0]
    subset, value = rows.at_level("ckd", "true")
    assert (subset.height, value) == (3, True)
    assert rows.complete(["age", "sex"]).height == 4  # null and NaN ages, a null sex
    landmark = rows.landmark("age", 45.0).collect(["age", "cac"])
    assert landmark.equals(ROWS.filter(pl.col("age") > 45).select(pl.col("age") - 45, "cac"))


TINY = pl.DataFrame(
    {
        "participant_id": ["P3", "P1", "P2", "P4", "P5", "P6"],
        "years": [0.5, 2.0, 3.0, 4.0, 1.5, 2.5],
        "status": [1, 1, 0, 1, 1, 0],
        "cac": pl.Series(["0", "0", "1-100", "1-100", "0", "1-100"]).cast(pl.Enum(["0", "1-100"])),
    }
)


def test_sensitivity_frames_are_built_in_spark_and_collected_like_local(spark: Any) -> None:
    from cohortcalc.analysis.populations import AnalysisFrames
    from cohortcalc.analysis.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "name": "tiny", "title": "tiny", "data": {"synthetic": {"n": 200}},
            "exposures": [{"column": "cac", "kind": "categorical", "reference": "0"}],
            "outcomes": [{"name": "o", "time": "years", "status": "status"}],
            "models": {"adjustment": [{"name": "M", "covariates": []}]},
            "sensitivity": [{"name": "lm", "exclude_first_years": 1.0, "complete_cases": True}],
        }
    )  # fmt: skip
    rows = TINY.with_columns(pl.col("cac").cast(pl.String))
    on_spark = SparkFrame(spark.createDataFrame(rows.to_pandas()), TINY.schema)
    columns, few = ["participant_id", "years", "status", "cac"], ["participant_id", "years"]
    local = AnalysisFrames(spec, on_spark).collected(columns, few, "participant_id")
    expected = AnalysisFrames(spec, TINY)
    outcome = spec.outcomes[0]
    assert local.get("main", outcome).equals(TINY.sort("participant_id"))
    landmark = expected.get("lm", outcome).select(few).sort("participant_id")
    assert local.get("lm", outcome).equals(landmark) and landmark.height == 5
    assert landmark["years"].min() == pytest.approx(0.5)  # clock restarted at 1 year


def test_partitioned_store_is_read_with_text_partition_columns(
    spark: Any, store: Path, tmp_path: Path
) -> None:
    copy_of = tmp_path / "store"
    shutil.copytree(store, copy_of)
    participants = copy_of / "participants.parquet"
    table = pq.read_table(participants)
    participants.unlink()
    numbered = table.set_column(
        table.schema.get_field_index("site"), "site",
        pl.Series([f"0{i % 2}" for i in range(table.num_rows)]).to_arrow(),
    )  # fmt: skip
    pq.write_to_dataset(numbered, participants, partition_cols=["site"])
    for key, value in RUNTIME_CONFIG.items():
        spark.conf.set(key, value)
    try:
        tables = read_spark_tables(spark, str(copy_of), TABLES)
        sites = {r.site for r in tables["participants"].select("site").distinct().collect()}
    finally:
        for key in RUNTIME_CONFIG:
            spark.conf.unset(key)
    assert dict(tables["participants"].dtypes)["site"] == "string"
    assert sites == {"00", "01"} and tables["participants"].count() == table.num_rows
