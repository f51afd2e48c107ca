"""Feature builders: coronary calcium, kidney function, mineral indices, outcomes; derive()."""

from cohortcalc.features.cac import agatston, agatston_density_weight, cac_category, log_cac
from cohortcalc.features.derive import derive
from cohortcalc.features.kidney import (
    ckd_stage_a,
    ckd_stage_g,
    egfr_ckd_epi_2021,
    egfr_ckd_epi_2021_cr_cys,
)
from cohortcalc.features.mineral import ca_x_p, corrected_calcium

__all__ = [
    "agatston",
    "agatston_density_weight",
    "ca_x_p",
    "cac_category",
    "ckd_stage_a",
    "ckd_stage_g",
    "corrected_calcium",
    "derive",
    "egfr_ckd_epi_2021",
    "egfr_ckd_epi_2021_cr_cys",
    "log_cac",
]
