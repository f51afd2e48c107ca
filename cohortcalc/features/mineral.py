"""Mineral metabolism: albumin-corrected calcium, calcium-phosphate product, abnormality flags.

Flags are null where their input is missing, never a silent False.
"""

from __future__ import annotations

import narwhals as nw

from cohortcalc.features._expr import known_flag

# Payne RB et al., Br Med J 1973;4:643-6: corrected Ca = Ca + 0.8 x (4.0 - albumin),
# calcium in mg/dL, albumin in g/dL.
PAYNE_SLOPE = 0.8
PAYNE_REFERENCE_ALBUMIN_G_DL = 4.0
# Upper reference limit of total serum calcium (8.5-10.5 mg/dL), applied to corrected calcium.
HYPERCALCEMIA_ABOVE_MG_DL = 10.5
# KDOQI 2003 bone-metabolism guideline (Am J Kidney Dis 2003;42 Suppl 3), guideline 6:
# Ca x P product < 55 mg^2/dL^2 and phosphate 3.5-5.5 mg/dL in stage 5 CKD.
HYPERPHOSPHATEMIA_ABOVE_MG_DL = 5.5
CA_X_P_ABOVE_MG2_DL2 = 55.0
# Usual adult upper reference limit of alkaline phosphatase (40-120 U/L).
ALKALINE_PHOSPHATASE_ABOVE_U_L = 120.0
# Holick MF et al., J Clin Endocrinol Metab 2011;96:1911-30 (Endocrine Society): 25(OH)D
# deficiency < 20 ng/mL, insufficiency 20-29.9 ng/mL.
VITAMIN_D_DEFICIENCY_BELOW_NG_ML = 20.0
VITAMIN_D_INSUFFICIENCY_BELOW_NG_ML = 30.0
# Upper reference limit of second-generation intact PTH assays (15-65 pg/mL).
PTH_ABOVE_PG_ML = 65.0


def corrected_calcium(calcium: nw.Expr, albumin: nw.Expr) -> nw.Expr:
    """Albumin-corrected calcium (mg/dL) = Ca + 0.8 x (4.0 - albumin g/dL).

    Payne RB et al., Br Med J 1973;4:643-6.
    """
    return calcium + PAYNE_SLOPE * (PAYNE_REFERENCE_ALBUMIN_G_DL - albumin)


def ca_x_p(calcium: nw.Expr, phosphate: nw.Expr) -> nw.Expr:
    """Calcium-phosphate product (mg^2/dL^2) = measured serum Ca x serum phosphate (mg/dL).

    KDOQI 2003 bone-metabolism guideline (Am J Kidney Dis 2003;42 Suppl 3), guideline 6.
    """
    return calcium * phosphate


def above(value: nw.Expr, threshold: float) -> nw.Expr:
    """Flag value > threshold (null when the value is missing); thresholds are named above.

    Sources: see the constants of this module.
    """
    return known_flag(value, value > threshold)


def vitamin_d_insufficiency(vitamin_d: nw.Expr) -> nw.Expr:
    """25(OH)D insufficiency: 20 <= 25(OH)D < 30 ng/mL (deficiency is flagged separately).

    Holick MF et al., J Clin Endocrinol Metab 2011;96:1911-30.
    """
    return known_flag(
        vitamin_d,
        (vitamin_d >= VITAMIN_D_DEFICIENCY_BELOW_NG_ML)
        & (vitamin_d < VITAMIN_D_INSUFFICIENCY_BELOW_NG_ML),
    )


def vitamin_d_deficiency(vitamin_d: nw.Expr) -> nw.Expr:
    """25(OH)D deficiency: 25(OH)D < 20 ng/mL.

    Holick MF et al., J Clin Endocrinol Metab 2011;96:1911-30.
    """
    return known_flag(vitamin_d, vitamin_d < VITAMIN_D_DEFICIENCY_BELOW_NG_ML)
