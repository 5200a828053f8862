"""Painting baryons: gas maps from dark-matter-only maps with an image-to-image U-Net.

Hydrodynamic simulations cost orders of magnitude more than dark-matter-only
ones; a U-Net learns the non-linear, non-local map from the cheap dark-matter
density to the expensive gas fields (Tröster et al. 2019; Thiele et al.
2020; the CAMELS multifield maps).  Inputs are dark-matter density maps
(``1 + delta``); outputs are the channels of the training target files
(by default gas density, temperature and neutral hydrogen).

* **Transforms** (stored in the bundle): the input and every output channel
  are modelled as ``log10`` of the field, standardised with the training
  set's mean and spread, because these fields span decades and are positive;
  a map with a non-positive value where a logarithm is declared is refused.
  An output channel may be declared ``log10(y + offset)`` (``--log-offset``),
  which compresses values well below the offset.
* **Network**: a U-Net whose input is wrapped around periodically before the
  first convolution (the maps are projections of periodic boxes, header card
  ``PERIODIC``), so its edges see the neighbouring periodic image instead of
  zeros.  Loss: pixel mean squared error in the transformed space, plus
  optionally (``--power-loss-weight``) the squared log ratio of the
  predicted to the true power spectrum
  (:mod:`astrocnn.tasks.paint.spectral_loss`).
* **Prediction** on maps of any size: overlapping tiles of the training size
  blended with a smooth window, wrapping around periodic maps
  (:mod:`astrocnn.engine.maps`, :mod:`astrocnn.engine.tiling`).
* **Evaluation**: per channel the transfer function T(k) = sqrt(P_pred /
  P_true), the cross-correlation coefficient r(k) = P_cross / sqrt(P_pred
  P_true), one-point PDFs and the pixel MSE in the transformed space
  (:mod:`astrocnn.tasks.paint.spectra`), next to the best log-linear bias model of the
  smoothed dark matter (:mod:`astrocnn.tasks.paint.baseline`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from astrocnn.errors import CatalogError, CutoutError
from astrocnn.io.catalog import require_columns, resolve_paths
from astrocnn.tasks.base import BASELINE_TRAIN, Task, TaskOption, comma_list

PERIODIC_PAD = 16


def _read_target(path):
    """Channels of a target file: (H, W, C) float32, names and units."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        hdus = [h for h in hdul if getattr(h, "is_image", False) and h.data is not None]
        names = [h.header.get("EXTNAME", f"CHANNEL{i}") for i, h in enumerate(hdus)]
        units = [str(h.header.get("BUNIT", "")) for h in hdus]
        data = np.stack([np.asarray(h.data, np.float32) for h in hdus], axis=-1)
    return data, names, units


def _per_channel(value, names, flag, what):
    """One number, or one per output channel, each finite and >= 0 (default [0.0])."""
    values = value if value is not None else [0.0]
    values = [values] if isinstance(values, int | float | str) else list(values)
    try:
        values = [float(v) for v in values]
    except ValueError:
        raise CatalogError(
            f"{flag}: {value!r} is not a number or a comma-separated list of numbers"
        ) from None
    if not all(np.isfinite(v) and v >= 0 for v in values):
        raise CatalogError(f"{flag} must be >= 0, got {value}")
    if len(values) not in (1, len(names)):
        raise CatalogError(
            f"{flag}: give one {what} or one per output channel ({', '.join(names)}), "
            f"not {len(values)}"
        )
    return values


SIMULATED_SIZE = 64  # pixels per side of the simulated maps


class PaintTask(Task):
    """Dark-matter density maps -> gas density, temperature and HI maps."""

    name = "paint"
    summary = "painting baryons: gas maps from dark-matter maps with a U-Net"
    bands = ("dm_density",)
    augmentation = "d4"
    spatial_targets = True
    supports_tta = True
    options = (
        TaskOption(
            "depth",
            ("simulate",),
            "Projection depth of each map [Mpc/h] in the 25 Mpc/h boxes (default 5, as the "
            "CAMELS maps; 25 projects whole boxes).",
            type=float,
            minimum=0,
            maximum=25,
            minimum_open=True,
        ),
        TaskOption(
            "power_loss_weight",
            ("train",),
            "Add this weight times the squared log ratio of the predicted to the true power "
            "spectrum (16 radial bins up to Nyquist) to the pixel MSE (default 0); one number, "
            "or one per output channel (e.g. 1,0,1).",
            parse=comma_list,
            loss_only=True,
        ),
        TaskOption(
            "power_loss_space",
            ("train",),
            "Match the power spectra of the maps in physical units (default; what evaluate "
            "compares) or in the transformed (standardised log10) space.",
            type=("physical", "transformed"),
            loss_only=True,
        ),
        TaskOption(
            "log_offset",
            ("train",),
            "Model each output channel as log10(y + offset) instead of log10(y) (in the "
            "channel's units; one number, or one per channel, e.g. 0,1e5,0): compresses "
            "values well below the offset, so the fit favours the large ones (e.g. the hot "
            "gas that dominates a temperature map's power).",
            parse=comma_list,
        ),
        replace(
            BASELINE_TRAIN,
            help="Labelled catalogue to fit the bias baseline on (default: fitted on the "
            "evaluated maps themselves, in-sample).",
        ),
    )
    fitted_target_keys = ("target_transform",)
    image_outputs = ("maps",)
    input_size = None  # any map size: the U-Net is fully convolutional
    architecture_name = "unet"
    default_file_columns = ("input_file",)
    split_groups = "box"  # the slabs of one simulated box share its structures
    summary_metrics = ("mse_mean", "worst_abs_transfer_minus_1", "worst_r")
    target_column = "target_file"

    def prediction_mode(self, from_files):
        """One painted map per input map, of any size."""
        return "maps"

    # --- inputs ---------------------------------------------------------------
    def fit_input_scaler(self, image_kind, images, seed=0):
        from astrocnn.data.preprocess import LogScaler

        self.validate_map(np.asarray(images), "training maps")
        return LogScaler.fit(images, seed=seed, floor=1e-6)

    def validate_map(self, data, source):
        """Refuse non-positive densities (the log transform is declared)."""
        bad = ~(np.asarray(data) > 0)
        if bad.any():
            raise CutoutError(
                f"{source}: {int(bad.sum())} pixel(s) <= 0 in a density map (log10 transform)"
            )

    # --- targets and model -------------------------------------------------
    def truth_columns(self, meta):
        return (self.target_column,)

    @staticmethod
    def _paths(table, column, source):
        """Per row, the file named by ``column``, resolved against the catalogue's folder."""
        require_columns(table, [column], source)
        return [p[0] for p in resolve_paths(table, [column], table.meta.get("catalog_dir", "."))]

    def read_targets(self, table, source):
        """Physical target maps (N, H, W, C), their channel names and units."""
        maps, names, units = [], None, None
        for i, path in enumerate(self._paths(table, self.target_column, source)):
            try:
                data, these, their_units = _read_target(path)
            except (OSError, ValueError, TypeError) as exc:
                raise CatalogError(f"{source}: row {i}: target file {path}: {exc}") from None
            if names is None:
                names, units = these, their_units
            if these != names:
                raise CatalogError(
                    f"{source}: row {i}: target file {path} has channels {these}, not {names}"
                )
            if maps and data.shape != maps[0].shape:
                raise CatalogError(
                    f"{source}: row {i}: target map {path} is {data.shape[:2]}, the others "
                    f"{maps[0].shape[:2]}"
                )
            self.validate_map(data, f"{source}: row {i}: {path}")
            maps.append(data)
        if not maps:
            raise CatalogError(f"{source}: no target maps")
        return np.stack(maps), names, units

    def fit_targets(
        self, table, source, power_loss_weight=None, power_loss_space=None, log_offset=None
    ):
        """Channels, units, transforms and periodicity of the training targets.

        ``power_loss_weight`` (>= 0, default 0; one, or one per output
        channel): weight of the power-spectrum term of the loss
        (:func:`~astrocnn.tasks.paint.spectral_loss.power_spectrum_loss`), on the
        spectra of the maps in physical units (``power_loss_space``
        ``'physical'``, the default) or in the transformed space
        (``'transformed'``; bundles from before the choice existed).
        ``log_offset`` (>= 0, default 0; one, or one per output channel, in the
        channel's units): each channel is modelled as ``log10(y + offset)``
        instead of ``log10(y)``.
        """
        from astrocnn.data.preprocess import LogScaler

        maps, names, units = self.read_targets(table, source)
        weights = _per_channel(power_loss_weight, names, "--power-loss-weight", "weight")
        space = power_loss_space[0] if isinstance(power_loss_space, list) else power_loss_space
        if space not in (None, "physical", "transformed"):
            raise CatalogError(
                f"--power-loss-space must be 'physical' or 'transformed', got {space!r}"
            )
        offsets = _per_channel(log_offset, names, "--log-offset", "offset")
        if not any(offsets):
            offsets = None  # a plain log10, as bundles before offsets existed
        elif len(offsets) == 1:
            offsets = offsets * len(names)
        periodic = str(table.meta.get("PERIODIC", "T")).upper() in ("T", "TRUE", "1")
        return {
            "power_loss_weight": weights[0] if len(weights) == 1 else weights,
            "power_loss_space": space or "physical",
            "log_offset": offsets,
            "output_channels": list(names),
            "output_units": list(units),
            "target_transform": LogScaler.fit(maps, floor=1e-30, offset=offsets).to_dict(),
            "periodic": periodic,
            "box_size": float(table.meta.get("BOXSIZE", 0.0)) or None,
        }

    def targets(self, table, meta, source):
        from astrocnn.data.preprocess import scaler_from_dict

        maps, names, _ = self.read_targets(table, source)
        if list(names) != list(meta["output_channels"]):
            raise CatalogError(f"{source}: target channels {names} differ from the model's")
        return scaler_from_dict(meta["target_transform"]).transform(maps)

    def build_model(self, input_shape, meta, options):
        from astrocnn.models.unet import build_unet

        if input_shape[0] != input_shape[1] or input_shape[0] % 8:
            raise CatalogError(
                f"maps must be square with a side divisible by 8, got "
                f"{input_shape[0]}x{input_shape[1]}"
            )
        heads = [("maps", len(meta["output_channels"]), None)]
        return build_unet(
            input_shape,
            heads,
            widths=options.get("widths", (16, 32, 64, 128)),
            periodic_pad=PERIODIC_PAD if meta.get("periodic") else 0,
            any_size=True,
        )

    def loss(self, meta):
        weight = np.atleast_1d(np.asarray(meta.get("power_loss_weight") or 0.0, float))
        if not np.any(weight):
            return "mean_squared_error"
        from astrocnn.tasks.paint.spectral_loss import power_spectrum_loss

        # bundles from before the choice matched the transformed maps' spectra
        if meta.get("power_loss_space", "transformed") == "physical":
            return power_spectrum_loss(weight, physical=meta["target_transform"])
        return power_spectrum_loss(weight)

    def tile_network(self, bundle):
        """The same weights without the periodic wrap: a tile of a larger map must see its
        true neighbours (cut by the tiling), not its own opposite edge."""
        meta = dict(bundle.meta)
        if not meta.get("periodic"):
            return bundle.model
        meta["periodic"] = False
        options = {"widths": tuple(meta["model_options"]["widths"])}
        twin = self.build_model(tuple(meta["input_shape"]), meta, options)
        twin.set_weights(bundle.model.get_weights())
        return twin

    # --- outputs -------------------------------------------------------------
    def output_columns(self, meta, **options):
        return {}

    def decode(self, raw, meta, **options):
        from astrocnn.data.preprocess import scaler_from_dict

        return {"maps": scaler_from_dict(meta["target_transform"]).inverse(raw)}

    def decode_map(self, raw, meta):
        """One predicted map (H, W, C) -> ``{channel: (physical map, unit)}``."""
        physical = self.decode(raw[None], meta)["maps"][0]
        return {
            name: (physical[..., c], unit)
            for c, (name, unit) in enumerate(zip(meta["output_channels"], meta["output_units"]))
        }

    # --- evaluation -----------------------------------------------------------
    def headline_metric(self):
        return "mse_mean"

    def _box(self, meta, table):
        box = meta.get("box_size") or (table.meta.get("BOXSIZE") if table is not None else None)
        return float(box) if box else 1.0

    def _report(self, pred, true, meta, table):
        from astrocnn.tasks.paint import spectra

        names = list(meta["output_channels"])
        box = self._box(meta, table)
        transforms = ["log10"] * len(names)
        per_channel = spectra.paint_report(
            pred, true, box, channel_names=names, transforms=transforms
        )
        values = list(per_channel.values())

        def worst(key, pick):
            found = [v[key] for v in values if v.get(key) is not None]
            return float(pick(found)) if found else None

        return {
            "n": int(len(true)),
            "mse_mean": float(np.mean([v["mse"] for v in values])),
            "worst_abs_transfer_minus_1": worst("max_abs_transfer_minus_1", max),
            "worst_r": worst("min_r", min),
            "k_max": values[0].get("k_max"),
            "channels": per_channel,
        }

    def evaluate(self, truth, decoded, meta, *, table=None, baseline=None):
        from astrocnn.data.preprocess import scaler_from_dict

        true = scaler_from_dict(meta["target_transform"]).inverse(truth)
        report = self._report(np.asarray(decoded["maps"]), true, meta, table)
        if baseline is not None:
            report["baseline"] = self._report(baseline["maps"], true, meta, table)
            report["baseline"]["method"] = baseline["method"]
        return report

    def baseline(self, table, meta, train_table=None, load_images=None):
        """Best log-linear bias model of the smoothed dark matter, per channel."""
        from astrocnn.io.cutouts import read_cutout
        from astrocnn.tasks.paint import baseline as paint_baseline

        if load_images is None:
            return None
        box = self._box(meta, table)
        dm = load_images(np.arange(len(table)))[..., 0]
        if train_table is not None:
            inputs = self._paths(train_table, self.default_file_columns[0], "baseline")
            fit_dm = np.stack([read_cutout(path).data[..., 0] for path in inputs])
            fit_targets, _, _ = self.read_targets(train_table, "baseline training catalogue")
            fitted = f"fitted on the {len(fit_dm)} maps of the baseline training catalogue"
        else:
            fit_dm = dm
            fit_targets, _, _ = self.read_targets(table, "evaluation catalogue")
            fitted = "fitted on the evaluated maps themselves (in-sample)"
        model = paint_baseline.BiasModel().fit(fit_dm, fit_targets, box)
        return {
            "maps": model.predict(dm, box),
            "method": f"log-linear bias of Gaussian-smoothed dark matter; {fitted}",
        }

    def plots(
        self, truth, decoded, table, load_images, outdir, meta, *, baseline=None, scores=None
    ):
        from astrocnn.data.preprocess import scaler_from_dict
        from astrocnn.tasks.paint import plots as paint_plots

        names = list(meta["output_channels"])
        true = scaler_from_dict(meta["target_transform"]).inverse(truth)
        pred = np.asarray(decoded["maps"])
        dm = load_images([0])[0, ..., 0]
        written = [outdir / f"{name}.png" for name in ("maps", "transfer_and_correlation", "pdfs")]
        paint_plots.plot_maps(
            dm,
            true[0],
            pred[0],
            written[0],
            channel_names=names,
            baseline=None if baseline is None else baseline["maps"][0],
        )
        # T(k) and r(k) as evaluate computed them (per channel; None where undefined)
        if scores is None:
            scores = self.evaluate(truth, decoded, meta, table=table, baseline=baseline)

        def curves(report, key):
            return np.array(
                [[np.nan if v is None else v for v in report["channels"][n][key]] for n in names]
            )

        first = scores["channels"][names[0]]
        paint_plots.plot_transfer_and_correlation(
            np.asarray(first["k"], float),
            curves(scores, "transfer"),
            curves(scores, "r"),
            written[1],
            channel_names=names,
            baseline=None
            if baseline is None
            else (curves(scores["baseline"], "transfer"), curves(scores["baseline"], "r")),
            k_nyquist=first["k_nyquist"],
        )
        paint_plots.plot_pdfs(
            true,
            pred,
            written[2],
            channel_names=names,
            baseline=None if baseline is None else baseline["maps"],
        )
        return written

    # --- simulation -------------------------------------------------------------
    def simulate(self, n, seed, outdir, *, progress=False, image_format="fits", depth=None):
        """Maps of 25 Mpc/h boxes at the training size; ``depth``: slab depth [Mpc/h]
        (default `astrocnn.tasks.paint.simulate.DEFAULT_DEPTH`, 5, as CAMELS; 25: whole boxes)."""
        from astrocnn.tasks.paint.simulate import DEFAULT_DEPTH, simulate_paint

        depth = DEFAULT_DEPTH if depth is None else float(depth)
        return simulate_paint(n, seed, outdir, size=SIMULATED_SIZE, depth=depth, progress=progress)
