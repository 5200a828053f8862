"""astrocnn: convolutional neural networks for astronomical images.

Importing this package is cheap: TensorFlow is only imported by the modules
that run a network (see :mod:`astrocnn._tf`).
"""

__version__ = "0.1.0"

from astrocnn.errors import AstrocnnError  # noqa: E402

__all__ = ["AstrocnnError", "__version__"]
