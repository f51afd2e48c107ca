"""ingest stage of cohortcalc."""
