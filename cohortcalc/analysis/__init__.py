"""Scripted analyses: a YAML spec drives ingest -> derive -> fit -> report (``run``), and a
simulation study checks the estimators against known truth (``validate``)."""

from importlib.resources import files
from pathlib import Path

from cohortcalc.analysis.runner import STEPS, AnalysisResult, ProgressEvent, run
from cohortcalc.analysis.spec import Spec, load_spec, spec_from_dict, spec_from_text
from cohortcalc.analysis.validate import ValidationResult, validate
from cohortcalc.errors import SpecError

EXAMPLES = ("cac_mi_ckd",)


def example_spec(name: str = "cac_mi_ckd") -> Path:
    """Path of a spec shipped with the package (the headline analysis by default)."""
    if name not in EXAMPLES:
        raise SpecError(f"no example spec {name!r}; examples: {list(EXAMPLES)}")
    return Path(str(files("cohortcalc") / "analyses" / f"{name}.yaml"))


__all__ = [
    "EXAMPLES",
    "STEPS",
    "AnalysisResult",
    "ProgressEvent",
    "Spec",
    "ValidationResult",
    "example_spec",
    "load_spec",
    "run",
    "spec_from_dict",
    "spec_from_text",
    "validate",
]
