"""Turn row-level violations into one FeatureError naming the column/participants at fault."""

from __future__ import annotations

import narwhals as nw

from cohortcalc.errors import FeatureError

MAX_IDS_SHOWN = 5


def raise_violations(
    frame: nw.LazyFrame, checks: dict[str, nw.Expr], id_column: str | None, where: str
) -> None:
    """Raise FeatureError if any ``checks`` condition holds on some row of ``frame``.

    ``checks`` maps a description ("serum_creatinine <= 0") to a boolean expression; one query
    counts every condition, and only failing ones are queried again for example ids.
    """
    if not checks:
        return
    names = {f"check_{i}": text for i, text in enumerate(checks)}
    counts = frame.select(
        **{
            key: nw.when(condition).then(1).otherwise(0).sum()
            for key, condition in zip(names, checks.values(), strict=True)
        }
    ).collect()
    failed = {key: int(counts[key][0] or 0) for key in names if (counts[key][0] or 0) > 0}
    if not failed:
        return
    lines = []
    for key, count in failed.items():
        text = names[key]
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
