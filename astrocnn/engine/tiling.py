"""Predict maps larger than a network's training size by blending overlapping tiles.

A fully convolutional network trained on ``tile x tile`` maps can be run on
a bigger map tile by tile, but its outputs are least reliable near the tile
borders (zero padding, missing context).  :func:`predict_tiled` cuts
overlapping tiles, predicts them in batches and blends the overlapping
outputs with a smooth weight, so there are no seams.

Tile placement
--------------
Along an axis of length ``H``, with stride at most ``tile - overlap``:

* ``periodic=True``: the map is a torus.  ``n = ceil(H / (tile - overlap))``
  tiles start at ``round(i * H / n) - overlap // 2``; a tile may straddle the
  boundary (its pixels are taken modulo ``H``), and its output is folded back
  the same way.  A map smaller than a tile is simply repeated.
* ``periodic=False``: the map is extended by half-sample mirror reflection
  (``numpy.pad(mode="symmetric")``), so the map edges sit ``overlap // 2``
  pixels inside the first and last tiles (an edge is treated like a seam);
  the tiles evenly cover ``[-overlap // 2, H + overlap // 2)``.  Outputs on
  the reflected margin are discarded.

Blending window
---------------
Each tile's output is multiplied by a separable weight ``w(i) w(j)`` with

.. math::  w(i) = \\min\\big(1, \\sin^2(\\tfrac{\\pi}{2} \\tfrac{i + 1/2}{o}),
           \\sin^2(\\tfrac{\\pi}{2} \\tfrac{t - i - 1/2}{o})\\big)

(``t`` the tile size, ``o`` the overlap): 1 in the middle, a squared-sine
ramp over the ``o`` pixels at each border, and positive everywhere (the
border pixel has weight :math:`\\sin^2(\\pi / 4o)`).  Two ramps that overlap by
exactly ``o`` pixels sum to 1 (:math:`\\sin^2 + \\cos^2`).  The blended map is
``sum(w * out) / sum(w)``, so any pointwise prediction is reproduced exactly
(up to round-off) and a tile-border pixel contributes only a small fraction
of its (unreliable) value where another tile covers it.  With
``overlap = 0`` the tiles abut and are not blended.

Memory: the input is never copied or padded as a whole; tiles are gathered
with index arrays in batches of ``batch_size``, and only the output and the
weight sum (over the map plus at most one tile of margin) are accumulated.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["blend_window", "predict_tiled", "tile_origins"]


def blend_window(tile: int, overlap: int) -> np.ndarray:
    """One-dimensional blending weight of a tile (see the module notes).

    Parameters
    ----------
    tile : int
        Tile size in pixels.
    overlap : int
        Width of the squared-sine ramp at each border, ``0 <= overlap < tile``.

    Returns
    -------
    numpy.ndarray
        ``(tile,)`` float64 weights in (0, 1].
    """
    tile, overlap = _check_tile(tile, overlap)
    if overlap == 0:
        return np.ones(tile)
    i = np.arange(tile) + 0.5
    rise = np.sin(0.5 * math.pi * np.minimum(i / overlap, 1.0)) ** 2
    fall = np.sin(0.5 * math.pi * np.minimum((tile - i) / overlap, 1.0)) ** 2
    return np.minimum(rise, fall)


def _check_tile(tile: int, overlap: int) -> tuple[int, int]:
    if isinstance(tile, bool) or int(tile) != tile or tile < 1:
        raise ValueError(f"tile must be a positive integer, got {tile!r}")
    if isinstance(overlap, bool) or int(overlap) != overlap or not (0 <= overlap < tile):
        raise ValueError(f"overlap must be an integer with 0 <= overlap < tile, got {overlap!r}")
    return int(tile), int(overlap)


def tile_origins(length: int, tile: int, overlap: int, *, periodic: bool) -> np.ndarray:
    """Start positions of the tiles along one axis (may be negative or wrap).

    Parameters
    ----------
    length : int
        Length of the axis, pixels.
    tile, overlap : int
        Tile size and minimum overlap, pixels.
    periodic : bool
        Placement on a periodic axis or on a mirror-extended one (see the
        module notes).

    Returns
    -------
    numpy.ndarray
        Integer origins, increasing.
    """
    tile, overlap = _check_tile(tile, overlap)
    if length < 1:
        raise ValueError(f"length must be positive, got {length}")
    stride = tile - overlap
    margin = overlap // 2
    if periodic:
        n = max(1, math.ceil(length / stride))
        return np.array([round(i * length / n) - margin for i in range(n)], dtype=np.int64)
    lo, hi = -margin, length + margin
    span = hi - lo
    if span <= tile:
        return np.array([lo - (tile - span) // 2], dtype=np.int64)
    n = 1 + math.ceil((span - tile) / stride)
    return np.rint(np.linspace(lo, hi - tile, n)).astype(np.int64)


def _symmetric_index(idx: np.ndarray, length: int) -> np.ndarray:
    """Map indices onto [0, length) by half-sample mirror reflection (period 2 length)."""
    j = np.mod(idx, 2 * length)
    return np.where(j >= length, 2 * length - 1 - j, j)


def predict_tiled(
    predict_fn: Callable[[np.ndarray], ArrayLike],
    image: ArrayLike,
    tile: int,
    *,
    overlap: int,
    periodic: bool,
    batch_size: int = 16,
) -> np.ndarray:
    """Predict a map of any size with a tile-size network, blending overlapping tiles.

    Parameters
    ----------
    predict_fn : callable
        Maps a batch of tiles ``(b, tile, tile, C_in)`` to outputs
        ``(b, tile, tile, C_out)`` (e.g. ``lambda x: model.predict(x,
        verbose=0)``); called with ``b <= batch_size``, float32 tiles if
        ``image`` is float32 (otherwise ``image``'s dtype).
    image : array_like
        The map, ``(H, W, C_in)`` (a 2-D ``(H, W)`` map is one channel).  ``H``
        and ``W`` need not be multiples of ``tile`` and may be smaller.
    tile : int
        Tile size the network expects, pixels.
    overlap : int
        Minimum overlap between neighbouring tiles, and width of the blending
        ramp, ``0 <= overlap < tile``.  Choose it larger than the width over
        which the network's border pixels are unreliable (a few times its
        receptive-field radius, e.g. ``tile // 4``).
    periodic : bool
        ``True`` for a periodic map (tiles wrap around the edges);
        ``False`` to extend the map by mirror reflection.
    batch_size : int, optional
        Number of tiles per call of ``predict_fn``.

    Returns
    -------
    numpy.ndarray
        ``(H, W, C_out)`` blended prediction, of the floating dtype of
        ``predict_fn``'s output (at least float32).

    Raises
    ------
    ValueError
        If the arguments are invalid or ``predict_fn`` returns a wrongly
        shaped or non-finite output.
    """
    tile, overlap = _check_tile(tile, overlap)
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[0] < 1 or img.shape[1] < 1 or img.shape[2] < 1:
        raise ValueError(f"image must be (H, W, C) or (H, W), got shape {np.shape(image)}")
    if not np.issubdtype(img.dtype, np.floating):
        img = img.astype(np.float32)
    height, width = img.shape[:2]

    oy = tile_origins(height, tile, overlap, periodic=periodic)
    ox = tile_origins(width, tile, overlap, periodic=periodic)
    # Extended canvas covering every tile: [y0, y1) x [x0, x1) in map coordinates.
    y0, x0 = int(oy[0]), int(ox[0])
    ext_h, ext_w = int(oy[-1]) + tile - y0, int(ox[-1]) + tile - x0
    w1 = blend_window(tile, overlap)
    w2 = (w1[:, None] * w1[None, :])[..., None]
    offsets = np.arange(tile)

    def rows_of(o: int) -> np.ndarray:
        idx = o + offsets
        return np.mod(idx, height) if periodic else _symmetric_index(idx, height)

    def cols_of(o: int) -> np.ndarray:
        idx = o + offsets
        return np.mod(idx, width) if periodic else _symmetric_index(idx, width)

    origins = [(int(a), int(b)) for a in oy for b in ox]
    acc: np.ndarray | None = None
    wsum = np.zeros((ext_h, ext_w, 1))
    out_dtype = None
    for start in range(0, len(origins), int(batch_size)):
        batch = origins[start : start + int(batch_size)]
        tiles = np.stack([img[np.ix_(rows_of(a), cols_of(b))] for a, b in batch])
        pred = np.asarray(predict_fn(tiles))
        if pred.ndim != 4 or pred.shape[:3] != (len(batch), tile, tile):
            raise ValueError(
                f"predict_fn returned shape {pred.shape} for tiles of shape {tiles.shape}; "
                f"expected ({len(batch)}, {tile}, {tile}, C_out)"
            )
        if not np.all(np.isfinite(pred)):
            raise ValueError("predict_fn returned NaN or infinite values")
        if acc is None:
            acc = np.zeros((ext_h, ext_w, pred.shape[-1]))
            out_dtype = np.result_type(pred.dtype, np.float32)
        elif pred.shape[-1] != acc.shape[-1]:
            raise ValueError("predict_fn returned a different number of channels across batches")
        for (a, b), p in zip(batch, pred, strict=True):
            sy, sx = a - y0, b - x0
            acc[sy : sy + tile, sx : sx + tile] += w2 * p
            wsum[sy : sy + tile, sx : sx + tile] += w2
    assert acc is not None  # at least one tile

    if periodic:
        acc = _fold(_fold(acc, y0, height, axis=0), x0, width, axis=1)
        wsum = _fold(_fold(wsum, y0, height, axis=0), x0, width, axis=1)
    else:
        acc = acc[-y0 : -y0 + height, -x0 : -x0 + width]
        wsum = wsum[-y0 : -y0 + height, -x0 : -x0 + width]
    return (acc / wsum).astype(out_dtype, copy=False)


def _fold(arr: np.ndarray, start: int, length: int, *, axis: int) -> np.ndarray:
    """Sum an extended periodic canvas starting at ``start`` back onto [0, length)."""
    out_shape = list(arr.shape)
    out_shape[axis] = length
    out = np.zeros(out_shape, dtype=arr.dtype)
    size = arr.shape[axis]
    pos = 0
    while pos < size:
        target = (start + pos) % length
        n = min(length - target, size - pos)
        src = [slice(None)] * arr.ndim
        dst = [slice(None)] * arr.ndim
        src[axis] = slice(pos, pos + n)
        dst[axis] = slice(target, target + n)
        out[tuple(dst)] += arr[tuple(src)]
        pos += n
    return out
