"""Training recipes on a realistic stand-in for real galaxy images (issue #21).

The stand-in is made by the project's own simulator: SDSS-like colour JPEG
composites as Galaxy Zoo showed them (``astrocnn simulate morphology --survey
sdss --size 423 --format jpeg``: 0.396"/px, r seeing 1.1-1.8", SDSS depths, a
bright Galaxy Zoo-like sample), three classes (elliptical, spiral, edge-on) and
10 % label noise (volunteers' mistakes), 5,000 images to train on and 1,250 to
test.  The test set is scored against its noisy labels (as a user's test set
would be) and against the simulated classes (``true_label``).

Every arm runs the real command line (``astrocnn pack``, ``train``, ``pretrain``,
``evaluate``) in a subprocess, on 64x64 inputs (``--size 64 --size-mode resize``)
and the same epoch budget, and is cached in ``--workdir`` (re-running skips
finished arms; delete an arm's folder to redo it).  Arms:

``today``
    The recipe of the issue's measurement: small CNN, last epoch kept, no early
    stopping, no label smoothing.
``cnn``, ``resnet``
    Best-validation weights, early stopping (patience 10), label smoothing 0.1;
    small CNN or the residual network (``--arch resnet``).
``finetune``
    The shipped default morphology model (DECaLS-like FITS g,r,i; a small CNN)
    fine-tuned onto the JPEGs with ``--recipe``'s options (its architecture is
    the source's, so compare it with the CNN arm).
``scratch_N`` / ``pretrained_N``
    Learning curve: N % of the training labels, from scratch or from a
    backbone pretrained (``astrocnn pretrain``, SimCLR) on all 5,000 training
    images without their labels; ``scratch_100`` is the full-data arm of the
    same recipe.

The published numbers (docs/real_recipe.json) come from two calls: ``--arms
today,cnn,resnet`` and then ``--arms finetune,scratch,pretrained --recipe
"--arch cnn --keep best --patience 10 --label-smoothing 0.1"`` (the default
model and the pretrained backbone are CNNs; pretraining a ResNet is ~4x
slower on a CPU).

Results go to ``--out`` (JSON), one entry per arm, written after each arm.

Usage::

    python benchmarks/bench_real_recipe.py [--epochs 15] [--arms today,cnn,resnet,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CLASSES = "elliptical,spiral,edge_on"
SIM = ["--survey", "sdss", "--size", "423", "--format", "jpeg", "--classes", CLASSES]
INPUT = ["--size", "64", "--size-mode", "resize"]
NEW = ["--keep", "best", "--patience", "10", "--label-smoothing", "0.1"]
TODAY = ["--arch", "cnn", "--keep", "last", "--patience", "0"]
ARMS = {
    "today": TODAY,
    "cnn": ["--arch", "cnn", *NEW],
    "resnet": ["--arch", "resnet", *NEW],
}
FRACTIONS = (1, 10, 100)


def astrocnn(*args, log):
    """Run one ``astrocnn`` command; return its wall time [s]."""
    exe = str(Path(sys.executable).with_name("astrocnn"))
    t0 = time.perf_counter()
    with open(log, "a") as out:
        out.write("$ astrocnn " + " ".join(map(str, args)) + "\n")
        out.flush()
        subprocess.run([exe, *map(str, args)], check=True, stdout=out, stderr=subprocess.STDOUT)
    return time.perf_counter() - t0


def simulate(work, n_train, n_test, log):
    """The stand-in: training and test JPEG sets, a clean-label test catalogue and
    label-fraction subsets of the training catalogue (all cached).  The training
    set is simulated as two halves (seeds 101 and 103) next to the test set, three
    processes at once."""
    from astropy.table import Table, vstack

    exe = str(Path(sys.executable).with_name("astrocnn"))
    parts = [("train_a", n_train // 2, 101), ("train_b", n_train - n_train // 2, 103)]
    running = []
    for name, n, seed in [*parts, ("test", n_test, 202)]:
        if not (work / name / "catalog.fits").exists():
            args = ["--n", n, "--seed", seed, "--out", work / name, "--label-noise", "0.1"]
            command = [exe, "simulate", "morphology", *map(str, args), *SIM, "-q"]
            with open(log, "a") as out:
                out.write("$ " + " ".join(command) + "\n")
            running.append(subprocess.Popen(command))
    if any(p.wait() for p in running):
        raise SystemExit("a simulation failed (see above)")
    merged = work / "train" / "catalog.fits"
    if not merged.exists():
        halves = []
        for k, (name, _, _) in enumerate(parts):
            half = Table.read(work / name / "catalog.fits")
            half["id"] += k * (n_train // 2)
            half["file"] = [f"../{name}/{f}" for f in half["file"]]
            halves.append(half)
        merged.parent.mkdir(exist_ok=True)
        table = vstack(halves, metadata_conflicts="silent")
        table.meta.update(halves[0].meta)
        table.write(merged)
    clean = work / "test" / "catalog_clean.fits"
    if not clean.exists():
        table = Table.read(work / "test" / "catalog.fits")
        table["label"] = table["true_label"]
        table.write(clean)
    train = Table.read(work / "train" / "catalog.fits")
    order = np.random.default_rng(7).permutation(len(train))
    for pct in FRACTIONS:
        path = work / "train" / f"catalog_{pct}pct.fits"
        if not path.exists():
            train[np.sort(order[: max(30, len(train) * pct // 100)])].write(path)
        packed = work / f"train_{pct}pct.h5"
        if not packed.exists():
            astrocnn("pack", "--catalog", path, "--out", packed, *INPUT, "-q", log=log)


def evaluate(work, model, name, log):
    """Accuracy and balanced accuracy on the noisy and the clean test labels."""
    scores = {}
    for labels, catalog in (("noisy", "catalog.fits"), ("true", "catalog_clean.fits")):
        report = work / "reports" / f"{name}_{labels}"
        args = ["--model", model, "--catalog", work / "test" / catalog, "--report", report]
        astrocnn("evaluate", "morphology", *args, "--overwrite", "-q", log=log)
        metrics = json.loads((report / "metrics.json").read_text())
        scores[labels] = {k: metrics[k] for k in ("accuracy", "balanced_accuracy")}
    return scores


def bundle_meta(path):
    from astrocnn.io.bundle import read_meta

    return read_meta(path)


def run_arm(work, name, train_args, data, epochs, log, results, out):
    """Train one arm (unless cached), evaluate it, record it."""
    model = work / "models" / f"{name}.keras"
    model.parent.mkdir(exist_ok=True)
    seconds = None
    if not model.exists():
        seconds = astrocnn(
            "train", "morphology", "--data", data, "--out", model, "--epochs", epochs,
            *train_args, "-q", log=log,
        )  # fmt: skip
    meta = bundle_meta(model)
    results[name] = {
        "command": "astrocnn train morphology " + " ".join(map(str, train_args)),
        "n_train": meta["provenance"]["n_train"],
        "epochs": epochs,
        "kept_epoch": meta.get("kept_weights", {}).get("epoch"),
        "stopped_early": meta.get("stopped_early"),
        "n_params": meta["n_params"],
        "train_seconds": seconds
        if seconds is not None
        else results.get(name, {}).get("train_seconds"),  # fmt: skip
        "test": evaluate(work, model, name, log),
    }
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{name}: {json.dumps(results[name]['test'])}", flush=True)


def _arm_of(recipe):
    """The name of the full-data arm trained with ``recipe`` (or None)."""
    return next((name for name, args in ARMS.items() if args == recipe), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="work_runs/real_recipe", type=Path)
    parser.add_argument("--out", default="docs/real_recipe.json", type=Path)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=1250)
    parser.add_argument(
        "--arms",
        default="today,cnn,resnet,finetune,scratch,pretrained",
        help="Comma-separated arms to run (scratch/pretrained: the learning curve).",
    )
    parser.add_argument(
        "--recipe",
        default=None,
        help="Train options of the new default (for finetune and the learning curve); "
        "default: whichever of cnn/resnet has the higher clean-label accuracy.",
    )
    args = parser.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    log = work / "commands.log"
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    simulate(work, args.n_train, args.n_test, log)
    full = work / "train_100pct.h5"
    arms = args.arms.split(",")
    for name in ("today", "cnn", "resnet"):
        if name in arms:
            run_arm(work, name, ARMS[name], full, args.epochs, log, results, args.out)
    if args.recipe:
        recipe = args.recipe.split()
    else:
        done = [n for n in ("cnn", "resnet") if n in results]
        best = max(done, key=lambda n: results[n]["test"]["true"]["accuracy"]) if done else "cnn"
        recipe = ARMS[best]
    if "finetune" in arms:
        tune = [*recipe, "--init-from", "morphology"]
        run_arm(work, "finetune", tune, full, args.epochs, log, results, args.out)
    backbone = work / "models" / "pretrained_backbone.keras"
    if "pretrained" in arms and not backbone.exists():
        seconds = astrocnn(
            "pretrain", "morphology", "--data", full, "--out", backbone,
            "--epochs", args.pretrain_epochs, *recipe[:2], "-q", log=log,
        )  # fmt: skip
        results["pretrain"] = {"seconds": seconds}
    if "pretrained" in arms:
        meta = bundle_meta(backbone)
        keep = ("method", "epochs", "batch_size", "temperature", "final_loss", "chance_loss")
        results.setdefault("pretrain", {}).update(
            {k: meta["pretraining"].get(k) for k in keep},
            n_images=meta["pretraining"].get("n_images"),
            architecture=meta["architecture"],
        )
    for pct in FRACTIONS:
        data = work / f"train_{pct}pct.h5"
        same = _arm_of(recipe) if pct == 100 else None
        if "scratch" in arms and same in results:
            results["scratch_100"] = {**results[same], "same_as": same}  # the same run
        elif "scratch" in arms:
            run_arm(work, f"scratch_{pct}", recipe, data, args.epochs, log, results, args.out)
        if "pretrained" in arms:
            tune = [*recipe, "--init-from", backbone]
            run_arm(work, f"pretrained_{pct}", tune, data, args.epochs, log, results, args.out)


if __name__ == "__main__":
    main()
