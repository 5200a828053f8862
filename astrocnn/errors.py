"""User-facing error types.

Every mistake a user can make (a bad file, a missing column, an unwritable
output path) raises a subclass of :class:`AstrocnnError` whose message is one
line naming the file (and row) and the reason.  The command-line layer prints
that line and exits non-zero, never a traceback.
"""


class AstrocnnError(Exception):
    """Base class of every error caused by user input."""


class CutoutError(AstrocnnError):
    """A cutout (image file) cannot be read or does not match the model."""


class CatalogError(AstrocnnError):
    """A catalogue cannot be read or lacks a required column."""


class BundleError(AstrocnnError):
    """A model bundle is missing, corrupt, tampered with or of another task."""


class OutputError(AstrocnnError):
    """An output cannot be written."""
