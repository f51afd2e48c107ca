"""The rows of a Cox or Fine–Gray fit on a PySpark frame (``survival.engine.CoxRows`` /
``FineGrayRows``): the role columns, the counts the model layer's checks need (one Spark
aggregation), and the sums (``spark.sums``). The checks and their wording are the model
layer's (``survival.checks``); here only how each count is computed in Spark.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from cohortcalc.spark.checks import count_where, group_code
from cohortcalc.spark.design import SparkDesign, as_text, non_finite, read_design
from cohortcalc.spark.riskset import ENTRY, EVENT, STRATUM, TIME, WEIGHT
from cohortcalc.spark.sums import CLUSTER, STATUS, SparkCoxSums, SparkFineGraySums
from cohortcalc.survival.checks import refuse_non_numeric_codes
from cohortcalc.survival.engine import CoxCounts, CoxRequest, FineGrayCounts, FineGrayRequest


class _SparkRows:
    """Shared by both models: the design, the role conditions and the error-path lookups."""

    def __init__(self, design: SparkDesign, numeric_roles: list[str | None], stack: ExitStack):
        self.spark_design, self.stack = design, stack
        self.design = design.info
        self.text_columns = frozenset(
            n for n in numeric_roles if n is not None and not design.is_numeric(n)
        )
        self.conditions: dict[str, Column] = {}

    def first_row(self, check: str) -> int:
        if check.startswith("non_finite:"):
            return self.spark_design.first_row(non_finite(F.col(check.split(":", 1)[1])))
        return self.spark_design.first_row(self.conditions[check])

    def examples(self, check: str) -> list[Any]:
        return []

    def _sides(self, is_event: Column, binary_terms: bool) -> tuple[dict[str, Column], list]:
        """Aggregates of events and rows per factor level (and per side of single 0/1 terms),
        and how to read them back: (term, names, event keys, row keys, binary key)."""
        design, x = self.design, self.spark_design.x_columns
        aggregates: dict[str, Column] = {}
        plans = []
        for t, (term, cols) in enumerate(design.assign.items()):
            dummies = [F.col(x[j]) for j in cols]
            if term in design.levels:
                sides = [sum(dummies) == 0, *(d == 1 for d in dummies)]
                names = tuple(f"{term}[{lv}]" for lv in design.levels[term])
                binary = None
            elif binary_terms and len(cols) == 1:
                sides = [dummies[0] == 0, dummies[0] == 1]
                names = (f"{term} = 0", f"{term} = 1")
                binary = f"t{t}_binary"
                aggregates[binary] = count_where(~dummies[0].isin(0.0, 1.0))
            else:
                continue
            for k, side in enumerate(sides):
                aggregates[f"t{t}_e{k}"] = count_where(is_event & side)
                aggregates[f"t{t}_n{k}"] = count_where(side)
            plans.append((term, names, t, len(sides), binary))
        return aggregates, plans

    @staticmethod
    def _read_sides(stats: Any, plans: list) -> list[tuple]:
        out = []
        for term, names, t, k, binary in plans:
            if binary is not None and stats[binary]:
                continue
            events = tuple(int(stats[f"t{t}_e{i}"]) for i in range(k))
            rows = tuple(int(stats[f"t{t}_n{i}"]) for i in range(k))
            out.append((term, names, events, rows))
        return out


class SparkCoxRows(_SparkRows):
    """``engine.CoxRows`` on a Spark frame."""

    def __init__(self, design: SparkDesign, request: CoxRequest, stack: ExitStack) -> None:
        super().__init__(design, [request.time, request.entry, request.weights], stack)
        self.request = request
        r = request
        t, e = F.col(r.time).cast("double"), F.col(r.entry).cast("double") if r.entry else None
        self.event = F.col(r.event).cast("double")
        self.conditions = {
            "bad_time": t <= 0,
            "bad_event": ~self.event.isin(0.0, 1.0),
        }
        if e is not None:
            self.conditions.update(negative_entry=e < 0, late_entry=e >= t)
        if r.weights is not None:
            self.conditions["bad_weight"] = F.col(r.weights).cast("double") <= 0

    def counts(self) -> CoxCounts:
        r, design = self.request, self.spark_design
        event_type = design.types[r.event]
        if not (design.is_numeric(r.event) or event_type.typeName() == "boolean"):
            values = design.frame.select(r.event).distinct().limit(1000).collect()
            return CoxCounts(
                self.design.n, 0, 0, 0, 0, 0, 0, 0, 0,
                event_text=tuple(sorted(str(v[0]) for v in values)),
            )  # fmt: skip
        d = self.event
        aggregates: dict[str, Column] = {
            "n_events": count_where(d == 1),
            **{name: count_where(condition) for name, condition in self.conditions.items()},
        }
        for name in (r.time, r.entry, r.weights):
            if name is not None:
                aggregates[f"non_finite:{name}"] = count_where(non_finite(F.col(name)))
        if r.weights is not None:
            w = F.col(r.weights).cast("double")
            aggregates["fractional_weights"] = count_where(w != F.floor(w))
        if r.cluster is not None:
            aggregates["n_clusters"] = F.countDistinct(r.cluster)
        sides, plans = self._sides(d == 1, binary_terms=False)
        stats = design.frame.agg(*(v.alias(k) for k, v in {**aggregates, **sides}.items())).first()
        assert stats is not None
        values = stats.asDict()
        levels = tuple(
            (term, (f"{names[0]} (reference)", *names[1:]), events)
            for term, names, events, _ in self._read_sides(stats, plans)
        )
        return CoxCounts(
            n_rows=self.design.n,
            n_events=int(values["n_events"] or 0),
            bad_time=int(values["bad_time"] or 0),
            bad_event=int(values["bad_event"] or 0),
            negative_entry=int(values.get("negative_entry") or 0),
            late_entry=int(values.get("late_entry") or 0),
            bad_weight=int(values.get("bad_weight") or 0),
            fractional_weights=int(values.get("fractional_weights") or 0),
            n_clusters=int(values.get("n_clusters") or 0),
            non_finite={k.split(":", 1)[1]: int(v or 0) for k, v in values.items() if ":" in k},
            level_events=levels,
        )

    def examples(self, check: str) -> list[Any]:
        bad = self.spark_design.frame.filter(self.conditions[check]).select(self.event)
        return sorted(row[0] for row in bad.distinct().collect())[:5]

    def sums(self) -> SparkCoxSums:
        r, design = self.request, self.spark_design
        design.refuse_constant_columns()
        stratum, n_strata = group_code(design.frame, r.strata) if r.strata else (F.lit(0), 1)
        columns: list[Column] = [
            *(F.col(c) for c in design.x_columns),
            F.col(r.time).cast("double").alias(TIME),
            self.event.alias(EVENT),
            (F.col(r.weights).cast("double") if r.weights else F.lit(1.0)).alias(WEIGHT),
            (F.col(r.entry).cast("double") if r.entry else F.lit(0.0)).alias(ENTRY),
            stratum.alias(STRATUM),
        ]
        if r.cluster is not None:
            columns.append(F.col(r.cluster).alias(CLUSTER))
        rows = design.frame.select(*columns)
        return SparkCoxSums.build(
            rows, design.x_columns, n_strata, r.entry is not None, r.cluster is not None, self.stack
        )

    def fit_data(self, sums: Any, beta: Any) -> None:
        return None  # the rows stay in Spark: cc.ph_test refuses with its own message


@contextmanager
def cox_rows(frame: DataFrame, request: CoxRequest) -> Iterator[SparkCoxRows]:
    """``engine.Engine.cox_rows`` for a PySpark frame."""
    with ExitStack() as stack:
        design = stack.enter_context(read_design(frame, request.spec, request.columns))
        yield SparkCoxRows(design, request, stack)


class SparkFineGrayRows(_SparkRows):
    """``engine.FineGrayRows`` on a Spark frame."""

    def __init__(self, design: SparkDesign, request: FineGrayRequest, stack: ExitStack) -> None:
        super().__init__(design, [request.time, request.weights], stack)
        self.request = request
        self.conditions = {"bad_time": F.col(request.time).cast("double") <= 0}
        if request.weights is not None:
            self.conditions["bad_weight"] = F.col(request.weights).cast("double") <= 0

    def _status(self, codes: list[Any]) -> Column:
        """0/1/2 (censored/cause/competing) as a Spark column."""
        r, design = self.request, self.spark_design
        if design.is_numeric(r.event):
            refuse_non_numeric_codes(r, codes)
            value = F.col(r.event).cast("double")
            cause, censored = F.lit(float(r.cause)), F.lit(float(r.censor_code))
        else:
            value = as_text(F.col(r.event), design.types[r.event])
            cause, censored = F.lit(str(r.cause)), F.lit(str(r.censor_code))
        return F.when(value == censored, 0).when(value == cause, 1).otherwise(2)

    def counts(self) -> FineGrayCounts:
        r, design = self.request, self.spark_design
        codes = sorted(row[0] for row in design.frame.select(r.event).distinct().collect())
        if design.is_numeric(r.event):
            codes = [int(c) if float(c).is_integer() else float(c) for c in codes]
        else:
            codes = [str(c) for c in codes]
        self.status = self._status(codes)
        status = self.status
        aggregates: dict[str, Column] = {
            "n_cause": count_where(status == 1),
            "n_competing": count_where(status == 2),
            "n_censored": count_where(status == 0),
            **{name: count_where(condition) for name, condition in self.conditions.items()},
        }
        for name in (r.time, r.weights):
            if name is not None:
                aggregates[f"non_finite:{name}"] = count_where(non_finite(F.col(name)))
        sides, plans = self._sides(status == 1, binary_terms=True)
        stats = design.frame.agg(*(v.alias(k) for k, v in {**aggregates, **sides}.items())).first()
        assert stats is not None
        values = stats.asDict()
        return FineGrayCounts(
            n_rows=self.design.n,
            bad_time=int(values["bad_time"] or 0),
            bad_weight=int(values.get("bad_weight") or 0),
            n_cause=int(values["n_cause"] or 0),
            n_competing=int(values["n_competing"] or 0),
            n_censored=int(values["n_censored"] or 0),
            codes=tuple(codes),
            competing=tuple(c for c in codes if not self._is_cause_or_censor(c)),
            non_finite={k.split(":", 1)[1]: int(v or 0) for k, v in values.items() if ":" in k},
            sides=tuple(self._read_sides(stats, plans)),
        )

    def _is_cause_or_censor(self, code: Any) -> bool:
        r = self.request
        if isinstance(code, str):
            return code in (str(r.cause), str(r.censor_code))
        return float(code) in (float(r.cause), float(r.censor_code))

    def sums(self) -> SparkFineGraySums:
        r, design = self.request, self.spark_design
        design.refuse_constant_columns()
        stratum, _ = group_code(design.frame, r.strata) if r.strata else (F.lit(0), 1)
        rows = design.frame.select(
            *design.x_columns,
            F.col(r.time).cast("double").alias(TIME),
            self.status.alias(STATUS),
            (F.col(r.weights).cast("double") if r.weights else F.lit(1.0)).alias(WEIGHT),
            stratum.alias(STRATUM),
        )
        return SparkFineGraySums.build(rows, design.x_columns, self.stack)

    def fit_data(self, data: Any, beta: Any) -> None:
        return None  # the rows stay in Spark


@contextmanager
def finegray_rows(frame: DataFrame, request: FineGrayRequest) -> Iterator[SparkFineGrayRows]:
    """``engine.Engine.finegray_rows`` for a PySpark frame."""
    with ExitStack() as stack:
        design = stack.enter_context(read_design(frame, request.spec, request.columns))
        yield SparkFineGrayRows(design, request, stack)


__all__ = ["cox_rows", "finegray_rows"]
