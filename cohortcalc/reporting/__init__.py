"""reporting stage of cohortcalc."""
