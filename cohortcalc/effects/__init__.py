"""Effect measures read from fitted models: spline HR curves and their figure, additive
interaction (RERI, AP, SI) and E-values. They read ``survival`` results, never the reverse."""

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
