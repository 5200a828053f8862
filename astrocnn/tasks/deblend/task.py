"""Deblending: segmentation of blended galaxies and the central galaxy's own flux.

A U-Net (Boucaud et al. 2020) looks at a multi-band stamp centred on a
detected source and predicts, for every pixel,

* a **segmentation** into background / central source / other sources
  (softmax over three classes), and
* per band, the **fraction of the pixel's flux that belongs to the central
  source** (sigmoid).

The deblended image of the central source is that fraction times the
observed image, and its flux per band is the sum over the stamp.  We predict
fractions rather than the deblended image itself because a fraction is
bounded (0-1) and independent of brightness, so one network serves galaxies
of every magnitude; the deblended images of all sources then add up to the
data (flux is conserved, as in SCARLET's and SExtractor's flux
re-distribution), and the pixel noise is passed through unchanged instead of
being hallucinated away.  Training targets come from the simulator's
noiseless per-galaxy images: fraction = central / (central + others); the
fraction loss is weighted by each pixel's true flux, so errors are
penalised in proportion to the flux they misassign.

Outputs: ``flux_<band>`` (deblended central flux, image units),
``npix_central`` and ``central_found`` (the centre pixel was assigned to the
central source) per row, and per object a FITS file with the deblended
cube and the segmentation map (0 background, 1 central, 2 other sources),
with the input's WCS.  Evaluation: relative flux error of the central source
(median absolute, mean absolute, 68 % spread) overall, per band and against
blend separation and magnitude difference; IoU of the central segmentation;
the same for sep (SExtractor's detection, deblending and photometry) on the
same stamps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrocnn.errors import CatalogError
from astrocnn.io.catalog import require_columns, resolve_paths
from astrocnn.tasks.base import SURVEY_OPTIONS, Task, TaskOption, survey_of

SEGMENT_CLASSES = ("background", "central", "other")
FRACTION_WEIGHT_FLOOR = 0.02  # weight of background pixels in the fraction loss
FRACTION_LOSS_SCALE = 5.0
SEGMENTATION_IN_MEMORY = 1 << 23  # field pixels (64 MB of ids + claim distances) held in memory

SIMULATE_OPTIONS = (
    TaskOption(
        "population",
        ("simulate",),
        "Galaxies to draw: classic (bulge + disk and Sersic galaxies: the default model's "
        "first three training stages) or rich (the shared population: compact, bulge + disk "
        "with bars, arms and knots, clumpy irregulars, with a realistic size-magnitude "
        "relation: its fourth stage, with --isolated-fraction 0.15).",
        type=("classic", "rich"),
        default="classic",
    ),
    TaskOption(
        "isolated_fraction",
        ("simulate",),
        "Fraction of scenes with the central galaxy alone, no neighbour (default 0 with "
        "--population classic, 0.15 with rich).",
        type=float,
        minimum=0,
        maximum=1,
        metavar="FRACTION",
    ),
)


def deblend_loss(y_true, y_pred):
    """Pixel cross-entropy of the segmentation + flux-weighted squared fraction error.

    ``y_true`` holds, per pixel, the one-hot segmentation (3), the central
    flux fraction per band (B) and the weight of each band's fraction error
    (B); ``y_pred`` the segmentation probabilities (3) and fractions (B).
    """
    from astrocnn._tf import import_keras

    ops = import_keras().ops
    k = len(SEGMENT_CLASSES)
    n_bands = y_pred.shape[-1] - k
    y_true = ops.cast(y_true, y_pred.dtype)
    seg_true, frac_true = y_true[..., :k], y_true[..., k : k + n_bands]
    weight = y_true[..., k + n_bands :]
    seg_pred = ops.clip(y_pred[..., :k], 1e-7, 1.0)
    cross_entropy = -ops.mean(ops.sum(seg_true * ops.log(seg_pred), axis=-1), axis=(1, 2))
    err = ops.square(y_pred[..., k:] - frac_true) * weight
    fraction = ops.sum(err, axis=(1, 2, 3)) / (ops.sum(weight, axis=(1, 2, 3)) + 1e-6)
    return cross_entropy + FRACTION_LOSS_SCALE * fraction


def _argmax_last(scores) -> np.ndarray:
    """``np.argmax(scores, axis=-1)`` as int16 for a short last axis (the classes):
    the first maximum wins, as in argmax, in one pass per class (argmax along a
    strided axis of 3 is slower)."""
    best = scores[..., 0].copy()
    index = np.zeros(best.shape, np.int16)
    for c in range(1, scores.shape[-1]):
        better = scores[..., c] > best
        index[better] = c
        np.maximum(best, scores[..., c], out=best)
    return index


def _read_truth(path):
    """(central, others, segmentation) arrays of one truth file, as (H, W, B), (H, W, B), (H, W)."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        central = np.moveaxis(np.asarray(hdul["CENTRAL"].data, np.float32), 0, -1)
        others = np.moveaxis(np.asarray(hdul["OTHERS"].data, np.float32), 0, -1)
        segmentation = np.asarray(hdul["SEGMENTATION"].data, np.int16)
    return central, others, segmentation


def _flags(column):
    """A boolean column, also when a text catalogue (CSV) holds it as "True" / "False"
    (which ``astype(bool)`` would read as all True)."""
    values = np.asarray(column)
    if values.dtype.kind in "SU":
        text = np.char.lower(np.char.strip(values.astype(str)))
        return np.isin(text, ("true", "t", "1", "yes"))
    return values.astype(bool)


def _split_against_baseline(report, bands):
    """The baseline's isolated / blend numbers beside the network's (``..._sep_<band>``,
    the baseline being sep) and, per band, the blends' ratio of median absolute errors
    baseline / network; nothing when the report has no such split."""
    base = report["baseline"]
    out = {}
    for band in bands:
        for name in (f"isolated_flux_bias_{band}", f"blend_median_abs_dflux_{band}"):
            if name in base:
                out[name.replace(f"_{band}", f"_sep_{band}")] = base[name]
        network = report.get(f"blend_median_abs_dflux_{band}", np.nan)
        classical = base.get(f"blend_median_abs_dflux_{band}", np.nan)
        if network > 0 and np.isfinite(classical):
            out[f"blend_sep_over_network_{band}"] = float(classical / network)
    return out


class FieldSegmentation:
    """Segmentation map of a whole field, assembled from the sources' stamps.

    Each pixel a stamp assigns to its central source gets that source's id;
    where stamps overlap and several sources claim a pixel, the nearest
    source centre wins.  The map and the claim distances live in
    memory-mapped temporary files when the field has more than
    ``SEGMENTATION_IN_MEMORY`` pixels (in memory otherwise), so a field
    larger than memory works.
    """

    def __init__(self, height, width, prefix):
        import tempfile

        self.prefix = Path(prefix)
        self._tmp = None
        if height * width <= SEGMENTATION_IN_MEMORY:
            self.ids = np.zeros((height, width), np.int32)
            self.distance = np.full((height, width), np.inf, np.float32)
            return
        self._tmp = tempfile.TemporaryDirectory(dir=self.prefix.parent, prefix=".segmap")
        tmp = Path(self._tmp.name)
        self.ids = np.memmap(tmp / "ids", np.int32, "w+", shape=(height, width))
        self.distance = np.memmap(tmp / "dist", np.float32, "w+", shape=(height, width))
        self.distance[:] = np.inf

    def add(self, source_id, x, y, x0, y0, products):
        central = np.asarray(products["segmentation"]) == 1
        h, w = central.shape
        height, width = self.ids.shape
        ya, yb, xa, xb = max(y0, 0), min(y0 + h, height), max(x0, 0), min(x0 + w, width)
        if ya >= yb or xa >= xb:
            return
        dist = np.hypot(np.arange(xa, xb) - x, (np.arange(ya, yb) - y)[:, None])
        dist = dist.astype(np.float32)
        claim = central[ya - y0 : yb - y0, xa - x0 : xb - x0]
        closer = claim & (dist < self.distance[ya:yb, xa:xb])
        self.ids[ya:yb, xa:xb][closer] = source_id
        self.distance[ya:yb, xa:xb][closer] = dist[closer]

    def write(self, wcs, overwrite=False):
        """Write the map with the field's celestial WCS (or None); return its path in a list."""
        from astrocnn.engine.fields import write_map

        try:
            path = write_map(
                self.prefix.with_name(self.prefix.name + "_segmentation.fits"),
                self.ids,
                wcs,
                overwrite=overwrite,
                cards={"BUNIT": "", "CONTENT": "source id (0 = background)"},
            )
        finally:
            del self.ids, self.distance
            if self._tmp is not None:
                self._tmp.cleanup()
        return [path]


class DeblendTask(Task):
    """U-Net segmentation and flux fractions of the central galaxy of a blend."""

    name = "deblend"
    summary = "deblending: U-Net segmentation of blends and the central galaxy's flux"
    bands = ("g", "r", "i")
    input_size = (64, 64)
    augmentation = "d4"
    spatial_targets = True
    supports_tta = True
    decode_uses_inputs = True
    image_outputs = ("deblended", "segmentation")
    summary_metrics = ("median_abs_flux_error", "iou_mean")
    architecture_name = "unet"
    truth_file_column = "truth_file"
    options = (*SURVEY_OPTIONS, *SIMULATE_OPTIONS)

    def prediction_mode(self, from_files):
        """Files named on the command line are whole fields; a catalogue names stamps."""
        return "fields" if from_files else "cutouts"

    def detect_sources(self, image, *, thresh, minarea):
        """sep (SExtractor) detection, as the baseline's (:mod:`.baseline`)."""
        from astrocnn.tasks.deblend.baseline import detect_sources

        return detect_sources(image, thresh=thresh, minarea=minarea)

    # --- targets and model -------------------------------------------------
    def truth_columns(self, meta):
        bands = meta.get("bands", self.bands)
        return (self.truth_file_column, *[f"flux_true_{b}" for b in bands])

    def fit_targets(self, table, source):
        require_columns(table, [self.truth_file_column], source)
        return {"segment_classes": list(SEGMENT_CLASSES)}

    def read_truth(self, table, source, rows=None):
        """Noiseless central and other-galaxy images and true segmentations of ``rows``."""
        require_columns(table, [self.truth_file_column], source)
        base = table.meta.get("catalog_dir", ".")
        paths = [p[0] for p in resolve_paths(table, [self.truth_file_column], base)]
        rows = range(len(paths)) if rows is None else rows
        out = []
        for r in rows:
            try:
                out.append(_read_truth(paths[r]))
            except (OSError, KeyError, ValueError, TypeError) as exc:
                raise CatalogError(
                    f"{source}: row {r}: truth file {paths[r]} unreadable ({exc})"
                ) from None
        return out

    def targets(self, table, meta, source):
        truths = self.read_truth(table, source)
        if not truths:
            return np.zeros((0, 1, 1, 1), np.float32)
        h, w, b = truths[0][0].shape
        k = len(SEGMENT_CLASSES)
        targets = np.zeros((len(truths), h, w, k + 2 * b), np.float32)
        for i, (central, others, segmentation) in enumerate(truths):
            if central.shape != (h, w, b) or segmentation.shape != (h, w):
                raise CatalogError(f"{source}: row {i}: truth images have another shape")
            seg = np.clip(segmentation, 0, 2)  # every neighbour is 'other'
            targets[i, ..., :k] = np.eye(k, dtype=np.float32)[seg]
            total = np.clip(central, 0, None) + np.clip(others, 0, None)
            with np.errstate(divide="ignore", invalid="ignore"):
                targets[i, ..., k : k + b] = np.where(
                    total > 0, np.clip(central, 0, None) / total, 0.0
                )
            mean = total.mean(axis=(0, 1), keepdims=True)
            targets[i, ..., k + b :] = np.where(mean > 0, total / mean, 0.0) + FRACTION_WEIGHT_FLOOR
        return targets

    def build_model(self, input_shape, meta, options):
        from astrocnn.models.unet import build_unet

        heads = [
            ("segmentation", len(SEGMENT_CLASSES), "softmax"),
            ("fraction", int(input_shape[-1]), "sigmoid"),
        ]
        return build_unet(input_shape, heads, widths=options.get("widths", (16, 32, 64, 128)))

    def loss(self, meta):
        return deblend_loss

    # --- outputs -------------------------------------------------------------
    def output_columns(self, meta, **options):
        columns = {
            f"flux_{b}": f"deblended flux of the central source in band {b} (image units)"
            for b in meta.get("bands", self.bands)
        }
        columns["npix_central"] = "pixels assigned to the central source"
        columns["central_found"] = "the stamp's centre pixel was assigned to the central source"
        return columns

    def decode(self, raw, meta, inputs=None, **options):
        raw = np.asarray(raw, dtype=np.float32)
        k = len(SEGMENT_CLASSES)
        segmentation = _argmax_last(raw[..., :k])
        fraction = raw[..., k:]
        deblended = fraction * np.asarray(inputs, dtype=np.float32)
        n, h, w, b = deblended.shape
        # the sum over pixels as one matrix product: 30x faster than .sum(axis=(1, 2))
        # on (n, h, w, 3), and accumulated blockwise (no less accurate)
        flux = np.matmul(np.ones((1, h * w), np.float32), deblended.reshape(n, h * w, b))[:, 0]
        decoded = {
            f"flux_{b}": flux[:, i].astype(np.float32)
            for i, b in enumerate(meta.get("bands", self.bands))
        }
        decoded["npix_central"] = (segmentation == 1).sum(axis=(1, 2)).astype(np.int32)
        decoded["central_found"] = segmentation[:, h // 2, w // 2] == 1
        decoded["deblended"] = deblended
        decoded["segmentation"] = segmentation
        return decoded

    def start_field_maps(self, height, width, prefix):
        return FieldSegmentation(height, width, prefix)

    # --- evaluation -----------------------------------------------------------
    def headline_metric(self):
        return "median_abs_flux_error"

    def _flux(self, decoded, meta):
        return np.stack([decoded[f"flux_{b}"] for b in meta["bands"]], axis=1).astype(float)

    def _flux_true(self, table, meta):
        return np.stack(
            [np.asarray(table[f"flux_true_{b}"], dtype=float) for b in meta["bands"]], axis=1
        )

    @staticmethod
    def _column(table, name):
        return np.asarray(table[name], dtype=float) if name in table.colnames else None

    @staticmethod
    def _isolated(table):
        """Whether each central is alone in its stamp (the simulator's ``isolated``, or
        ``n_galaxies == 1``); None when the catalogue does not say."""
        known = [c for c in ("isolated", "n_galaxies") if c in table.colnames]
        if not known:
            return None
        alone = np.zeros(len(table), bool)
        if "isolated" in known:
            alone |= _flags(table["isolated"])
        if "n_galaxies" in known:
            alone |= np.asarray(table["n_galaxies"]) == 1
        return alone

    def _report(self, table, meta, flux, iou):
        from astrocnn.tasks.deblend import metrics as deblend_metrics

        return deblend_metrics.deblend_report(
            self._flux_true(table, meta),
            flux,
            bands=meta["bands"],
            separation=self._column(table, "separation_rhalf"),
            delta_mag=self._column(table, "delta_mag"),
            iou=iou,
            isolated=self._isolated(table),
        )

    def evaluate(self, truth, decoded, meta, *, table=None, baseline=None):
        from astrocnn.tasks.deblend import metrics as deblend_metrics

        iou = None
        true_central = np.asarray(truth)[..., 1] > 0.5
        if "segmentation" in decoded:
            iou = deblend_metrics.iou(np.asarray(decoded["segmentation"]) == 1, true_central)
        report = self._report(table, meta, self._flux(decoded, meta), iou)
        if baseline is not None:
            base_iou = deblend_metrics.iou(baseline["central_mask"], true_central)
            report["baseline"] = self._report(table, meta, baseline["flux"], base_iou)
            report["baseline"]["method"] = baseline["method"]
            network = report["median_abs_flux_error"]
            classical = report["baseline"]["median_abs_flux_error"]
            if network > 0:
                report["baseline_over_network_flux_error"] = float(classical / network)
            report.update(_split_against_baseline(report, meta["bands"]))
        return report

    def baseline(self, table, meta, train_table=None, load_images=None):
        """sep (SExtractor) detection + deblending and Kron (FLUX_AUTO) photometry with
        neighbours' pixels mirrored, on the same stamps (:mod:`astrocnn.tasks.deblend.baseline`)."""
        from astrocnn.tasks.deblend import baseline as deblend_baseline

        if load_images is None:
            return None
        images = load_images(np.arange(len(table)))
        # stamps are sky-subtracted (as the simulator's): give sep the true background
        result = deblend_baseline.baseline_on_stamps(images, method="auto", background=0.0)
        return {
            "flux": np.asarray(result["flux"], dtype=float),
            "central_mask": np.asarray(result["central_mask"], dtype=bool),
            "method": "sep: extract (1.5 sigma, 32 deblending thresholds, contrast 0.005) on "
            "the band sum, FLUX_AUTO (2.5 Kron radii) with neighbours' pixels replaced by their "
            "mirror image (SExtractor's MASK_TYPE CORRECT), background 0 (sky-subtracted stamps)",
        }

    def plots(
        self, truth, decoded, table, load_images, outdir, meta, *, baseline=None, scores=None
    ):
        from astrocnn.tasks.deblend import metrics as deblend_metrics
        from astrocnn.tasks.deblend import plots as deblend_plots

        written = []
        flux_true = self._flux_true(table, meta)
        err = deblend_metrics.relative_flux_error(self._flux(decoded, meta), flux_true)
        separation = self._column(table, "separation_rhalf")
        if separation is not None and baseline is not None:
            base_err = deblend_metrics.relative_flux_error(baseline["flux"], flux_true)
            path = outdir / "flux_error_vs_separation.png"
            deblend_plots.plot_flux_error_vs_separation(
                separation,
                err,
                base_err,
                path,
                delta_mag=self._column(table, "delta_mag"),
            )
            written.append(path)
        rows = np.argsort(separation if separation is not None else np.arange(len(table)))
        rows = rows[np.linspace(0, len(rows) - 1, min(8, len(rows))).astype(int)]
        truths = self.read_truth(table, "evaluation catalogue", rows)
        true_central = np.stack([t[0] for t in truths])
        predicted = np.asarray(decoded["deblended"])[rows]
        path = outdir / "gallery.png"
        deblend_plots.plot_deblend_gallery(
            load_images(rows),
            true_central,
            predicted,
            predicted - true_central,
            path,
            titles=[f"id {table['id'][r]}" for r in rows],
            bands=meta["bands"],
        )
        written.append(path)
        return written

    # --- simulation -------------------------------------------------------------
    def simulate(
        self,
        n,
        seed,
        outdir,
        *,
        progress=False,
        image_format="fits",
        population="classic",
        isolated_fraction=None,
        **survey_options,
    ):
        """Simulate ``n`` blends (`simulate_deblend`): LSST g, r, i, the default model's
        set-up, or all bands of the survey the ``SURVEY_OPTIONS`` name; galaxies of the
        ``population`` (``--population``), a fraction ``isolated_fraction`` of the scenes
        without neighbours."""
        from astrocnn.tasks.deblend.simulate import simulate_deblend

        setup = survey_of(**survey_options)  # ValueError: the CLI's one-line error
        return simulate_deblend(
            n,
            seed,
            outdir,
            size=self.input_size[0],
            bands=self.bands if setup is None else None,
            progress=progress,
            survey=setup,
            population=population,
            isolated_fraction=isolated_fraction,
        )
