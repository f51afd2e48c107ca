"""Scripted analyses: a YAML spec drives ingest -> derive -> fit -> report (``run``), and a
simulation study checks the estimators against known truth (``validate``).

Names load their module on first use (PEP 562, as the top-level package): a worker process
that fits models imports the fitting modules without the runner, reports and figures.
``validate`` is imported at once: it shares its name with its module, whose import would
otherwise rebind ``cohortcalc.analysis.validate`` to the module.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from cohortcalc._lazy import lazy_names
from cohortcalc.analysis.validate import ValidationResult, validate
from cohortcalc.errors import SpecError

if TYPE_CHECKING:
    from cohortcalc.analysis.runner import STEPS, AnalysisResult, ProgressEvent, run
    from cohortcalc.analysis.spec import Spec, load_spec, spec_from_dict, spec_from_text

EXAMPLES = ("cac_mi_ckd",)

_RUNNER, _SPEC = "cohortcalc.analysis.runner", "cohortcalc.analysis.spec"
__getattr__, __dir__ = lazy_names(
    globals(),
    {name: (_RUNNER, name) for name in ("STEPS", "AnalysisResult", "ProgressEvent", "run")}
    | {name: (_SPEC, name) for name in ("Spec", "load_spec", "spec_from_dict", "spec_from_text")},
)


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
