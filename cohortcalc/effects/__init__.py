"""Effect measures read from fitted models; they read ``survival`` results, never the reverse."""
