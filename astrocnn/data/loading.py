"""Load the cutouts a catalogue (or a list of files) names, in parallel, row by row.

A row that cannot be read never stops the run: it gets ``status='error'`` and
a one-line ``reason`` naming the row and the file, and every good row is
still loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

import numpy as np

from astrocnn.errors import AstrocnnError
from astrocnn.io.contract import central_signal, core_area
from astrocnn.io.conversion import CONVERSION_KEYWORDS, ConversionLog, frame_stats
from astrocnn.io.cutouts import CutoutSpec, band_energy, read_cutout
from astrocnn.io.fits.reader import header_cards, read_simple_into

STATUS_OK = "ok"
STATUS_ERROR = "error"


@dataclass
class RowMeasures:
    """Per-row measurements of the pixels a network sees (:func:`_diagnose`); the
    out-of-distribution diagnostics are made from them.

    Attributes
    ----------
    noise : numpy.ndarray
        (n, C) background noise sigma per band after conversion and depth
        matching (NaN: not measured).
    background : numpy.ndarray
        (n, C) median of the frame (sky level left in the image).
    signal : numpy.ndarray
        (n, C) :func:`~astrocnn.io.contract.central_signal` (how bright the
        sources are).
    added_noise : numpy.ndarray
        (n, C) sigma of the noise ``--match-depth`` added (0: none).
    masked_fraction : numpy.ndarray
        Per row, the fraction of pixels of its non-empty bands that hold no
        data (exactly 0: NaN/inf in the file, or padding).
    core_area : numpy.ndarray, optional
        (n,) :func:`~astrocnn.io.contract.core_area` (how large the central
        object is in pixels).
    display : numpy.ndarray, optional
        (n,) whether the pixels are 8-bit display values (:func:`display_image`).
    stated : numpy.ndarray, optional
        (n, 2) each file's pixel scale and AB zero point as its cards or the
        options state them (NaN: unknown).
    saturated : numpy.ndarray, optional
        (n,) fraction of pixels at or above the file's ``SATURATE`` level
        (counted in ``masked_fraction`` too).
    """

    noise: np.ndarray
    background: np.ndarray
    signal: np.ndarray
    added_noise: np.ndarray
    masked_fraction: np.ndarray
    core_area: np.ndarray | None = None
    display: np.ndarray | None = None
    stated: np.ndarray | None = None
    saturated: np.ndarray | None = None

    @classmethod
    def empty(cls, n: int, bands: int) -> RowMeasures:
        """Measurements of ``n`` rows not measured yet (NaN, zero, False)."""
        return cls(
            noise=np.full((n, bands), np.nan, np.float32),
            background=np.full((n, bands), np.nan, np.float32),
            signal=np.full((n, bands), np.nan, np.float32),
            added_noise=np.zeros((n, bands), np.float32),
            masked_fraction=np.zeros(n, np.float32),
            core_area=np.full(n, np.nan, np.float32),
            display=np.zeros(n, bool),
            stated=np.full((n, 2), np.nan, np.float32),
            saturated=np.zeros(n, np.float32),
        )

    @classmethod
    def concatenate(cls, parts) -> RowMeasures:
        """The measurements of consecutive blocks, as one."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                      for f in fields(cls)})  # fmt: skip

    def put(self, rows, other: RowMeasures):
        """Store ``other``'s measurements as those of ``rows``."""
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(other, f.name)


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
    n_missing_bands : numpy.ndarray
        Bands without data, zero-filled, per row.
    measures : RowMeasures
        Per-row measurements of the pixels (made when the spec converts).
    log : astrocnn.io.conversion.ConversionLog
        What the reader converted, counted over the run's rows so far (shared
        by every block of a run): e.g. grey JPEGs replicated to R = G = B for
        a colour layout, with the first file of each kind.  Print
        ``log.lines()`` once per run.
    """

    start: int
    images: np.ndarray
    ok: np.ndarray
    reasons: list[str]
    n_nonfinite: np.ndarray
    n_missing_bands: np.ndarray | None = None
    measures: RowMeasures | None = None
    log: ConversionLog | None = None

    def __post_init__(self):
        if self.n_missing_bands is None:
            self.n_missing_bands = np.zeros(len(self.ok), np.int64)
        if self.measures is None:
            self.measures = RowMeasures.empty(len(self.ok), self.images.shape[-1])
        if self.log is None:
            self.log = ConversionLog()


def default_workers() -> int:
    """Reader threads: one per core, at most 8.

    Measured on a 2-core machine (end to end / model only, means of six
    interleaved runs each): lens 0.91 with two readers against 0.88 with one,
    morphology 0.89 against 0.85, photo-z 0.70 with either.  (Before
    :func:`~astrocnn.io.fits.reader.read_simple_into`, when a cutout held the GIL
    twice as long, one reader was best: 1,440 images/s against 1,380.)
    Reader processes writing into shared memory read no faster beside the
    model than two threads (``benchmarks/bench_readers.py``).
    """
    return max(1, min(8, os.cpu_count() or 2))


def _read_one(paths, spec, row_label):
    try:
        cut = read_cutout(paths, spec)
        measured = (cut.frame, cut.stated, cut.saturated, cut.notes)
        return cut.data, (cut.n_nonfinite, cut.n_missing_bands, *measured), ""
    except AstrocnnError as exc:
        message = str(exc)
        # a file given by name is its own label: do not name it twice
        return (
            None,
            0,
            message if message.startswith(f"{row_label}:") else f"{row_label}: {message}",
        )
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bad file must not stop a catalogue run
        return (
            None,
            0,
            f"{row_label}: {paths[0]}: unexpected read failure ({type(exc).__name__}: {exc})",
        )


def _fill(block: LoadedBlock, rows: range, paths, spec, labels):
    """Read ``rows`` of a block straight into its arrays (runs in a reader thread).

    The commonest cutout (one uncompressed FITS cube of exactly the model's
    shape) is read by :func:`~astrocnn.io.fits.reader.read_simple_into` and its
    pixels screened for the whole chunk at once; a row that is declined or
    fails the screen (NaN/inf pixels, an empty band, a float32 overflow) is
    read again by :func:`~astrocnn.io.cutouts.read_cutout`, which decides
    and words its status exactly as for every other file.
    """
    fast = spec.hdus is None and spec.image_kind != "raster"
    screened = []
    for i in rows:
        row_paths = paths[block.start + i]
        header = [] if spec.conversion is not None else None
        if (
            fast
            and len(row_paths) == 1
            and read_simple_into(row_paths[0], block.images[i], header)
            and _needs_no_conversion(spec, header, row_paths[0], block, i)
        ):
            screened.append(i)
        else:
            _fill_row(block, i, row_paths, spec, labels[block.start + i])
    _screen(block, rows, screened, paths, spec, labels)
    if spec.conversion is not None:
        _diagnose(block, rows, spec.conversion, paths)


def _needs_no_conversion(spec, header, path, block, i) -> bool:
    """Whether a file read by the fast path is already in the model's set-up (its
    stated pixel scale and zero point go to ``block.measures.stated[i]``)."""
    if spec.conversion is None:
        return True
    try:
        cards = header_cards(header[0], CONVERSION_KEYWORDS)
        plan = spec.conversion.plan(cards, spec.n_bands, path)
    except AstrocnnError:
        return False  # the full reader words it
    if plan.identity:
        spec.conversion.log.add(plan.notes, path)
        block.measures.stated[i] = plan.stated
        block.measures.saturated[i] = plan.saturated(block.images[i])
    return plan.identity


def _diagnose(block: LoadedBlock, rows: range, conversion, paths):
    """Per good row: background level and noise of the frame (unless measured
    before padding), masked fraction, source brightness and size, then depth
    matching (``--match-depth``)."""
    good = np.array([i for i in rows if block.ok[i]], dtype=np.int64)
    if good.size == 0:
        return
    measures = block.measures
    # the good rows' pixels once: a view when every row is good (the usual chunk);
    # indexing them for each measurement copied the chunk five times
    if good.size == len(rows):
        images = block.images[rows.start : rows.stop]
    else:
        images = block.images[good]
    unmeasured = np.isnan(measures.noise[good]).all(axis=1)
    if unmeasured.any():
        frame = images if unmeasured.all() else images[unmeasured]
        where = good[unmeasured]
        measures.background[where], measures.noise[where] = frame_stats(frame)
    masked = masked_fraction(images) + measures.saturated[good]
    measures.masked_fraction[good] = np.minimum(masked, 1.0)
    measures.signal[good] = central_signal(images)
    measures.core_area[good] = core_area(images)
    measures.display[good] = display_image(images)
    if conversion.options.match_depth:
        sigma = measures.noise[good]
        views = [block.images[i] for i in good]
        keys = [paths[block.start + i][0] for i in good]
        added = conversion.match_depth(views, sigma, keys)
        measures.added_noise[good] = added
        measures.noise[good] = np.hypot(sigma, added)


def display_image(images: np.ndarray) -> np.ndarray:
    """Per (H, W, C) image, whether every pixel is an integer in 0-255 (8-bit
    display values, e.g. a JPEG converted to FITS)."""
    flat = images.reshape(len(images), -1)
    display = (flat.min(axis=1) >= 0) & (flat.max(axis=1) <= 255)
    for i in np.flatnonzero(display):  # rare: only images within 0-255 are checked further
        display[i] = bool(np.all(flat[i] == np.round(flat[i])))
    return display


def masked_fraction(images: np.ndarray) -> np.ndarray:
    """Per (H, W, C) image, the fraction of pixels of its non-empty bands that are 0."""
    zero = images == 0
    if not zero.any():
        return np.zeros(len(images), np.float32)
    n, h, w, c = images.shape
    per_band = np.count_nonzero(zero.reshape(n, h * w, c), axis=1) / (h * w)
    filled = per_band < 1.0
    with np.errstate(invalid="ignore"):
        fraction = (per_band * filled).sum(axis=1) / filled.sum(axis=1)
    return np.nan_to_num(fraction).astype(np.float32)


def _screen(block: LoadedBlock, rows: range, screened, paths, spec, labels):
    """Check the pixels of the fast-path rows at once; re-read the doubtful ones."""
    if not screened:
        return
    chunk = block.images[rows.start : rows.stop]
    energy = band_energy(chunk)[np.asarray(screened) - rows.start]
    clean = np.isfinite(energy).all(axis=1) & (energy > 0).all(axis=1)
    for i, ok in zip(screened, clean):
        if ok:
            block.ok[i] = True
            block.n_nonfinite[i] = block.n_missing_bands[i] = 0
        else:
            _fill_row(block, i, paths[block.start + i], spec, labels[block.start + i])


def _fill_row(block: LoadedBlock, i: int, row_paths, spec, label):
    """Read one row with the full reader and record its status."""
    data, n_bad, reason = _read_one(row_paths, spec, label)
    if data is None:
        block.images[i] = 0.0
        block.ok[i] = False
        block.reasons[i] = reason
    else:
        block.images[i] = data
        block.ok[i] = True
        block.n_nonfinite[i], block.n_missing_bands[i], frame, stated, saturated, notes = n_bad
        block.log.add(notes, row_paths[0], name_first=True)
        if frame is not None:  # measured before padding
            block.measures.background[i], block.measures.noise[i] = frame
        block.measures.stated[i] = stated
        block.measures.saturated[i] = saturated


def iter_blocks(
    paths: Sequence[Sequence[str]],
    spec: CutoutSpec,
    *,
    block_size: int = 1024,
    workers: int | None = None,
    row_labels: Sequence[str] | None = None,
    progress=None,
    reuse_buffers: bool = False,
    log: ConversionLog | None = None,
) -> Iterator[LoadedBlock]:
    """Read cutouts block by block with a thread pool; memory stays bounded.

    The next block is read while the caller works on the current one.
    Reader threads write each cutout straight into the block's array, in
    chunks of rows (one task per chunk, not per file).

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
    reuse_buffers : bool
        Recycle two image buffers instead of allocating one per block
        (saves page faults); a yielded block's images are then only valid
        until the next-but-one block is requested.
    log : astrocnn.io.conversion.ConversionLog, optional
        Where what the reader converts is counted (:attr:`LoadedBlock.log`);
        default the spec's conversion's log, else a new one.

    Yields
    ------
    LoadedBlock
    """
    workers = workers or default_workers()
    if log is None:
        log = spec.conversion.log if spec.conversion is not None else ConversionLog()
    n = len(paths)
    labels = row_labels or [f"row {i}" for i in range(n)]
    shape = (*spec.size, spec.n_bands)
    buffers = []
    chunk = max(16, block_size // (4 * workers))

    def start_block(number, start, stop):
        size = stop - start
        slot = number % 2
        if reuse_buffers and len(buffers) > slot and len(buffers[slot]) >= size:
            images = buffers[slot][:size]
        else:
            images = np.empty((max(size, block_size), *shape), dtype=np.float32)
            if reuse_buffers:
                buffers[slot : slot + 1] = [images]
            images = images[:size]
        block = LoadedBlock(
            start, images, np.zeros(size, bool), [""] * size, np.zeros(size, np.int64), log=log
        )
        futures = [
            pool.submit(_fill, block, range(a, min(size, a + chunk)), paths, spec, labels)
            for a in range(0, size, chunk)
        ]
        return block, futures

    with ThreadPoolExecutor(max_workers=workers) as pool:
        # a short first block, so the caller starts working sooner: a quarter block,
        # which predict's batches of a quarter block fill (no extra batch shape to trace
        # or compile, which cost more than reading the rows saves)
        first = min(block_size, max(64, block_size // 4))
        edges = [0, *range(first, n, block_size), n] if n > first else [0, n]
        bounds = [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
        pending = start_block(0, *bounds[0]) if bounds else None
        for number in range(len(bounds)):
            block, futures = pending
            for future in futures:
                future.result()
            # queue the next block before handing this one over
            if number + 1 < len(bounds):
                pending = start_block(number + 1, *bounds[number + 1])
            yield block
            if progress:
                progress(len(block.ok))


def load_all(paths, spec: CutoutSpec, **kwargs) -> LoadedBlock:
    """Read every row into one block (for training sets that fit in memory).

    Its :attr:`~LoadedBlock.log` counts what the reader converted over all rows
    (e.g. grey JPEGs given a colour layout), for the caller to print once.
    """
    blocks = list(iter_blocks(paths, spec, **kwargs))
    if not blocks:
        return LoadedBlock(
            0,
            np.zeros((0, *spec.size, spec.n_bands), np.float32),
            np.zeros(0, bool),
            [],
            np.zeros(0, np.int64),
            log=kwargs.get("log"),
        )
    return LoadedBlock(
        0,
        np.concatenate([b.images for b in blocks]),
        np.concatenate([b.ok for b in blocks]),
        [r for b in blocks for r in b.reasons],
        np.concatenate([b.n_nonfinite for b in blocks]),
        np.concatenate([b.n_missing_bands for b in blocks]),
        RowMeasures.concatenate([b.measures for b in blocks]),
        blocks[0].log,
    )


def row_labels(table, source: str | None = None, start: int = 0) -> list[str]:
    """Human labels for each catalogue row: ``'<catalogue> row 3 (id 17)'``.

    ``start`` is the catalogue row of the table's first row (for a slice).
    """
    prefix = f"{source} " if source else ""
    ids = table["id"] if "id" in table.colnames else range(start, start + len(table))
    return [f"{prefix}row {i} (id {v})" for i, v in enumerate(ids, start)]
