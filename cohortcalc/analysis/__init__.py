"""analysis stage of cohortcalc."""
