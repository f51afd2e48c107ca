"""The package's error and warning hierarchy.

Every message names the file, column, row or term at fault and says what to do about it.
"""

from __future__ import annotations


class CohortcalcError(Exception):
    """Base class of every error cohortcalc raises on purpose."""


class DictionaryError(CohortcalcError):
    """The data dictionary or a mapping refers to something that is not defined."""


class IngestError(CohortcalcError):
    """A source file cannot be read, mapped or validated."""


class FeatureError(CohortcalcError):
    """A feature cannot be derived: a required input is missing or impossible."""


class DeriveOptionError(FeatureError):
    """An option of ``derive()`` has the wrong type or an impossible value (``option`` names it)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"derive option {option}: {message}")
        self.option = option


class ModelError(CohortcalcError):
    """A model cannot be fitted, or its fit cannot be trusted."""


class SpecError(CohortcalcError):
    """An analysis spec is malformed or does not match the data."""


class OutputError(CohortcalcError):
    """Results cannot be written where asked (a file, no permission, a full disk)."""


class FrameError(CohortcalcError):
    """A frame is of an unsupported kind or lacks a requested column."""


class CohortcalcWarning(UserWarning):
    """Base class of every warning cohortcalc issues."""


class ModelWarning(CohortcalcWarning):
    """A fit finished but part of it deserves scrutiny (e.g. a term running to infinity)."""


class ConvergenceWarning(ModelWarning):
    """Newton-Raphson stopped at the iteration limit before the likelihood converged."""


class DataQualityWarning(CohortcalcWarning):
    """Values are implausible (soft range) but were kept."""
