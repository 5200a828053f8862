"""``astrocnn train --resume`` of a run that already finished.

A job script resubmitted after a wall-time kill always passes ``--resume``; if
the run had finished in the meantime there is no checkpoint left, only the
bundle. The bundle's provenance says whether it is this run's result (same
data, seed, epochs and batch size), in which case there is nothing to do.
"""

from __future__ import annotations

import os
from pathlib import Path

# provenance entries that identify a training run (as astrocnn.engine.train records them)
RUN_KEYS = ("data", "seed", "epochs", "batch_size")


def finished_training(out, run: dict) -> dict | None:
    """The bundle's metadata if ``out`` is the finished result of ``run``, else None.

    Parameters
    ----------
    out : path-like
        The bundle the run writes.
    run : dict
        ``data`` (the catalogue or packed file as given), ``seed``, ``epochs``,
        ``batch_size`` of the run being resumed.

    Returns
    -------
    dict or None
        None when ``out`` does not exist, a checkpoint of an interrupted run
        is still there, or the bundle was trained otherwise (the usual
        checks then apply).
    """
    from astrocnn.errors import AstrocnnError
    from astrocnn.io.bundle import read_meta

    out = Path(out)
    if not out.is_file() or out.with_name(out.name + ".ckpt").exists():
        return None
    try:
        meta = read_meta(out)  # a damaged bundle is not a finished run
    except AstrocnnError:
        return None
    provenance = meta.get("provenance", {})
    if any(_value(key, provenance.get(key)) != _value(key, run.get(key)) for key in RUN_KEYS):
        return None
    return meta


def _value(key, value) -> str:
    # the data path as given, compared without ./ or doubled slashes
    return os.path.normpath(str(value)) if key == "data" and value else str(value)
