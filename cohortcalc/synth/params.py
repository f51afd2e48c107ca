"""Parameters of the synthetic cohort: the known truth every known-truth test checks against.

Hazard ratios act on the *generating terms* of `TERMS` (see `design_terms` in outcomes.py).
Their meaning depends on `SynthParams.outcome_model`:

- ``"cause_specific"``: every `HazardModel` is a proportional cause-specific hazard
  (Weibull baseline ``λ0(t) = rate·shape·t^(shape-1)``, t in years since baseline), so the
  MI ratios ARE cause-specific HRs; the MI subdistribution HRs are then not constant in time.
- ``"subdistribution"``: the MI ratios ARE subdistribution HRs (Fine & Gray 1999, JASA 94:496,
  §6; Beyersmann et al. 2009, Stat Med 28:956): P(MI ever | x) = 1 - (1 - p)^exp(xβ), with
  MI times from the conditional subdistribution ``F0`` (Weibull, `mi_subdist_scale_years`,
  `mi_subdist_shape`; ``mi.rate`` and ``mi.shape`` are then unused); participants without MI
  die from the CV / non-CV hazards (their ratios are then not those of the observed hazards).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from cohortcalc.errors import SpecError

#: Generating terms (columns of the design built from the baseline data).
TERMS: tuple[str, ...] = (
    "cac_1_100",  # 0 < Agatston <= 100
    "cac_101_400",  # 100 < Agatston <= 400
    "cac_gt_400",  # Agatston > 400
    "cac_positive",  # Agatston > 0
    "ckd",  # eGFR (CKD-EPI 2021) < 60 or UACR >= 30 mg/g
    "cac_pos_x_ckd",  # (Agatston > 0) * ckd: the CAC x CKD interaction
    "age_per_10y",  # (age - 62) / 10
    "male",
    "diabetes",
    "current_smoker",
)
#: Centre of `age_per_10y` (MESA mean age at exam 1, Bild et al. AJE 2002;156:871).
AGE_CENTRE = 62.0

OutcomeModel = Literal["cause_specific", "subdistribution"]


@dataclass(frozen=True)
class HazardModel:
    """Weibull proportional hazard: ``λ(t|x) = rate·shape·t^(shape-1)·exp(Σ log(HR)·x)``."""

    rate: float
    shape: float
    hazard_ratios: dict[str, float]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.hazard_ratios) - set(TERMS))
        if unknown:
            raise SpecError(f"unknown hazard-ratio term(s) {unknown}; known terms: {list(TERMS)}")
        bad = {k: v for k, v in self.hazard_ratios.items() if not v > 0}
        if bad or not (self.rate > 0 and self.shape > 0):
            raise SpecError(f"rates, shapes and hazard ratios must be > 0; got {bad or self}")


def _mi_default() -> HazardModel:
    # CAC categories: the 2.2 / 3.8 / 5.9 (cf. Detrano et al. NEJM 2008;358:1336,
    # MESA coronary events by CAC category). Age/sex/diabetes/CKD: plausible MESA-scale effects.
    return HazardModel(
        rate=0.0008,
        shape=1.1,
        hazard_ratios={
            "cac_1_100": 2.2,
            "cac_101_400": 3.8,
            "cac_gt_400": 5.9,
            "ckd": 1.6,
            "cac_pos_x_ckd": 0.8,
            "age_per_10y": 1.3,
            "male": 1.6,
            "diabetes": 1.7,
        },
    )


def _cv_death_default() -> HazardModel:
    return HazardModel(
        rate=0.0012,
        shape=1.2,
        hazard_ratios={
            "age_per_10y": 2.3,
            "male": 1.6,
            "diabetes": 1.8,
            "ckd": 1.8,
            "current_smoker": 2.0,
            "cac_101_400": 1.3,
            "cac_gt_400": 1.9,
        },
    )


def _noncv_death_default() -> HazardModel:
    return HazardModel(
        rate=0.0034,
        shape=1.2,
        hazard_ratios={
            "age_per_10y": 2.2,
            "male": 1.4,
            "diabetes": 1.5,
            "ckd": 1.6,
            "current_smoker": 2.2,
        },
    )


def _post_mi_death_default() -> HazardModel:
    # Clock restarts at the MI; a few % per year after MI (cf. post-MI mortality in cohorts).
    return HazardModel(
        rate=0.04,
        shape=0.8,
        hazard_ratios={"age_per_10y": 1.9, "diabetes": 1.5, "ckd": 1.7},
    )


@dataclass(frozen=True)
class SynthParams:
    """Everything that defines the synthetic truth. Defaults give a MESA-like cohort.

    CKD is enriched relative to MESA (about a quarter, MESA ~15%) so CKD strata carry events.
    """

    outcome_model: OutcomeModel = "cause_specific"
    mi: HazardModel = field(default_factory=_mi_default)
    cv_death: HazardModel = field(default_factory=_cv_death_default)
    noncv_death: HazardModel = field(default_factory=_noncv_death_default)
    post_mi_death: HazardModel = field(default_factory=_post_mi_death_default)
    post_mi_cv_fraction: float = 0.6
    mi_subdist_p: float = 0.022
    mi_subdist_scale_years: float = 15.0
    mi_subdist_shape: float = 1.1
    loss_to_follow_up_rate: float = 0.01
    baseline_start: str = "2000-07-17"
    baseline_end: str = "2002-07-31"
    administrative_end: str = "2016-12-31"

    def __post_init__(self) -> None:
        if self.outcome_model not in ("cause_specific", "subdistribution"):
            raise SpecError(
                f"outcome_model={self.outcome_model!r}; use 'cause_specific' or 'subdistribution'"
            )
        if not 0 < self.mi_subdist_p < 1 or not 0 <= self.post_mi_cv_fraction <= 1:
            raise SpecError("mi_subdist_p must be in (0, 1), post_mi_cv_fraction in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy of every parameter."""
        return asdict(self)
