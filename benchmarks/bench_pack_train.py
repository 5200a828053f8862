"""Training from a packed JPEG set vs re-reading the folder, end to end, in one run.

The user's two ways to train morphology on a folder of SDSS-style 423x423
colour JPEGs (Galaxy Zoo-like), timed as subprocesses (TensorFlow start-up
included), on the same machine and files:

1. **folder**: ``astrocnn train morphology --catalog CAT --size 64
   --size-mode resize --epochs E`` decodes every JPEG (shrunk while decoding:
   PIL draft mode + Lanczos) at each run;
2. **packed**: ``astrocnn pack --catalog CAT --size 64 --size-mode resize``
   once, then ``astrocnn train morphology --data p.h5 --epochs E``.

For each E it prints the wall times (the best of ``--repeats`` runs,
interleaved, after an untimed TensorFlow import that warms the file cache)
and the ratios folder / packed for the train command alone and for pack +
train (the pack made once and shown on its own).  ``--slow-decoder`` adds the folder run with
the reader before the fast path (every pixel decoded, then a scikit-image
resize: :data:`astrocnn.io.cutouts.SHRINK_WHILE_DECODING` off), for context.

The JPEGs are simulated once into ``--workdir`` (``astrocnn simulate
morphology --survey sdss --size 423 --format jpeg``) and reused.

Usage::

    python benchmarks/bench_pack_train.py [--n 1000] [--epochs 1,3] [--repeats 2] [--slow-decoder]
    python benchmarks/bench_pack_train.py --quick      # ~1 minute: n 96, 1 epoch, 1 repeat
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

SIDE, SIZE = 423, 64
CLASSES = "elliptical,spiral,edge_on"
# the reader before the fast path: full decode + scikit-image resize
SLOW_DECODER = (
    "import sys, astrocnn.io.cutouts as c; c.SHRINK_WHILE_DECODING = False; "
    "from astrocnn_cli.main import main; sys.argv[0] = 'astrocnn'; main()"
)


def astrocnn(*args, slow=False) -> float:
    """Run ``astrocnn ARGS`` in a fresh process; its wall time in seconds."""
    exe = str(Path(sys.executable).with_name("astrocnn"))
    command = [sys.executable, "-c", SLOW_DECODER] if slow else [exe]
    start = time.perf_counter()
    done = subprocess.run([*command, *map(str, args)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"astrocnn {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return elapsed


def simulated(workdir: Path, n: int, seed: int) -> Path:
    """The catalogue of ``n`` simulated 423x423 JPEGs (simulated once, then reused)."""
    folder = workdir / f"jpeg_n{n}_seed{seed}"
    catalog = folder / "catalog.fits"
    if not catalog.exists():
        print(f"simulating {n} {SIDE}x{SIDE} JPEGs into {folder} (once) ...", flush=True)
        seconds = astrocnn("simulate", "morphology", "--n", n, "--seed", seed, "--out", folder,
                           "--survey", "sdss", "--size", SIDE, "--format", "jpeg",
                           "--classes", CLASSES, "-q")  # fmt: skip
        print(f"  simulated in {seconds:.0f} s", flush=True)
    return catalog


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="JPEGs in the folder")
    parser.add_argument("--epochs", default="1,3", help="comma-separated epoch counts")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the simulation")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; the best is kept")
    parser.add_argument(
        "--slow-decoder", action="store_true", help="also time the folder with the full decoder"
    )
    parser.add_argument(
        "--quick", action="store_true", help="n 96, 1 epoch, 1 repeat (about a minute)"
    )
    parser.add_argument("--workdir", default="work_runs/bench_pack_train")
    args = parser.parse_args()
    if args.quick:
        args.n, args.epochs, args.repeats, args.slow_decoder = 96, "1", 1, False
    epochs = [int(e) for e in args.epochs.split(",")]
    workdir = Path(args.workdir)
    catalog = simulated(workdir, args.n, args.seed)
    runs = workdir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    packed = runs / "p.h5"
    common = ["--overwrite", "-q"]

    subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, capture_output=True)
    best = {}

    def timed(key, *run_args, slow=False):
        seconds = astrocnn(*run_args, slow=slow)
        best[key] = min(best.get(key, seconds), seconds)
        return seconds

    for repeat in range(args.repeats):
        timed("pack", "pack", "--catalog", catalog, "--out", packed, "--size", SIZE,
              "--size-mode", "resize", *common)  # fmt: skip
        for e in epochs:
            folder = timed(("folder", e), "train", "morphology", "--catalog", catalog,
                           "--size", SIZE, "--size-mode", "resize", "--epochs", e,
                           "--out", runs / "a.keras", *common)  # fmt: skip
            train = timed(("packed", e), "train", "morphology", "--data", packed, "--epochs", e,
                          "--out", runs / "b.keras", *common)  # fmt: skip
            line = f"  run {repeat + 1}, {e} epoch(s): folder {folder:.1f} s, packed {train:.1f} s"
            if args.slow_decoder:
                slow = timed(("slow", e), "train", "morphology", "--catalog", catalog,
                             "--size", SIZE, "--size-mode", "resize", "--epochs", e,
                             "--out", runs / "c.keras", *common, slow=True)  # fmt: skip
                line += f", folder with the full decoder {slow:.1f} s"
            print(line, flush=True)
    pack = best["pack"]
    rows = [(e, best["folder", e], best["packed", e], best.get(("slow", e))) for e in epochs]

    print(f"\nmorphology training, {args.n} JPEGs {SIDE}x{SIDE} -> {SIZE}x{SIZE} (wall time "
          f"of each command, TensorFlow start-up included; best of {args.repeats})")  # fmt: skip
    print(f"  pack (made once per folder)      : {pack:7.1f} s")
    for e, folder, train, slow in rows:
        print(f"  {e} epoch(s):")
        print(f"    train from the folder          : {folder:7.1f} s")
        if slow is not None:
            print(f"    ... with the full decoder      : {slow:7.1f} s  "
                  f"(folder / packed {slow / train:.2f}x)")  # fmt: skip
        print(f"    train from the packed file     : {train:7.1f} s")
        print(f"    folder / packed, train alone   : {folder / train:7.2f}x  (goal >= 3)")
        print(f"    folder / (pack + train)        : {folder / (pack + train):7.2f}x")


if __name__ == "__main__":
    main()
