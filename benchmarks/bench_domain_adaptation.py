"""Domain adaptation on controlled survey shifts (issue #22).

For each task (lens, morphology) and each direction between two survey presets
(default lsst <-> sdss, the bands both have: g,r,i,z), the benchmark simulates

- a labelled training set in the source survey,
- unlabelled cutouts of the target survey (their labels are not read),
- labelled test sets in both surveys (fresh seeds),

then trains with the real command line, with the same seed and epochs:

``none``
    ``astrocnn train TASK --catalog SOURCE`` (the target is still converted to the
    model's data contract when it is evaluated: pixel scale and flux scale);
``mmd`` / ``dann`` (``mmd:W``: with ``--adapt-weight W``)
    the same plus ``--adapt-to TARGET --adapt mmd|dann``,

and scores every model on both test sets with ``astrocnn evaluate`` (accuracy for
morphology, AUROC for lens; the domain gap that evaluate reports is kept too).
Every arm is cached in ``--workdir``; results go to ``--out`` (JSON) after each arm.

Usage::

    python benchmarks/bench_domain_adaptation.py [--tasks lens,morphology] \\
        [--surveys lsst,sdss] [--n-train 3000] [--n-test 1000] [--epochs 12]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_real_recipe import astrocnn  # the one runner of CLI commands for benchmarks

BANDS = "g,r,i,z"
METRIC = {"lens": "auroc", "morphology": "accuracy"}
SEEDS = {"train": 100, "target": 200, "test": 300}


def simulated(task, survey, role, n, work, log):
    """The catalogue of one simulated set (made once)."""
    folder = work / task / f"{survey}_{role}"
    catalog = folder / "catalog.fits"
    if not catalog.exists():
        seed = SEEDS[role] + (0 if survey == "lsst" else 7)
        astrocnn("simulate", task, "--n", n, "--seed", seed, "--out", folder, "--survey",
                 survey, "--bands", BANDS, "--quiet", log=log)  # fmt: skip
    return catalog


def trained(task, arm, source, target, cats, args, log):
    """The model of one arm (trained once); returns (path, seconds)."""
    out = args.workdir / task / f"{source}_to_{target}" / f"{arm.replace(':', '_w')}.keras"
    if out.exists():
        return out, None
    out.parent.mkdir(parents=True, exist_ok=True)
    method, _, weight = arm.partition(":")  # e.g. mmd:0.3 (default weight 1)
    extra = [] if arm == "none" else ["--adapt-to", cats[target, "target"], "--adapt", method]
    extra += ["--adapt-weight", weight] if weight else []
    seconds = astrocnn("train", task, "--catalog", cats[source, "train"], "--out", out,
                       "--epochs", args.epochs, "--seed", 0, "--quiet", *extra,
                       *args.train_options.split(), log=log)  # fmt: skip
    return out, seconds


def scored(task, model, test, log):
    """``evaluate``'s metrics of ``model`` on the catalogue ``test``."""
    report = model.with_suffix("") / f"report_{test.parent.name}"
    if not (report / "metrics.json").exists():
        astrocnn("evaluate", task, "--model", model, "--catalog", test, "--report", report,
                 "--quiet", "--overwrite", log=log)  # fmt: skip
    return json.loads((report / "metrics.json").read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="lens,morphology")
    parser.add_argument("--surveys", default="lsst,sdss")
    parser.add_argument("--arms", default="none,mmd,dann")
    parser.add_argument("--one-way", action="store_true", help="Only the first to the second.")
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--train-options", default="", help="Extra train options, quoted.")
    parser.add_argument("--workdir", type=Path, default=Path("work_runs/domain_adaptation"))
    parser.add_argument("--out", type=Path, default=Path("docs/domain_adaptation.json"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = args.workdir / "commands.log"
    a, b = args.surveys.split(",")
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for task in args.tasks.split(","):
        cats = {}
        for survey in (a, b):
            cats[survey, "train"] = simulated(
                task, survey, "train", args.n_train, args.workdir, log
            )
            cats[survey, "target"] = simulated(
                task, survey, "target", args.n_train, args.workdir, log
            )
            cats[survey, "test"] = simulated(task, survey, "test", args.n_test, args.workdir, log)
        for source, target in ((a, b),) if args.one_way else ((a, b), (b, a)):
            for arm in args.arms.split(","):
                model, seconds = trained(task, arm, source, target, cats, args, log)
                row = {"task": task, "source": source, "target": target, "arm": arm}
                for where, survey in (("source", source), ("target", target)):
                    metrics = scored(task, model, cats[survey, "test"], log)
                    row[f"{where}_{METRIC[task]}"] = metrics.get(METRIC[task])
                    row[f"{where}_gap"] = (metrics.get("domain_gap") or {}).get("mmd")
                if seconds is not None:
                    row["train_seconds"] = round(seconds, 1)
                key = f"{task}:{source}->{target}:{arm}"
                results[key] = {**results.get(key, {}), **row}
                print(json.dumps(row))
                args.out.write_text(json.dumps(results, indent=2) + "\n")
    conditions = {
        "n_train": args.n_train,
        "n_test": args.n_test,
        "epochs": args.epochs,
        "bands": BANDS,
        "train_options": args.train_options,
    }
    results["_conditions"] = conditions
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
