"""synth stage of cohortcalc."""
