"""survival stage of cohortcalc."""
