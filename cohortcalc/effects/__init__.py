"""Effect measures read from fitted models: spline HR curves and their figure, additive
interaction (RERI, AP, SI), E-values and standardised risks (``standardized.py``, loaded
lazily by ``cc.standardized_risk``). They read ``survival`` results, never the reverse."""

from cohortcalc.effects.curves import HrCurve, hr_curve
from cohortcalc.effects.evalues import EValue, evalue, evalues
from cohortcalc.effects.interaction import AdditiveInteraction, additive_interaction

__all__ = [
    "AdditiveInteraction",
    "EValue",
    "HrCurve",
    "additive_interaction",
    "evalue",
    "evalues",
    "hr_curve",
]
