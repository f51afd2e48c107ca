"""Model performance: discrimination, prediction error, reclassification and calibration.

Above ``survival/``: these read fits and frames, never the reverse.
"""
