"""``astrocnn predict TASK FIELD.fits --out DIR``: run a stamp model over a whole image.

For tasks that work on stamps centred on a source (``Task.accepts_fields``):

1. **detect** sources with sep (SExtractor's algorithms) on the sum of the
   bands, tile by tile: only one tile (plus a margin of half a stamp) is in
   memory at a time, and a source belongs to the tile whose core holds it;
2. **cut** a stamp of the model's size around every source (zero-padded at
   the field's edge, flagged ``edge``), in blocks;
3. **predict** the blocks with the compiled model and the task's decoder;
4. **write** ``DIR/<field>_catalog.fits`` (``id``, ``x``, ``y`` in 0-based
   pixels, ``ra``/``dec`` when the field has a celestial WCS, the task's
   columns, ``stamp_x0``/``stamp_y0``, ``edge``, ``status``), the image
   products of every source as cubes in one file ``DIR/<field>_stamps.fits``
   (plane ``id - 1``; :mod:`astrocnn.io.stamp_cubes`), and the task's field
   maps (for deblending the segmentation map of the whole field, with the
   field's WCS) as ``DIR/<field>_<map>.fits``.

An uncompressed, unscaled field is memory-mapped; a tile-compressed or
scaled one is read through ``astropy.io.fits`` sections, tile by tile.
Either way only the pixels in use are in memory, so a field larger than
memory can be processed.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astrocnn.engine.inference import compiled_model
from astrocnn.errors import AstrocnnError, CutoutError
from astrocnn.io.atomic import atomic_path
from astrocnn.io.catalog import write_table
from astrocnn.io.stamp_cubes import StampCubes

DETECT_THRESH = 1.5  # sigma above the background, on the band sum
DETECT_MINAREA = 5
DETECT_TILE = 2048  # pixels, side of the detection tiles
STAMP_BATCH = 256  # stamps per network call


def _field_stem(path) -> str:
    """The name a field's products start with: its file name up to the first dot."""
    return Path(path).name.split(".")[0]


@dataclass
class FieldSummary:
    """What a field run wrote: the catalogue, maps, stamp cubes and the number of sources."""

    catalog: Path
    maps: list
    n_sources: int
    n_ok: int
    stamps: Path | None = None


class FieldImage:
    """A multi-band image read lazily: a 3-D cube (band, y, x) in one image HDU.

    Parameters
    ----------
    path : path-like
        FITS file (``.fits``, ``.fits.fz``).
    n_bands : int
        Bands the model expects.
    """

    def __init__(self, path, n_bands):
        from astropy.io import fits
        from astropy.wcs import WCS

        self.path = Path(path)
        if not self.path.exists():
            raise CutoutError(f"{path}: file not found")
        try:
            self._hdul = fits.open(self.path, memmap=True)
        except (OSError, ValueError) as exc:
            raise CutoutError(f"{path}: not a readable FITS file ({exc})") from None
        hdu = next(
            (h for h in self._hdul if getattr(h, "is_image", False) and h.header.get("NAXIS")),
            None,
        )
        if hdu is None:
            raise CutoutError(f"{path}: no image HDU")
        shape = tuple(hdu.shape)
        if len(shape) == 2 and n_bands == 1:
            shape = (1, *shape)
        if len(shape) != 3 or shape[0] != n_bands:
            raise CutoutError(
                f"{path}: field has shape {tuple(hdu.shape)}; the model expects a cube of "
                f"{n_bands} band(s) (band, y, x)"
            )
        self._hdu = hdu
        self._flat = len(hdu.shape) == 2
        self._pixels = self._memory_mapped(hdu)
        self.n_bands, self.height, self.width = shape
        self.header = hdu.header
        with np.errstate(all="ignore"):
            wcs = WCS(hdu.header, relax=True)
        self.wcs = wcs.celestial if wcs.has_celestial else None

    @staticmethod
    def _memory_mapped(hdu):
        """The HDU's pixels as a memory map when no decompression or scaling is
        needed (slicing it reads only the pixels asked for), else None."""
        from astropy.io import fits

        header = hdu.header
        if isinstance(hdu, fits.CompImageHDU) or any(
            key in header for key in ("BSCALE", "BZERO", "BLANK")
        ):
            return None
        try:
            data = hdu.data
        except (OSError, ValueError, TypeError):
            return None
        base = data
        while base is not None and not isinstance(base, (np.memmap, mmap.mmap)):
            base = getattr(base, "base", None)
        return None if base is None else data

    def read(self, y0, y1, x0, x1) -> np.ndarray:
        """Pixels ``[y0:y1, x0:x1]`` as (h, w, band) float32, zero outside the field; NaN -> 0."""
        out = np.zeros((y1 - y0, x1 - x0, self.n_bands), np.float32)
        ya, yb = max(y0, 0), min(y1, self.height)
        xa, xb = max(x0, 0), min(x1, self.width)
        if ya >= yb or xa >= xb:
            return out
        pixels = self._hdu.section if self._pixels is None else self._pixels
        if self._flat:
            block = np.asarray(pixels[ya:yb, xa:xb], dtype=np.float32)[None]
        else:
            block = np.asarray(pixels[:, ya:yb, xa:xb], dtype=np.float32)
        block = np.moveaxis(block, 0, -1)
        out[ya - y0 : yb - y0, xa - x0 : xb - x0] = np.nan_to_num(
            block, nan=0.0, posinf=0.0, neginf=0.0
        )
        return out

    def close(self):
        self._pixels = None
        self._hdul.close()


def detect(field: FieldImage, *, tile=DETECT_TILE, margin=32, thresh=DETECT_THRESH):
    """Detect sources tile by tile; returns 0-based (x, y) arrays sorted by y then x."""
    from astrocnn.deblend_baseline import detect_sources

    xs, ys = [], []
    for ty in range(0, field.height, tile):
        for tx in range(0, field.width, tile):
            y0, x0 = max(ty - margin, 0), max(tx - margin, 0)
            y1, x1 = min(ty + tile + margin, field.height), min(tx + tile + margin, field.width)
            image = field.read(y0, y1, x0, x1).sum(axis=-1)
            objects, _ = detect_sources(image, thresh=thresh, minarea=DETECT_MINAREA)
            if len(objects) == 0:
                continue
            x = np.asarray(objects["x"], float) + x0
            y = np.asarray(objects["y"], float) + y0
            core = (x >= tx - 0.5) & (x < tx + tile - 0.5) & (y >= ty - 0.5) & (y < ty + tile - 0.5)
            xs.append(x[core])
            ys.append(y[core])
    if not xs:
        return np.zeros(0), np.zeros(0)
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = np.lexsort((x, y))
    return x[order], y[order]


def predict_field(
    task,
    bundle,
    path,
    out_dir,
    *,
    batch_size=STAMP_BATCH,
    overwrite=False,
    tile=DETECT_TILE,
    thresh=DETECT_THRESH,
    tta=False,
    log=print,
) -> FieldSummary:
    """Detect, cut, predict and write the products of one field.

    Parameters
    ----------
    task : Task
        A task with ``accepts_fields``.
    bundle : Bundle
        The loaded model.
    path : path-like
        The field (FITS cube: band, y, x).
    out_dir : path-like
        Output folder (created).
    batch_size : int
        Stamps per network call.
    overwrite : bool
        Replace earlier outputs of the same field.
    tile : int
        Detection tile side in pixels (memory ~ tile^2 x bands x 4 bytes).
    thresh : float
        Detection threshold in background sigmas.
    tta : bool
        Combine the network's outputs over the 8 flips/90-degree rotations
        of each stamp (turned back before they are averaged).
    log : callable
        Progress messages.
    """
    return _predict_stamps(
        task,
        bundle,
        path,
        out_dir,
        log,
        batch_size=batch_size,
        overwrite=overwrite,
        tile=tile,
        thresh=thresh,
        tta=tta,
    ).finish()


def predict_fields(task, bundle, paths, out_dir, *, log=print, **options):
    """`predict_field` over several fields, writing one field's products on a second
    thread while the next field is detected and predicted.

    Parameters
    ----------
    task, bundle, out_dir, log
        As for `predict_field`.
    paths : iterable of path-like
        The fields.
    **options
        ``batch_size``, ``overwrite``, ``tile``, ``thresh``, ``tta`` of `predict_field`.

    Yields
    ------
    (path, FieldSummary or AstrocnnError)
        One per field, in order; a field that fails yields its error and the
        others go on. A field whose products would have the same names as an
        earlier field's of the run (same file name in another folder) fails.

    Notes
    -----
    Up to two fields' products (catalogue columns, field maps) are in memory at
    once: the one being written and the one being predicted.
    """
    from concurrent.futures import ThreadPoolExecutor

    claimed = {}

    def outcome(path, pending):
        if isinstance(pending, AstrocnnError):
            return path, pending
        try:
            return path, pending.result()
        except AstrocnnError as exc:
            return path, exc

    previous = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="astrocnn-field") as writer:
        for path in paths:
            stem = _field_stem(path)
            try:
                if stem in claimed:
                    raise AstrocnnError(
                        f"{path}: its products would be named like those of {claimed[stem]} "
                        f"({stem}_*.fits); rename one of the two fields"
                    )
                run = _predict_stamps(task, bundle, path, out_dir, log, **options)
                claimed[stem] = path
                pending = writer.submit(run.finish)
            except AstrocnnError as exc:
                pending = exc
            if previous is not None:
                yield outcome(*previous)
            previous = (path, pending)
        if previous is not None:
            yield outcome(*previous)


class _FieldRun:
    """A field whose stamps are predicted: `finish` writes its catalogue and maps."""

    def __init__(self, field, cubes, write_products):
        self.field, self.cubes, self._write = field, cubes, write_products

    def finish(self) -> FieldSummary:
        try:
            if self.cubes is not None:
                self.cubes.__exit__(None, None, None)
            return self._write()
        finally:
            self.field.close()

    def abort(self, exc):
        try:
            if self.cubes is not None:
                self.cubes.__exit__(type(exc), exc, exc.__traceback__)
        finally:
            self.field.close()


def _predict_stamps(
    task,
    bundle,
    path,
    out_dir,
    log,
    *,
    batch_size=STAMP_BATCH,
    overwrite=False,
    tile=DETECT_TILE,
    thresh=DETECT_THRESH,
    tta=False,
) -> _FieldRun:
    """Detect and predict a field's sources (filling its stamp cubes); the rest is
    left to the returned run's ``finish``. Options: those of `predict_field`."""
    from astropy.table import Table

    meta = bundle.meta
    bands = list(meta["bands"])
    size_y, size_x = (int(s) for s in meta["input_shape"][:2])
    field = FieldImage(path, len(bands))
    stem = _field_stem(field.path)
    out_dir = Path(out_dir)
    catalog_path = out_dir / f"{stem}_catalog.fits"
    stamps_path = out_dir / f"{stem}_stamps.fits"
    run = _FieldRun(field, None, None)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for product in (catalog_path, stamps_path):
            if product.exists() and not overwrite:
                raise AstrocnnError(f"{product}: exists (use --overwrite)")
        x, y = detect(field, tile=tile, margin=max(size_x, size_y), thresh=thresh)
        log(f"{field.path.name}: {len(x)} source(s) detected")
        n = len(x)
        ix, iy = np.round(x).astype(int), np.round(y).astype(int)
        x0, y0 = ix - size_x // 2, iy - size_y // 2
        edge = (x0 < 0) | (y0 < 0) | (x0 + size_x > field.width) | (y0 + size_y > field.height)
        compiled = compiled_model(bundle, batch_size, tta=tta, task=task)
        columns: dict = {}
        maps = task.start_field_maps(field.height, field.width, out_dir / stem)
        cards = {
            "TASK": task.name,
            "MODEL": str(bundle.path.name),
            "BANDS": ",".join(bands),
            "FIELD": field.path.name[-68:],
            "PLANES": "plane k: catalogue id k+1 (origin stamp_x0, stamp_y0)",
        }
        if task.image_outputs:
            run.cubes = StampCubes(stamps_path, n, task.image_outputs, cards=cards).__enter__()
        for start in range(0, n, batch_size):
            rows = np.arange(start, min(start + batch_size, n))
            stamps = np.stack(
                [field.read(y0[r], y0[r] + size_y, x0[r], x0[r] + size_x) for r in rows]
            )
            inputs = {"inputs": stamps} if task.decode_uses_inputs else {}
            decoded = task.decode(compiled(stamps), meta, **inputs)
            products = {k: decoded.pop(k) for k in task.image_outputs if k in decoded}
            if products:
                run.cubes.write(rows, products)
            for j, r in enumerate(rows if maps is not None else ()):
                own = {k: v[j] for k, v in products.items()}
                maps.add(r + 1, x[r], y[r], x0[r], y0[r], own)
            for name, values in decoded.items():
                if name not in columns:
                    columns[name] = np.zeros((n, *values.shape[1:]), values.dtype)
                columns[name][rows] = values
    except BaseException as exc:
        run.abort(exc)
        raise

    def write_products() -> FieldSummary:
        table = Table()
        table["id"] = np.arange(1, n + 1, dtype=np.int64)
        table["x"], table["y"] = x, y
        table["x"].description = "0-based pixel column of the detection (sep centroid)"
        table["y"].description = "0-based pixel row of the detection (sep centroid)"
        if field.wcs is not None:
            ra, dec = field.wcs.pixel_to_world_values(x, y) if n else (np.zeros(0), np.zeros(0))
            table["ra"], table["dec"] = np.asarray(ra, float), np.asarray(dec, float)
            table["ra"].unit = table["dec"].unit = "deg"
        for name, description in task.output_columns(meta).items():
            table[name] = columns.get(name, np.zeros(n, np.float32))
            table[name].description = description
        table["stamp_x0"], table["stamp_y0"] = x0.astype(np.int64), y0.astype(np.int64)
        table["stamp_x0"].description = "0-based field column of the stamp's pixel (0, 0)"
        table["stamp_y0"].description = "0-based field row of the stamp's pixel (0, 0)"
        table["edge"] = edge
        table["edge"].description = "stamp crosses the field's edge (zero-padded)"
        table["status"] = np.full(n, "ok")
        table["reason"] = np.full(n, "")
        table.meta.update(
            {
                "TASK": task.name,
                "MODEL": str(bundle.path.name),
                "FIELD": field.path.name[-68:],
                "BANDS": ",".join(bands),
                "DETTHR": (float(thresh), "detection threshold [sigma] on the band sum"),
                "TTA": (bool(tta), "outputs combined over the 8 flips/rotations"),
                **({"STAMPS": stamps_path.name[-68:]} if run.cubes else {}),
            }
        )
        written = write_table(table, catalog_path, overwrite=overwrite)
        map_paths = [] if maps is None else maps.write(field.wcs, overwrite=overwrite)
        return FieldSummary(written, map_paths, n, n, run.cubes and run.cubes.path)

    run._write = write_products
    return run


def write_map(path, data, wcs, *, overwrite=False, cards=None) -> Path:
    """Write a field-sized map with the field's celestial WCS (or None), atomically."""
    from astropy.io import fits

    path = Path(path)
    if path.exists() and not overwrite:
        raise AstrocnnError(f"{path}: exists (use --overwrite)")
    out_header = wcs.to_header() if wcs is not None else fits.Header()
    for key, value in (cards or {}).items():
        out_header[key] = value
    with atomic_path(path) as tmp:
        fits.PrimaryHDU(data, out_header).writeto(tmp)
    return path
