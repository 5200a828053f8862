"""Copy a catalogue of FITS cubes with one band blanked (all zero): what a survey
cutout lacking that band looks like once zero-filled.

    python scripts/blank_band.py CATALOG BAND OUTDIR

BAND is a name from the catalogue's BANDS header card (or an index). Writes
OUTDIR/catalog.fits and OUTDIR/cutouts/; the cutouts keep their headers.
"""

import sys
from pathlib import Path

from astropy.io import fits

from astrocnn.io.catalog import read_catalog, resolve_paths


def main(catalog: str, band: str, outdir: str) -> None:
    table = read_catalog(catalog)
    bands = [b.strip() for b in str(table.meta.get("BANDS", "")).split(",") if b.strip()]
    index = bands.index(band) if band in bands else int(band)
    out = Path(outdir)
    (out / "cutouts").mkdir(parents=True, exist_ok=False)
    files = []
    base = str(Path(catalog).parent)
    for r, (path,) in enumerate(resolve_paths(table, ["file"], base)):
        with fits.open(path) as hdus:
            data, header = hdus[0].data.copy(), hdus[0].header.copy()
        data[index] = 0
        name = f"cutouts/{r:06d}.fits"
        fits.PrimaryHDU(data, header).writeto(out / name)
        files.append(name)
    table["file"] = files
    table.meta.pop("catalog_dir", None)  # where read_catalog found it, not a card
    table.meta["BLANKED"] = bands[index] if bands else str(index)
    table.write(out / "catalog.fits")


if __name__ == "__main__":
    main(*sys.argv[1:4])
