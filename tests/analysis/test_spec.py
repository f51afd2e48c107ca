"""The spec schema: strict types, unknown keys and YAML errors reported with their line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cohortcalc.analysis import example_spec, load_spec, spec_from_dict, spec_from_text
from cohortcalc.errors import SpecError

REPO = Path(__file__).resolve().parents[2]
HEADLINE = REPO / "analyses" / "cac_mi_ckd.yaml"


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_headline_and_raw_specs_validate():
    spec = load_spec(HEADLINE)
    assert spec.name == "cac_mi_ckd"
    assert spec.data.synthetic is not None and spec.data.synthetic.n == 20_000
    raw = load_spec(REPO / "analyses" / "cac_mi_ckd_raw.yaml")
    assert raw.data.raw is not None and raw.data.raw.mapping == "builtin:synthetic_study"


def test_packaged_example_is_the_headline_spec():
    assert example_spec().read_bytes() == HEADLINE.read_bytes()


def test_unknown_key_names_its_line():
    text = HEADLINE.read_text()
    bad = text.replace("    status: death_status\n", "    status: death_status\n    tiem: 3\n")
    line = _line_of(bad, "tiem: 3")
    with pytest.raises(SpecError, match=rf"x\.yaml, line {line}: outcomes\.1\.tiem: unknown key"):
        spec_from_text(bad, source="x.yaml")


def test_wrong_type_names_its_line_and_value():
    text = HEADLINE.read_text().replace("small_cell_threshold: 11", "small_cell_threshold: ten")
    line = _line_of(text, "small_cell_threshold")
    with pytest.raises(SpecError, match=rf"line {line}: small_cell_threshold: .*integer.*'ten'"):
        spec_from_text(text, source="x.yaml")


def test_unquoted_reference_level_is_a_type_error_not_a_silent_cast():
    text = HEADLINE.read_text().replace('reference: "0"', "reference: 0")
    line = _line_of(text, "reference: 0")
    with pytest.raises(SpecError, match=rf"line {line}: exposures\.0\.reference"):
        spec_from_text(text)


def test_yaml_syntax_error_names_its_line():
    with pytest.raises(SpecError, match=r"line 3, column \d+: not valid YAML"):
        spec_from_text("name: x\ntitle: y\n  data: 1\n")


def test_duplicate_key_is_an_error():
    with pytest.raises(SpecError, match="line 2: duplicate key 'name'"):
        spec_from_text("name: a\nname: b\n")


def test_yaml_is_loaded_safely():
    with pytest.raises(SpecError):
        spec_from_text("name: !!python/object/apply:os.system ['true']\n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"column": "age", "op": "in", "value": 45}, "needs 'value' as a non-empty list"),
        ({"column": "age", "op": "not_null", "value": 1}, "takes no 'value'"),
        ({"column": "age", "op": "between", "value": [1]}, r"list \[low, high\]"),
        ({"column": "age", "op": "~=", "value": 1}, "population.0.op"),
    ],
)
def test_filter_rules_are_checked(small_spec, change, message):
    with pytest.raises(SpecError, match=message):
        spec_from_dict(small_spec(population=[change]))


def test_finegray_needs_a_competing_code(small_spec):
    spec = small_spec()
    del spec["outcomes"][0]["competing_code"]
    with pytest.raises(SpecError, match="needs 'competing_code'"):
        spec_from_dict(spec)


def test_exactly_one_data_source(small_spec):
    with pytest.raises(SpecError, match="exactly one of 'store', 'raw' or 'synthetic'"):
        spec_from_dict(small_spec(data={"store": "x", "synthetic": {"n": 500}}))


def test_sequential_adjustment_sets_accumulate(small_spec):
    models = {
        "adjustment": [
            {"name": "M1", "covariates": ["age", "sex"]},
            {"name": "M2", "add": ["diabetes", "age"]},
            {"name": "M3", "add": ["sbp"]},
        ]
    }
    spec = spec_from_dict(small_spec(models=models))
    assert spec.models.covariate_sets() == {
        "M1": ["age", "sex"],
        "M2": ["age", "sex", "diabetes"],
        "M3": ["age", "sex", "diabetes", "sbp"],
    }


def test_first_adjustment_set_must_list_covariates(small_spec):
    with pytest.raises(SpecError, match="first adjustment set needs 'covariates'"):
        spec_from_dict(small_spec(models={"adjustment": [{"name": "M", "add": ["age"]}]}))


def test_where_points_at_the_line_of_a_location():
    text = HEADLINE.read_text()
    spec = spec_from_text(text, source="h.yaml")
    assert spec.where("outcomes", 1, "time") == f"h.yaml, line {_line_of(text, 'death_years')}"
    assert yaml.safe_load(text)["name"] == spec.name


def _field_names(model: type) -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                names |= _field_names(annotation)
            stack.extend(getattr(annotation, "__args__", ()))
    return names


def test_every_spec_key_is_documented():
    from cohortcalc.analysis.spec import Spec

    readme = (REPO / "analyses" / "README.md").read_text()
    undocumented = sorted(n for n in _field_names(Spec) if n not in readme)
    assert not undocumented, f"document these keys in analyses/README.md: {undocumented}"


def test_engine_defaults_to_local_and_the_spark_example_is_the_headline_on_spark():
    assert load_spec(HEADLINE).engine == "local" and load_spec(HEADLINE).spark is None
    spark = load_spec(REPO / "analyses" / "cac_mi_ckd_spark.yaml")
    assert spark.engine == "spark" and spark.spark is not None
    assert spark.spark.master == "local[2]"
    assert spark.spark.config["spark.sql.shuffle.partitions"] == 4
    headline = load_spec(HEADLINE).model_dump(exclude={"name", "engine", "spark"})
    assert spark.model_dump(exclude={"name", "engine", "spark"}) == headline


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("engine: spark\nspark: {master: local, cores: 4}\n", r"line 2: spark\.cores: unknown key"),
        ("engine: spark\nspark:\n  config: {executor.memory: 8g}\n",
         r"line 3: spark\.config: Spark properties start with 'spark\.'"),
        ("engine: spark\nspark: {config: {spark.x: [1]}}\n", r"line 2: spark\.config\.spark\.x"),
        ("engine: Spark\n", r"line 1: engine: Input should be 'local' or 'spark'"),
        ("spark: {master: local}\n", r"line 1: spark: 'spark' settings need 'engine: spark'"),
    ],
)  # fmt: skip
def test_engine_and_spark_settings_are_checked_with_their_line(block, message):
    text = block + HEADLINE.read_text().split("\n", 4)[-1]
    with pytest.raises(SpecError, match=message):
        spec_from_text(text, source="x.yaml")
