"""Reference predictions of the shipped default models on the bundled sample data.

:func:`run_all` runs the README's ``predict`` examples (one per task, plus
deblend fields); :func:`collect` turns an output folder into named arrays
(every image HDU and every table column of every FITS file). The arrays in
``default_outputs.npz`` were recorded with this module before the package
was restructured (issue 19), and again when a default model was retrained on
purpose (lens, morphology and photo-z with band dropout, issue 20, which also added
the out-of-distribution columns); ``test_reference_outputs.py`` checks that
today's code still produces them.

Record again (only when a default model changes on purpose)::

    python tests/reference/outputs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
RECORDED = Path(__file__).with_name("default_outputs.npz")

COMMANDS = [
    ["lens", "--catalog", "lens/catalog.fits", "--out", "lens.fits"],
    ["morphology", "--catalog", "morphology/fits/catalog.fits", "--out", "morph.fits"],
    ["photoz", "--catalog", "photoz/catalog.fits", "--out", "pz.fits", "--pdf-grid", "0,3,31"],
    ["deblend", "--catalog", "deblend/stamps/catalog.fits", "--out", "db.fits"],
    ["deblend", "deblend/field.fits", "--out", "field_out"],
    ["paint", "--catalog", "paint/catalog.fits", "--out", "painted"],
]


def commands(outdir: Path) -> list[list[str]]:
    """The ``astrocnn predict`` argument lists, with sample and output paths filled in."""
    out = []
    for task, *args in COMMANDS:
        resolved = []
        for previous, arg in zip(["", *args], args):
            if previous == "--out":
                resolved.append(str(outdir / arg))
            elif (SAMPLE / arg).exists():
                resolved.append(str(SAMPLE / arg))
            else:
                resolved.append(arg)
        out.append(["predict", task, *resolved, "--quiet"])
    return out


def collect(outdir: Path) -> dict[str, np.ndarray]:
    """Every image HDU and table column of every FITS file under ``outdir``."""
    arrays = {}
    for path in sorted(Path(outdir).rglob("*.fits")):
        name = path.relative_to(outdir).as_posix()
        with fits.open(path) as hdus:
            for k, hdu in enumerate(hdus):
                if isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)):
                    for column in hdu.columns.names:
                        arrays[f"{name}[{k}].{column}"] = np.asarray(hdu.data[column])
                elif hdu.data is not None:
                    arrays[f"{name}[{k}]"] = np.asarray(hdu.data)
    return arrays


def run_all(outdir: Path) -> dict[str, np.ndarray]:
    """Run every reference command into ``outdir`` and collect the outputs."""
    from click.testing import CliRunner

    from astrocnn_cli.main import main

    runner = CliRunner()
    for args in commands(Path(outdir)):
        result = runner.invoke(main, args, catch_exceptions=False)
        if result.exit_code != 0:
            raise RuntimeError(f"astrocnn {' '.join(args)} failed: {result.output}")
    return collect(outdir)


if __name__ == "__main__":  # pragma: no cover
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        arrays = run_all(Path(tmp))
    np.savez_compressed(RECORDED, **arrays)
    print(f"recorded {len(arrays)} arrays in {RECORDED}", file=sys.stderr)
