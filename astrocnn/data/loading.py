"""Load the cutouts a catalogue (or a list of files) names, in parallel, row by row.

A row that cannot be read never stops the run: it gets ``status='error'`` and
a one-line ``reason`` naming the row and the file, and every good row is
still loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from astrocnn.errors import AstrocnnError
from astrocnn.io.cutouts import CutoutSpec, read_cutout

STATUS_OK = "ok"
STATUS_ERROR = "error"


@dataclass
class LoadedBlock:
    """Images of a block of consecutive rows.

    Attributes
    ----------
    start : int
        Index of the first row of the block.
    images : numpy.ndarray
        (n, H, W, C) float32; rows that failed hold zeros.
    ok : numpy.ndarray
        Boolean mask of rows that were read.
    reasons : list of str
        Empty string for good rows, else the reason.
    n_nonfinite : numpy.ndarray
        Non-finite pixels replaced per row.
    """

    start: int
    images: np.ndarray
    ok: np.ndarray
    reasons: list[str]
    n_nonfinite: np.ndarray


def default_workers() -> int:
    """Reader threads: FITS decoding releases the GIL in fitsio and numpy."""
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


def _read_one(paths, spec, row_label):
    try:
        cut = read_cutout(paths, spec)
        return cut.data, cut.n_nonfinite, ""
    except AstrocnnError as exc:
        return None, 0, f"{row_label}: {exc}"
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bad file must not stop a catalogue run
        return (
            None,
            0,
            f"{row_label}: {paths[0]}: unexpected read failure ({type(exc).__name__}: {exc})",
        )


def iter_blocks(
    paths: Sequence[Sequence[str]],
    spec: CutoutSpec,
    *,
    block_size: int = 1024,
    workers: int | None = None,
    row_labels: Sequence[str] | None = None,
    progress=None,
) -> Iterator[LoadedBlock]:
    """Read cutouts block by block with a thread pool; memory stays bounded.

    Parameters
    ----------
    paths : sequence of sequence of str
        Per row, the file (or one file per band).
    spec : CutoutSpec
        Band count, size and layout the model expects.
    block_size : int
        Rows per block.
    workers : int, optional
        Reader threads (default :func:`default_workers`).
    row_labels : sequence of str, optional
        Label of each row in error messages (e.g. ``"row 12 (id 4031)"``).
    progress : callable, optional
        Called with the number of rows finished after each block.

    Yields
    ------
    LoadedBlock
    """
    workers = workers or default_workers()
    n = len(paths)
    labels = row_labels or [f"row {i}" for i in range(n)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = None
        for start in range(0, n, block_size):
            stop = min(n, start + block_size)
            futures = pool.map(
                _read_one,
                [paths[i] for i in range(start, stop)],
                [spec] * (stop - start),
                [labels[i] for i in range(start, stop)],
            )
            # keep one block in flight while the caller works on the previous one
            if pending is not None:
                yield _assemble(*pending, spec)
                if progress:
                    progress(len(pending[1]))
            pending = (start, list(futures))
        if pending is not None:
            yield _assemble(*pending, spec)
            if progress:
                progress(len(pending[1]))


def _assemble(start, results, spec: CutoutSpec) -> LoadedBlock:
    n = len(results)
    images = np.zeros((n, *spec.size, spec.n_bands), dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    nonfinite = np.zeros(n, dtype=np.int64)
    reasons = []
    for i, (data, n_bad, reason) in enumerate(results):
        if data is not None:
            images[i] = data
            ok[i] = True
            nonfinite[i] = n_bad
        reasons.append(reason)
    return LoadedBlock(start, images, ok, reasons, nonfinite)


def load_all(paths, spec: CutoutSpec, **kwargs) -> LoadedBlock:
    """Read every row into one block (for training sets that fit in memory)."""
    blocks = list(iter_blocks(paths, spec, **kwargs))
    if not blocks:
        return LoadedBlock(
            0,
            np.zeros((0, *spec.size, spec.n_bands), np.float32),
            np.zeros(0, bool),
            [],
            np.zeros(0, np.int64),
        )
    return LoadedBlock(
        0,
        np.concatenate([b.images for b in blocks]),
        np.concatenate([b.ok for b in blocks]),
        [r for b in blocks for r in b.reasons],
        np.concatenate([b.n_nonfinite for b in blocks]),
    )


def row_labels(table, source: str | None = None) -> list[str]:
    """Human labels for each catalogue row: ``'<catalogue> row 3 (id 17)'``."""
    prefix = f"{source} " if source else ""
    ids = table["id"] if "id" in table.colnames else range(len(table))
    return [f"{prefix}row {i} (id {v})" for i, v in enumerate(ids)]
