"""Sizes the FITS standard fixes (FITS 4.0, section 3.1)."""

FITS_BLOCK = 2880
"""Bytes in a FITS block: every header and data unit is padded to whole blocks."""
