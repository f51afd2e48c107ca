"""features stage of cohortcalc."""
