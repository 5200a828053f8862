"""Make results strictly JSON-serialisable (NaN and infinity become ``null``).

Metric reports hold NaN where a number is undefined (e.g. the precision of
a class never predicted) and NumPy scalars or arrays; strict JSON
(``json.dump(..., allow_nan=False)``) accepts neither.  :func:`json_safe`
converts such a result once, before it is written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["json_safe"]


def json_safe(obj: Any) -> Any:
    """Make a (nested) result strictly JSON-serialisable.

    Parameters
    ----------
    obj : object
        Typically a metrics dict (e.g. from
        :func:`astrocnn.tasks.classification.metrics.binary_report`); may
        nest dicts, lists, tuples, NumPy scalars and NumPy arrays.

    Returns
    -------
    object
        A new object in which NaN and infinite floats are replaced by
        ``None``, NumPy scalars and arrays become Python numbers and lists,
        tuples become lists and mapping keys become strings.  Other objects
        (str, int, bool, None, ...) are returned unchanged.  The input is
        not modified.

    Examples
    --------
    >>> json_safe({"precision": float("nan"), "tp": 0, "x": [1.0, float("inf")]})
    {'precision': None, 'tp': 0, 'x': [1.0, None]}
    """
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj
