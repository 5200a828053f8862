"""``astrocnn predict TASK --out OUTDIR`` for image-to-image tasks: maps of any size.

For tasks whose outputs are whole maps (prediction mode ``"maps"``, e.g. painting
gas onto dark matter), each input map is

1. read from a FITS file (one image HDU per input channel, or a cube) or a
   ``.npy`` array (one map ``(H, W)``, or a CAMELS-like stack ``(n, H, W)``
   giving one row per map);
2. predicted tile by tile at the network's training size with overlapping
   tiles blended by a smooth window (periodic wrap-around for periodic maps;
   :mod:`astrocnn.engine.tiling`), so any size is possible and memory is bounded;
3. written as ``OUTDIR/<id>.fits``, one HDU per output channel with its name
   and unit, keeping the input's header cards that still apply (WCS, box
   size, ...);

and ``OUTDIR/catalog.fits`` lists ``id``, ``file``, ``status`` and
``reason`` (a bad map never stops the run).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astrocnn.data.preprocess import scaler_from_dict
from astrocnn.engine.inference import CompiledModel, compiled_model, require_tta_support
from astrocnn.errors import AstrocnnError, CutoutError, OutputError
from astrocnn.io.catalog import write_table
from astrocnn.io.cutouts import read_cutout
from astrocnn.io.fits.headers import write_image_file
from astrocnn.io.products import unique_file_names

# header cards describing the data array or its layout: never copied to outputs
_STRUCTURAL = {
    "SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND", "EXTNAME", "BUNIT",
    "BSCALE", "BZERO", "PCOUNT", "GCOUNT", "XTENSION", "CHECKSUM", "DATASUM", "COMMENT",
    "HISTORY", "", "BLANK", "DATAMIN", "DATAMAX",
}  # fmt: skip


MAX_SINGLE_PASS = 1024 * 1024  # pixels predicted in one pass (~0.5 GB for a small U-Net)
FACTOR = 8  # the U-Net's input sides must be multiples of this (3 poolings)


@dataclass
class MapItem:
    """One input map: its id, file and (for ``.npy`` stacks) index in the stack."""

    id: object
    path: str
    index: int | None = None


def items_from_files(files) -> list:
    """Map items for files given on the command line (a ``.npy`` stack gives several)."""
    items = []
    for f in files:
        f = os.fspath(f)
        stack = None
        if f.endswith(".npy") and os.path.exists(f):
            try:
                stack = np.load(f, mmap_mode="r")
            except (OSError, ValueError):
                stack = None  # reported when the map is read
        if stack is not None and stack.ndim == 3:
            stem = Path(f).stem
            items.extend(MapItem(f"{stem}_{i}", f, i) for i in range(stack.shape[0]))
        else:
            items.append(MapItem(Path(f).name.split(".")[0], f, None))
    return items


def items_from_source(source) -> list:
    """Map items for the rows of a catalogue :class:`~astrocnn.engine.sources.Source`."""
    return [MapItem(i, paths[0], None) for i, paths in zip(source.table["id"], source.paths)]


def map_items(files, catalog, bands, file_columns=None) -> list:
    """Map items of a catalogue's rows (``catalog``), else of the ``files`` given."""
    if catalog:
        from astrocnn.engine.sources import from_catalog

        return items_from_source(from_catalog(catalog, bands, file_columns))
    return items_from_files(files)


def read_map(item: MapItem, n_channels: int):
    """Read one map as (H, W, C) float32 and the header to carry (or ``None``).

    Raises
    ------
    CutoutError
        Missing or unreadable file, wrong dimensions or channel count,
        non-finite pixels.
    """
    path = item.path
    header = None
    if path.endswith(".npy"):
        if not os.path.exists(path):
            raise CutoutError(f"{path}: file not found")
        try:
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise CutoutError(f"{path}: not a readable .npy file ({exc})") from None
        if item.index is not None:
            array = array[item.index]
        if array.ndim != 2 or n_channels != 1:
            raise CutoutError(
                f"{path}: a .npy map must be 2-D (H, W), or a 3-D stack (n, H, W) of "
                f"single-channel maps; got shape {array.shape} for a {n_channels}-channel model"
            )
        data = np.asarray(array, dtype=np.float32)[..., None]
    else:
        data = read_cutout(path).data
        if data.shape[-1] != n_channels:
            raise CutoutError(
                f"{path}: has {data.shape[-1]} channel(s) but the model expects {n_channels}"
            )
        from astropy.io import fits

        header = fits.getheader(path)
    if not np.all(np.isfinite(data)):
        raise CutoutError(f"{path}: map has NaN or infinite pixels")
    return data, header


def _carried_cards(header):
    from astropy.io import fits

    out = fits.Header()
    if header is None:
        return out
    for card in header.cards:
        if card.keyword not in _STRUCTURAL and not card.keyword.startswith("NAXIS"):
            out.append(card)
    return out


def write_map_file(path, channels: dict, header=None, cards=None) -> Path:
    """Write ``{name: (H, W) array}`` (+ unit) as one HDU per channel, atomically.

    ``channels`` maps names to ``(array, unit)``; the first is the primary HDU.
    Every HDU carries the input ``header``'s cards that still apply and
    ``cards``; the file is byte for byte what ``astropy.io.fits`` writes, with
    the headers of a repeated layout reused
    (:func:`astrocnn.io.fits.headers.write_image_file`: ~6 ms -> ~0.5 ms a map).
    """
    images = [(name, np.asarray(a, np.float32), unit) for name, (a, unit) in channels.items()]
    return write_image_file(path, images, _carried_cards(header), cards)


def predict_map(
    model,
    scaler,
    data,
    tile,
    *,
    periodic,
    batch_size=16,
    max_pixels=None,
    tile_model=None,
    bundle=None,
    tta=False,
    task=None,
):
    """Raw network outputs for one map (H, W, C_in) -> (H, W, C_out).

    A map whose sides are multiples of ``FACTOR`` and with at most
    ``max_pixels`` pixels (default ``MAX_SINGLE_PASS``) goes through the
    (fully convolutional) network in one pass, which for a periodic map wraps
    around exactly.  Larger maps, or other sizes, are predicted in tiles of
    ``tile`` pixels overlapping by ``tile // 2`` and blended with a smooth
    window (:func:`astrocnn.engine.tiling.predict_tiled`), with ``tile_model``
    (default ``model``); memory is then bounded by ``batch_size`` tiles.
    With ``bundle`` (whose network ``model`` is), the compiled graphs are
    kept in the bundle and reused from map to map. With ``tta`` (and
    ``bundle`` and ``task``), every pass (map or tile) averages the raw outputs
    of its 8 flips/90-degree rotations, each turned back first; a non-square
    map is then predicted in (square) tiles.
    """
    from astrocnn.engine.tiling import predict_tiled

    def compiled(network, size):
        if bundle is not None:
            return compiled_model(bundle, size, model=network, tta=tta, task=task)
        return CompiledModel(network, size, scaler)

    h, w = data.shape[:2]
    limit = MAX_SINGLE_PASS if max_pixels is None else max_pixels
    square = h == w or not tta
    if h * w <= limit and h % FACTOR == 0 and w % FACTOR == 0 and square:
        return compiled(model, 1)(data[None])[0]
    return predict_tiled(
        compiled(tile_model or model, batch_size),
        data,
        tile,
        overlap=tile // 2,
        periodic=periodic,
        batch_size=batch_size,
    )


@dataclass
class MapsSummary:
    """What a maps run wrote."""

    catalog: Path
    n_rows: int
    n_ok: int
    errors: list


def predict_maps(
    task, bundle, items, out_dir, *, overwrite=False, batch_size=16, progress=None, tta=False
):
    """Predict every map of ``items`` and write ``OUTDIR/<id>.fits`` + ``OUTDIR/catalog.fits``.

    Parameters
    ----------
    task : Task
        A task whose prediction mode is ``"maps"``.
    bundle : Bundle
        Loaded model.
    items : list of MapItem
        Input maps.
    out_dir : path-like
        Output folder; must be empty (or absent) unless ``overwrite``.
    overwrite : bool
        Allow replacing earlier outputs in ``out_dir``.
    batch_size : int
        Tiles per network call.
    progress : callable, optional
        Called with 1 after each map.
    tta : bool
        Average each map's outputs over its 8 flips/90-degree rotations.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: --out must be a folder for task {task.name!r}")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(f"{out_dir}: output folder is not empty (use --overwrite)")
    out_dir.mkdir(parents=True, exist_ok=True)
    table, errors = predict_map_items(
        task, bundle, items, out_dir, batch_size=batch_size, progress=progress, tta=tta
    )
    catalog = write_table(table, out_dir / "catalog.fits", overwrite=True)
    return MapsSummary(catalog, len(items), len(items) - len(errors), errors)


def predict_map_items(
    task, bundle, items, out_dir, *, names=None, batch_size=16, progress=None, tta=False
):
    """Predict ``items`` into ``out_dir`` (which must exist); return ``(table, errors)``.

    The shared core of :func:`predict_maps` and batch runs: the table has
    ``id``, ``file``, ``status``, ``reason`` per item; ``names`` are the
    output file names (default :func:`~astrocnn.io.products.unique_file_names` of the
    ids).
    """
    from astropy.table import Table

    if tta:
        require_tta_support(task)
    meta = bundle.meta
    out_dir = Path(out_dir)
    tile = int(meta["input_shape"][0])
    n_in = int(meta["input_shape"][-1])
    scaler = scaler_from_dict(meta["preprocessing"])
    periodic = bool(meta.get("periodic", False))
    if "tile_network" not in bundle.cache:
        bundle.cache["tile_network"] = task.tile_network(bundle)
    tile_model = bundle.cache["tile_network"]
    names = names or unique_file_names([item.id for item in items])
    n = len(items)
    files, status, reasons = [""] * n, ["error"] * n, [""] * n

    def failed(r, exc):
        item = items[r]
        where = item.path + (f"[{item.index}]" if item.index is not None else "")
        files[r], status[r] = "", "error"
        reasons[r] = str(exc) if item.path in str(exc) else f"{where}: {exc}"

    def settle(pending):
        """Wait for the write of map ``r`` and record how it went."""
        r, future = pending
        try:
            future.result()
        except AstrocnnError as exc:
            failed(r, exc)
            return
        files[r], status[r] = names[r], "ok"
        if progress is not None:
            progress(1)

    # the FITS file of map r is written on a second thread while map r + 1 is
    # read and predicted (writing costs a fifth of the network's time); one write in
    # flight at a time, so memory holds at most two maps' outputs
    pending = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="astrocnn-write") as writer:
        for r, item in enumerate(items):
            try:
                data, header = read_map(item, n_in)
                task.validate_map(data, item.path)
                if min(data.shape[:2]) < tile // 2:
                    raise CutoutError(
                        f"{item.path}: map {data.shape[0]}x{data.shape[1]} is smaller than "
                        f"half the training size {tile}"
                    )
                raw = predict_map(
                    bundle.model,
                    scaler,
                    data,
                    tile,
                    periodic=periodic,
                    batch_size=batch_size,
                    tile_model=tile_model,
                    bundle=bundle,
                    tta=tta,
                    task=task,
                )
                channels = task.decode_map(raw, meta)
            except AstrocnnError as exc:
                failed(r, exc)
                if progress is not None:
                    progress(1)
                continue
            if pending is not None:
                settle(pending)
            future = writer.submit(
                write_map_file,
                out_dir / names[r],
                channels,
                header,
                cards={"TASK": task.name, "MODEL": str(bundle.path.name), "TTA": bool(tta)},
            )
            pending = (r, future)
        if pending is not None:
            settle(pending)
    table = Table()
    table["id"] = [str(item.id) for item in items] if items else np.zeros(0, str)
    table["file"] = files if items else np.zeros(0, str)
    table["status"] = status if items else np.zeros(0, str)
    table["reason"] = reasons if items else np.zeros(0, str)
    table.meta.update({"TASK": task.name, "MODEL": str(bundle.path.name), "TTA": bool(tta)})
    return table, [r for r in reasons if r]
