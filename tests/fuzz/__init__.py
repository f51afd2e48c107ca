"""Hostile and broken input: issue reproductions, fuzzing, kill drills."""
