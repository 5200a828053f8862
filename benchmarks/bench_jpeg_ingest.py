"""JPEG ingest: 423x423 colour JPEGs to 64x64 model inputs, in one run.

What ``astrocnn train/predict --size-mode resize`` does with a folder of
SDSS-style colour composites, timed three ways on the same files:

* **full decode + scikit-image resize** (the reader before the fast path):
  decode every pixel, then an anti-aliased bilinear resize;
* **astrocnn, one thread**: :func:`astrocnn.io.cutouts.read_cutout` with a
  ``resize`` spec, which decodes JPEGs at reduced scale (PIL draft mode) and
  resizes with PIL's anti-aliased Lanczos filter;
* **astrocnn, catalogue reader**: :func:`astrocnn.data.loading.load_all`
  with its reader threads, as train and predict read catalogues.

Usage::

    python benchmarks/bench_jpeg_ingest.py [--n 1000] [--workdir DIR]

The JPEGs are drawn once into the workdir (smooth galaxy-like blobs with
noise, quality 90; the content does not change decode speed much).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

SIDE, TARGET = 423, 64


def make_jpegs(folder: Path, n: int) -> list[str]:
    """``n`` SIDE x SIDE colour JPEGs (reused when present)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:SIDE, :SIDE] - SIDE // 2
    paths = []
    for i in range(n):
        path = folder / f"g{i:05d}.jpg"
        if not path.exists():
            radius = rng.uniform(15, 60)
            blob = 140 * np.exp(-(x**2 + (y * rng.uniform(0.4, 1)) ** 2) / (2 * radius**2))
            image = blob[..., None] * np.array([1.0, 0.8, 0.6]) + rng.normal(12, 4, (SIDE, SIDE, 3))
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def rate(read, paths) -> float:
    start = time.perf_counter()
    read(paths)
    return len(paths) / (time.perf_counter() - start)


def full_decode(paths):
    from skimage.io import imread
    from skimage.transform import resize

    for path in paths:
        image = np.asarray(imread(path), np.float32)
        resize(image, (TARGET, TARGET, 3), order=1, anti_aliasing=True, preserve_range=True)


def main():
    from astrocnn.data.loading import load_all
    from astrocnn.io.cutouts import CutoutSpec, read_cutout

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workdir", default="work_runs/bench_jpeg")
    args = parser.parse_args()
    paths = make_jpegs(Path(args.workdir), args.n)
    spec = CutoutSpec(3, (TARGET, TARGET), size_mode="resize", image_kind="raster")

    def one_thread(paths):
        for path in paths:
            read_cutout(path, spec)

    def catalogue(paths):
        block = load_all([[p] for p in paths], spec)
        assert block.ok.all()

    rates = {
        "full decode + scikit-image resize": rate(full_decode, paths),
        "astrocnn read_cutout, one thread": rate(one_thread, paths),
        "astrocnn catalogue reader (threads)": rate(catalogue, paths),
    }
    base = rates["full decode + scikit-image resize"]
    print(f"{args.n} JPEGs {SIDE}x{SIDE} -> {TARGET}x{TARGET}")
    for name, value in rates.items():
        print(f"  {name:40s} {value:8.0f} images/s  ({value / base:.1f}x)")


if __name__ == "__main__":
    main()
