"""Record the feature-space OOD statistics in the shipped default bundles (metadata only).

Bundles trained with this version fit ``feature_stats`` by themselves
(``train``: the embeddings of up to 5,000 training images and the validation
images, see :mod:`astrocnn.engine.features`). The shipped models were trained
before; this script simulates 2,000 objects of each one's training set (same
simulator and seed as ``scripts/train_default_<task>.sh``; for lens not the
very same objects: its class mix is drawn for the whole run) and 1,000
held-out objects (another seed), fits the statistics and writes them into
the bundle with :func:`astrocnn.io.bundle.update_meta` (the Keras
members, the predictions and the checksum do not change).

It then reports, on 1,000 fresh objects (a third seed), the fraction whose
score exceeds the threshold (and the held-out scores' 90th percentile) as
simulated and after a few shifts:

* ``x3.63``: the fluxes multiplied by 3.63 (a zero point off by 1.4 mag);
* ``rescale1.25``: the cutout magnified by 1.25 (bilinear) and centre-cropped;
* ``jpeg_stretch``: asinh(x / noise) clipped to [0, the cutout's 99.5th
  percentile], quantised to 0..255 and inverted (a display-style 8-bit image);
* ``deeper``: the same objects rendered with 10x less noise, only when
  ``astrocnn simulate`` has a ``--depth-offset`` option (2.5 mag deeper).

    python scripts/feature_stats_defaults.py [WORKDIR]
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from astrocnn.data.preprocess import scaler_from_dict
from astrocnn.data.scalars import ScalarInputs, read_columns
from astrocnn.engine.features import embedder, feature_scores, fit_feature_stats
from astrocnn.engine.layout import catalog_with_layout
from astrocnn.engine.train import training_set_from_source
from astrocnn.io.bundle import load_bundle, read_meta, update_meta
from astrocnn.tasks.registry import get_task

TRAINING_SEEDS = {"lens": 1000, "morphology": 3000, "photoz": 1000}
HELD_OUT_SEED, FRESH_SEED = 7000, 8000  # not the training nor the test seeds
N_TRAIN, N_HELD_OUT, N_FRESH = 2000, 1000, 1000
ZERO_POINT_FACTOR = 10 ** (0.4 * 1.4)  # 3.63
DEPTH_OFFSET = 2.5  # magnitudes: 10x less noise


def dumps(meta):
    return json.dumps(meta, indent=2, sort_keys=True)  # as the bundle stores it


def simulate(name, n, seed, out, *extra):
    if not (out / "catalog.fits").exists():
        command = ["astrocnn", "simulate", name, "--n", str(n), "--seed", str(seed)]
        subprocess.run([*command, "--out", str(out), "--quiet", *extra], check=True)
    return out


def has_depth_offset(name):
    text = subprocess.run(
        ["astrocnn", "simulate", name, "--help"], capture_output=True, text=True
    ).stdout
    return "--depth-offset" in text


def read_set(sims, task, meta):
    """Raw images and standardised extra inputs (or ``None``) of a simulated set."""
    source, layout = catalog_with_layout(
        sims / "catalog.fits", task, ",".join(meta["bands"]), None, None, None, ()
    )
    data = training_set_from_source(source, layout.spec, layout.bands, quiet=True)
    spec = ScalarInputs.from_dict(meta.get("extra_inputs"))
    if spec is None:
        return data.images, None
    values, _ = read_columns(data.table, spec.columns, data.name)
    return data.images, np.nan_to_num(spec.transform(values))  # as predict does


def rescaled(images, factor=1.25):
    from skimage.transform import rescale

    size = images.shape[1:3]
    out = np.empty_like(images)
    for i, image in enumerate(images):
        big = rescale(image, factor, order=1, channel_axis=-1, preserve_range=True)
        y0, x0 = (big.shape[0] - size[0]) // 2, (big.shape[1] - size[1]) // 2
        out[i] = big[y0 : y0 + size[0], x0 : x0 + size[1]]
    return out


def jpeg_stretched(images, scales):
    scales = np.asarray(scales, dtype=np.float32)
    stretched = np.arcsinh(images / scales)
    top = np.percentile(stretched, 99.5, axis=(1, 2, 3), keepdims=True)
    top = np.maximum(top, 1e-3)
    eight_bit = np.round(np.clip(stretched / top, 0, 1) * 255).astype(np.uint8)
    return (np.sinh(eight_bit / 255.0 * top) * scales).astype(np.float32)


def main(workdir: Path) -> None:
    report = {}
    for name, seed in TRAINING_SEEDS.items():
        task, work = get_task(name), workdir / name
        path = task.default_model()
        without = {k: v for k, v in read_meta(path).items() if not k.startswith("feature_stats")}
        bundle = load_bundle(path, task=name, custom_objects=task.keras_objects())
        meta = bundle.meta
        embed = embedder(bundle.model, scaler=scaler_from_dict(meta["preprocessing"]))
        sets = {
            "train": simulate(name, N_TRAIN, seed, work / "train"),
            "held_out": simulate(name, N_HELD_OUT, HELD_OUT_SEED, work / "held_out"),
            "fresh": simulate(name, N_FRESH, FRESH_SEED, work / "fresh"),
        }
        if has_depth_offset(name):
            offset = ("--depth-offset", str(DEPTH_OFFSET))
            sets["deeper"] = simulate(name, N_FRESH, FRESH_SEED, work / "deeper", *offset)
        data = {key: read_set(sims, task, meta) for key, sims in sets.items()}
        held_out = embed(*data["held_out"])
        stats = fit_feature_stats(embed(*data["train"]), held_out)
        p90 = np.percentile(feature_scores(held_out, stats), 90)  # a looser, catalogue-level cut
        update_meta(
            path,
            {
                "feature_stats": stats,
                "feature_stats_source": (
                    f"astrocnn simulate {name} --n {N_TRAIN} --seed {seed} (the training set's "
                    f"simulator and seed) and --n {N_HELD_OUT} --seed {HELD_OUT_SEED} "
                    "(held out, sets the threshold), fitted after training"
                ),
            },
        )
        added = len(dumps(read_meta(path))) - len(dumps(without))  # read_meta: checksum holds
        images, scalars = data["fresh"]
        shifted = {
            "as simulated": images,
            f"x{ZERO_POINT_FACTOR:.2f}": images * ZERO_POINT_FACTOR,
            "rescale1.25": rescaled(images),
            "jpeg_stretch": jpeg_stretched(images, meta["preprocessing"]["scales"]),
        }
        if "deeper" in data:
            shifted["deeper"] = data["deeper"][0]
        rows = {}
        for label, shifted_images in shifted.items():
            scores = feature_scores(embed(shifted_images, scalars), stats)
            rows[label] = {
                "above_threshold": round(float(np.mean(scores > stats["threshold"])), 4),
                "median_score": round(float(np.median(scores)), 3),
                "above_held_out_p90": round(float(np.mean(scores > p90)), 4),
            }
        report[name] = {
            "dim": stats["dim"],
            "threshold": stats["threshold"],
            "held_out_median": stats["held_out_median"],
            "metadata_bytes_added": added,
            "fresh": rows,
        }
        print(name, json.dumps(report[name], indent=2), flush=True)
    (workdir / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "work_runs/feature_stats"))
