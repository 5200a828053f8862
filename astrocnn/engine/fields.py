"""``astrocnn predict TASK FIELD.fits --out DIR``: run a stamp model over a whole image.

For tasks that work on stamps centred on a source (prediction mode ``"fields"``):

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
   (plane ``id - 1``; :mod:`astrocnn.io.fits.stamp_cubes`), and the task's field
   maps (for deblending the segmentation map of the whole field, with the
   field's WCS) as ``DIR/<field>_<map>.fits``.

The field is read a window at a time (:mod:`astrocnn.io.field_image`), so a
field larger than memory can be processed.

Over several fields (:func:`predict_fields`, which the CLI and Dask runs use)
the steps form a pipeline on three threads: steps 1-2 for the next fields,
step 3 on batches that gather the stamps of several fields, and the
decoding and step 4 of earlier fields, each at the same time as the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astrocnn.engine.inference import compiled_model
from astrocnn.errors import AstrocnnError
from astrocnn.io.catalog import write_table
from astrocnn.io.field_image import FieldImage
from astrocnn.io.fits.headers import write_image_file
from astrocnn.io.fits.stamp_cubes import StampCubes

DETECT_THRESH = 1.5  # sigma above the background, on the band sum
DETECT_MINAREA = 5
DETECT_TILE = 2048  # pixels, side of the detection tiles
STAMP_BATCH = 256  # stamps per network call
FIELDS_AHEAD = 8  # blocks of stamps cut ahead of the network by predict_fields


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


def detect(field: FieldImage, detect_sources, *, tile=DETECT_TILE, margin=32, thresh=DETECT_THRESH):
    """Detect sources tile by tile; returns 0-based (x, y) arrays sorted by y then x.

    ``detect_sources(image, thresh=, minarea=)`` is the task's detector
    (:meth:`~astrocnn.tasks.base.Task.detect_sources`) run on the band sum
    of each tile: it returns a table with ``x`` and ``y`` columns, and more.
    """
    xs, ys = [], []
    for ty in range(0, field.height, tile):
        for tx in range(0, field.width, tile):
            y0, x0 = max(ty - margin, 0), max(tx - margin, 0)
            y1, x1 = min(ty + tile + margin, field.height), min(tx + tile + margin, field.width)
            image = field.band_sum(y0, y1, x0, x1)
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


def predict_field(task, bundle, path, out_dir, *, log=print, **options) -> FieldSummary:
    """Detect, cut, predict and write the products of one field.

    Parameters
    ----------
    task : Task
        A task whose prediction mode is ``"fields"``.
    bundle : Bundle
        The loaded model.
    path : path-like
        The field (FITS cube: band, y, x).
    out_dir : path-like
        Output folder (created).
    log : callable
        Progress messages.
    **options
        Those of :class:`_FieldRun`: ``batch_size`` (stamps per network
        call), ``overwrite`` (replace earlier outputs of the same field),
        ``tile`` (detection tile side in pixels; memory ~ tile^2 x bands x 4
        bytes), ``thresh`` (detection threshold in background sigmas),
        ``tta`` (combine the outputs over the 8 flips/90-degree rotations of
        each stamp, turned back before they are averaged).
    """
    run = _FieldRun(task, bundle, path, out_dir, **options)
    log(run.detection_summary())
    try:
        compiled = compiled_model(bundle, run.batch_size, tta=run.tta, task=task)
        for rows, stamps in run.blocks():
            run.store(rows, compiled(stamps), stamps)
    except BaseException as exc:
        run.abort(exc)
        raise
    return run.finish()


def predict_fields(task, bundle, paths, out_dir, *, log=print, **options):
    """`predict_field` over several fields, as a pipeline that keeps the network busy.

    Three threads share the work: one opens the next fields, detects their
    sources and cuts their stamps; the calling thread runs the network on
    batches that gather the stamps of several small fields (a 256x256 field
    has ~20 sources, and a batch of 20 stamps costs 15 % more per stamp than
    one of 150); a third decodes the outputs and writes each field's stamp
    cubes, catalogue and maps.

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
    Memory is bounded: at most ``FIELDS_AHEAD`` blocks of stamps (each at
    most ``batch_size`` stamps) wait for the network, and a field's
    catalogue columns and maps live only until its products are written.
    A field's products are the same as those of `predict_field` on it alone,
    up to the last bits of float32 arithmetic, which can change with the
    composition of a batch.
    """
    import queue
    import threading
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    batch_size = int(options.get("batch_size", STAMP_BATCH))
    compiled = compiled_model(bundle, batch_size, tta=bool(options.get("tta")), task=task)
    blocks = queue.Queue(maxsize=FIELDS_AHEAD)
    stop = threading.Event()

    def put(item) -> bool:
        """Queue ``item`` for the network; False once the run is being stopped."""
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        claimed = {}
        try:
            for path in paths:
                if stop.is_set():
                    return
                stem = _field_stem(path)
                try:
                    if stem in claimed:
                        raise AstrocnnError(
                            f"{path}: its products would be named like those of "
                            f"{claimed[stem]} ({stem}_*.fits); rename one of the two fields"
                        )
                    run = _FieldRun(task, bundle, path, out_dir, **options)
                except AstrocnnError as exc:
                    put(("error", path, exc))
                    continue
                claimed[stem] = path
                if not put(("start", path, run)):
                    run.abort(GeneratorExit("field run stopped"))
                    return
                try:
                    for rows, stamps in run.blocks():
                        if not put(("block", run, (rows, stamps))):
                            return  # the calling thread aborts the runs it has seen
                except AstrocnnError as exc:
                    run.fail(exc)
                put(("end", path, run))
        except BaseException as exc:  # a bug: re-raised by the calling thread
            put(("crash", None, exc))
        finally:
            put(("done", None, None))

    def outcome(path, pending):
        if isinstance(pending, AstrocnnError):
            return path, pending
        try:
            return path, pending.result()
        except AstrocnnError as exc:
            return path, exc

    order = deque()  # [path, AstrocnnError or future of the field's products], in path order
    entries = {}  # run -> its entry in order, until its last block is queued
    stores = deque()  # the writer's pending work (bounded)
    carried = None
    producer = threading.Thread(target=produce, name="astrocnn-detect", daemon=True)
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="astrocnn-field")
    producer.start()
    try:
        finished = False
        while not finished:
            items = [carried or blocks.get()]
            carried, size = None, _stamps_in(items[0])
            while size < batch_size:
                try:
                    item = blocks.get_nowait()
                except queue.Empty:
                    break
                if size and size + _stamps_in(item) > batch_size:
                    carried = item
                    break
                items.append(item)
                size += _stamps_in(item)
            outputs = iter(())
            if size:
                stamps = [item[2][1] for item in items if item[0] == "block"]
                raw = compiled(np.concatenate(stamps))
                bounds = np.cumsum([0, *(len(s) for s in stamps)])
                outputs = (_nested_slice(raw, a, b) for a, b in zip(bounds[:-1], bounds[1:]))
            for kind, key, value in items:
                if kind == "block":
                    rows, stamps = value
                    stores.append(writer.submit(key.store, rows, next(outputs), stamps))
                    while len(stores) > FIELDS_AHEAD:  # the writer is behind: wait for it
                        stores.popleft().result()
                elif kind == "start":
                    log(value.detection_summary())  # here, so only this thread logs
                    entries[value] = [key, None]
                    order.append(entries[value])
                elif kind == "end":
                    entries.pop(value)[1] = writer.submit(value.finish)
                elif kind == "error":
                    order.append([key, value])
                elif kind == "crash":
                    raise value
                else:
                    finished = True
            while order and order[0][1] is not None:
                if not isinstance(order[0][1], AstrocnnError) and not order[0][1].done():
                    if len(order) <= FIELDS_AHEAD:
                        break
                yield outcome(*order.popleft())
        while order:
            yield outcome(*order.popleft())
    finally:
        stop.set()
        producer.join()
        writer.shutdown(wait=True)
        leftovers = [carried] if carried else []
        while True:
            try:
                leftovers.append(blocks.get_nowait())
            except queue.Empty:
                break
        unfinished = set(entries) | {i[2] for i in leftovers if i[0] in ("start", "end")}
        for run in unfinished:
            run.abort(GeneratorExit("field run stopped"))


def _stamps_in(item) -> int:
    return len(item[2][0]) if item[0] == "block" else 0


def _nested_slice(raw, start, stop):
    """Rows ``start:stop`` of the network's output (an array, or a list/dict of them)."""
    if isinstance(raw, dict):
        return {k: v[start:stop] for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return type(raw)(v[start:stop] for v in raw)
    return raw[start:stop]


class _FieldRun:
    """One field on its way through prediction.

    Created, it has opened the field, detected its sources and opened its
    stamp cubes; :meth:`blocks` cuts the stamps, :meth:`store` decodes the
    network's outputs for a block and keeps or writes the products, and
    :meth:`finish` writes the catalogue and maps (or, after a failure,
    removes what was begun and raises). Options: those of `predict_field`.
    """

    def __init__(
        self,
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
    ):
        meta = bundle.meta
        self.task, self.bundle, self.meta = task, bundle, meta
        self.batch_size, self.overwrite = int(batch_size), overwrite
        self.thresh, self.tta = thresh, tta
        self.bands = list(meta["bands"])
        self.size_y, self.size_x = (int(s) for s in meta["input_shape"][:2])
        self.field = FieldImage(path, len(self.bands))
        self.cubes = self.maps = self.error = None
        stem = _field_stem(self.field.path)
        out_dir = Path(out_dir)
        self.catalog_path = out_dir / f"{stem}_catalog.fits"
        self.stamps_path = out_dir / f"{stem}_stamps.fits"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            for product in (self.catalog_path, self.stamps_path):
                if product.exists() and not overwrite:
                    raise AstrocnnError(f"{product}: exists (use --overwrite)")
            field = self.field
            margin = max(self.size_x, self.size_y)
            x, y = detect(field, task.detect_sources, tile=tile, margin=margin, thresh=thresh)
            self.x, self.y, self.n = x, y, len(x)
            ix, iy = np.round(x).astype(int), np.round(y).astype(int)
            self.x0, self.y0 = ix - self.size_x // 2, iy - self.size_y // 2
            self.edge = (self.x0 < 0) | (self.y0 < 0)
            self.edge |= (self.x0 + self.size_x > field.width) | (
                self.y0 + self.size_y > field.height
            )
            self.columns: dict = {}
            self.maps = task.start_field_maps(field.height, field.width, out_dir / stem)
            if task.image_outputs:
                cards = {
                    "TASK": task.name,
                    "MODEL": str(bundle.path.name),
                    "BANDS": ",".join(self.bands),
                    "FIELD": field.path.name[-68:],
                    "PLANES": "plane k: catalogue id k+1 (origin stamp_x0, stamp_y0)",
                }
                self.cubes = StampCubes(self.stamps_path, self.n, task.image_outputs, cards=cards)
                self.cubes.__enter__()
        except BaseException as exc:
            self.abort(exc)
            raise

    def detection_summary(self) -> str:
        """The progress line of the detection step."""
        return f"{self.field.path.name}: {self.n} source(s) detected"

    def blocks(self):
        """Yield ``(rows, stamps)``: the sources' stamps, at most ``batch_size`` at a time."""
        for start in range(0, self.n, self.batch_size):
            rows = np.arange(start, min(start + self.batch_size, self.n))
            yield rows, np.stack([self._stamp(r) for r in rows])

    def _stamp(self, r):
        x0, y0 = self.x0[r], self.y0[r]
        return self.field.read(y0, y0 + self.size_y, x0, x0 + self.size_x)

    def store(self, rows, raw, stamps):
        """Decode the network's outputs ``raw`` for ``rows``; write their image products.
        After a failure (kept for :meth:`finish`) later blocks are ignored."""
        if self.error is not None:
            return
        try:
            task = self.task
            inputs = {"inputs": stamps} if task.decode_uses_inputs else {}
            decoded = task.decode(raw, self.meta, **inputs)
            products = {k: decoded.pop(k) for k in task.image_outputs if k in decoded}
            if products:
                self.cubes.write(rows, products)
            for j, r in enumerate(rows if self.maps is not None else ()):
                own = {k: v[j] for k, v in products.items()}
                self.maps.add(r + 1, self.x[r], self.y[r], self.x0[r], self.y0[r], own)
            for name, values in decoded.items():
                if name not in self.columns:
                    self.columns[name] = np.zeros((self.n, *values.shape[1:]), values.dtype)
                self.columns[name][rows] = values
        except Exception as exc:
            self.error = exc

    def fail(self, exc):
        """Mark the run failed (reading its stamps went wrong): :meth:`finish` raises ``exc``."""
        if self.error is None:
            self.error = exc

    def finish(self) -> FieldSummary:
        """Write the catalogue and maps and close the field; raise the run's error if it failed."""
        if self.error is not None:
            self.abort(self.error)
            raise self.error
        try:
            if self.cubes is not None:
                self.cubes.__exit__(None, None, None)
            return self._write_products()
        finally:
            self.field.close()

    def abort(self, exc):
        """Remove what was begun (the stamp cubes' temporary file) and close the field."""
        try:
            if self.cubes is not None:
                self.cubes.__exit__(type(exc), exc, exc.__traceback__)
                self.cubes = None
        finally:
            self.field.close()

    def _write_products(self) -> FieldSummary:
        from astropy.table import Table

        n, x, y, task, field = self.n, self.x, self.y, self.task, self.field
        table = Table()
        table["id"] = np.arange(1, n + 1, dtype=np.int64)
        table["x"], table["y"] = x, y
        table["x"].description = "0-based pixel column of the detection (sep centroid)"
        table["y"].description = "0-based pixel row of the detection (sep centroid)"
        if field.wcs is not None:
            ra, dec = field.wcs.pixel_to_world_values(x, y) if n else (np.zeros(0), np.zeros(0))
            table["ra"], table["dec"] = np.asarray(ra, float), np.asarray(dec, float)
            table["ra"].unit = table["dec"].unit = "deg"
        for name, description in task.output_columns(self.meta).items():
            table[name] = self.columns.get(name, np.zeros(n, np.float32))
            table[name].description = description
        table["stamp_x0"], table["stamp_y0"] = self.x0.astype(np.int64), self.y0.astype(np.int64)
        table["stamp_x0"].description = "0-based field column of the stamp's pixel (0, 0)"
        table["stamp_y0"].description = "0-based field row of the stamp's pixel (0, 0)"
        table["edge"] = self.edge
        table["edge"].description = "stamp crosses the field's edge (zero-padded)"
        table["status"] = np.full(n, "ok")
        table["reason"] = np.full(n, "")
        table.meta.update(
            {
                "TASK": task.name,
                "MODEL": str(self.bundle.path.name),
                "FIELD": field.path.name[-68:],
                "BANDS": ",".join(self.bands),
                "DETTHR": (float(self.thresh), "detection threshold [sigma] on the band sum"),
                "TTA": (bool(self.tta), "outputs combined over the 8 flips/rotations"),
                **({"STAMPS": self.stamps_path.name[-68:]} if self.cubes else {}),
            }
        )
        written = write_table(table, self.catalog_path, overwrite=self.overwrite)
        maps = [] if self.maps is None else self.maps.write(field.wcs, overwrite=self.overwrite)
        return FieldSummary(written, maps, n, n, self.cubes and self.cubes.path)


def write_map(path, data, wcs, *, overwrite=False, cards=None) -> Path:
    """Write a field-sized map with the field's celestial WCS (or None), atomically."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise AstrocnnError(f"{path}: exists (use --overwrite)")
    # the WCS as new cards (astropy's formatting, not wcslib's), so the header can be reused
    header = {} if wcs is None else {c.keyword: (c.value, c.comment) for c in wcs.to_header().cards}
    header.update(cards or {})
    return write_image_file(path, [(None, np.asarray(data), None)], None, header)
