"""Measure the default lens model on simulations of other survey set-ups (issue #20).

    python scripts/survey_shift_lens.py [WORKDIR]

1. Survey shift: 2,000 fresh lens simulations at the training set-up, and
   2,000 rendered at 0.168"/px (76 px, the same 12.8" field), AB zero point 27
   and 2 mag deeper (``astrocnn simulate lens --pixel-scale 0.168 --size 76
   --zero-point 27 --depth-offset 2``).  The shifted set is predicted with
   ``--match-depth`` (a) from its header cards alone, (b) with the cards
   removed and the set-up given as options, (c) without --match-depth.
2. Out-of-distribution calibration: the fraction of rows with ``ood_flags``
   set, and the run's summary warning, on the training set-up and on shifted
   sets whose files do not declare the shift: 10x deeper (noise sigma / 10),
   pixel scale x0.8, zero point off by 1.4 mag, and a JPEG-like display
   stretch (asinh to 0-255 integers).

Writes WORKDIR/survey_shift.json and prints a table.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from astrocnn.tasks.classification.metrics import auroc

N = 2000
SEED = 9100
SET_UP_CARDS = ("PIXSCALE", "MAGZP", "BUNIT", "CTYPE1", "CTYPE2", "CDELT1", "CDELT2",
                "CUNIT1", "CUNIT2", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2")  # fmt: skip


def astrocnn(*args):
    """Run the command line; return its combined output."""
    done = subprocess.run(["astrocnn", *map(str, args)], capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def simulate(work, name, *options, n=N):
    out = work / name
    if not (out / "catalog.fits").exists():
        astrocnn("simulate", "lens", "--n", n, "--seed", SEED, "--out", out, "--quiet", *options)
    return out / "catalog.fits"


def rewrite(catalog, out, transform=None):
    """A copy of a simulated set without the set-up cards (and pixels transformed)."""
    if (out / "catalog.fits").exists():
        return out / "catalog.fits"
    table = Table.read(catalog)
    (out / "cutouts").mkdir(parents=True)
    for name in table["file"]:
        with fits.open(catalog.parent / name) as hdus:
            header = hdus[0].header.copy()
            for key in SET_UP_CARDS:
                header.remove(key, ignore_missing=True)
            data = hdus[0].data if transform is None else transform(hdus[0].data)
            fits.PrimaryHDU(data.astype(np.float32), header).writeto(out / name)
    table.write(out / "catalog.fits")
    return out / "catalog.fits"


def display_stretch(cube):
    """What a colour JPEG does to fluxes: asinh stretch, clipped, 8-bit integers."""
    out = np.empty_like(cube)
    for b, plane in enumerate(cube):
        lo, hi = np.percentile(plane, [1, 99.9])
        scaled = np.arcsinh((plane - lo) / (0.05 * (hi - lo))) / np.arcsinh(20.0)
        out[b] = np.round(np.clip(scaled, 0, 1) * 255)
    return out


def predict(catalog, out, *options):
    log = astrocnn("predict", "lens", "--catalog", catalog, "--out", out, "--overwrite", *options)
    table = Table.read(out)
    warning = [line for line in log.splitlines() if "warning" in line]
    converted = [line for line in log.splitlines() if line.startswith("converted")]
    return table, warning, converted


def summary(table, warning, converted):
    ok = table["status"] == "ok"
    labels = np.asarray(table["label"])[ok] if "label" in table.colnames else None
    result = {
        "n": int(ok.sum()),
        "flagged": float(np.mean(np.asarray(table["ood_flags"])[ok] != 0)),
        "median_noise_ratio": float(np.nanmedian(np.asarray(table["noise_ratio"])[ok])),
        "warning": warning,
        "converted": converted,
    }
    if labels is not None:
        result["auroc"] = float(auroc(labels, np.asarray(table["p_lens"])[ok]))
    return result


def with_labels(out, catalog):
    table = Table.read(out)
    table["label"] = Table.read(catalog)["label"]
    table.write(out, overwrite=True)


def main(work: Path):
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    ref = simulate(work, "reference")
    shifted = simulate(work, "hsc_like", "--pixel-scale", 0.168, "--size", 76,
                       "--zero-point", 27, "--depth-offset", 2)  # fmt: skip
    silent = rewrite(shifted, work / "hsc_like_no_cards")
    runs = {
        "training set-up": (ref, ()),
        "0.168/px, ZP 27, 2 mag deeper: cards + --match-depth": (shifted, ("--match-depth",)),
        "the same, no cards: options + --match-depth": (
            silent, ("--pixel-scale", 0.168, "--zero-point", 27, "--match-depth")),
        "the same, cards, no --match-depth": (shifted, ()),
    }  # fmt: skip
    shifts = {
        "10x deeper (undeclared)": rewrite(
            simulate(work, "deeper", "--depth-offset", 2.5), work / "deeper_silent"
        ),
        "pixel scale x0.8 (undeclared)": rewrite(
            simulate(work, "scale08", "--pixel-scale", 0.16, "--size", 80), work / "scale08_silent"
        ),
        "zero point off by 1.4 mag (undeclared)": rewrite(
            simulate(work, "zp314", "--zero-point", 31.4), work / "zp314_silent"
        ),
        "JPEG-like stretch": rewrite(ref, work / "jpeg_like", display_stretch),
    }
    runs.update({name: (catalog, ()) for name, catalog in shifts.items()})
    # 80 px at 0.16"/px: the user crops to the model's 64 px, not knowing the scale
    runs["pixel scale x0.8 (undeclared)"] = (shifts["pixel scale x0.8 (undeclared)"],
                                             ("--size-mode", "crop"))  # fmt: skip
    for i, (name, (catalog, options)) in enumerate(runs.items()):
        out = work / f"pred_{i}.fits"
        table, warning, converted = predict(catalog, out, *options)
        table["label"] = Table.read(catalog)["label"]
        results[name] = summary(table, warning, converted)
        print(f"{name:58s} AUROC {results[name]['auroc']:.4f}  flagged "
              f"{results[name]['flagged']:6.1%}  noise ratio "
              f"{results[name]['median_noise_ratio']:.3g}")  # fmt: skip
        for line in converted + warning:
            print(f"    {line}")
    (work / "survey_shift.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "work_runs/survey_shift"))
