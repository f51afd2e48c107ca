"""Turn row-level violations into one FeatureError naming the column/participants at fault."""

from __future__ import annotations

import narwhals as nw

from cohortcalc.errors import FeatureError

MAX_IDS_SHOWN = 5


def violation_counts(frame: nw.LazyFrame, checks: dict[str, nw.Expr]) -> nw.LazyFrame:
    """One row: for each of ``checks`` (description -> condition), how many rows meet it."""
    return frame.select(
        *[
            nw.when(condition).then(1).otherwise(0).sum().alias(f"check_{i}")
            for i, condition in enumerate(checks.values())
        ]
    )


def raise_violations(
    frame: nw.LazyFrame,
    checks: dict[str, nw.Expr],
    id_column: str | None,
    where: str,
    counts: nw.LazyFrame | None = None,
) -> None:
    """Raise FeatureError if any ``checks`` condition holds on some row of ``frame``.

    ``checks`` maps a description ("serum_creatinine <= 0") to a boolean expression; one query
    counts every condition (or ``counts``, the result of ``violation_counts``, computed
    earlier), and only failing ones are queried again for example ids.
    """
    if not checks:
        return
    row = (violation_counts(frame, checks) if counts is None else counts).collect()
    totals = [int(row[f"check_{i}"][0] or 0) for i in range(len(checks))]
    failed = {text: n for text, n in zip(checks, totals, strict=True) if n > 0}
    if not failed:
        return
    lines = []
    for text, count in failed.items():
        example = ""
        if id_column is not None:
            offending = frame.filter(checks[text]).select(id_column).sort(id_column)
            rows = offending.head(MAX_IDS_SHOWN).collect()
            shown = ", ".join(str(v) for v in rows[id_column].to_list())
            label = "row (0-based)" if id_column == "__cohortcalc_row" else id_column
            example = f" ({label} {shown}{', ...' if count > MAX_IDS_SHOWN else ''})"
        lines.append(f"  {text}: {count} row(s){example}")
    raise FeatureError(
        f"impossible or contradictory values in {where}:\n" + "\n".join(lines) + "\n"
        "Correct or remove these records (missing values should be null) and derive again."
    )
