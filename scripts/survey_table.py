"""Write docs/surveys.md: the survey presets of astrocnn.sim.surveys as a table.

python scripts/survey_table.py [docs/surveys.md]
"""

import sys
from pathlib import Path

from astrocnn.sim.surveys import SURVEYS

HEAD = """# Survey presets

`astrocnn simulate TASK --survey NAME` renders cutouts as the survey takes them: its
bands, pixel scale, seeing, depths and zero point (`astrocnn/sim/surveys.py`; this page is
generated from it by `python scripts/survey_table.py`). Depths are 5-sigma point-source AB
magnitudes at the band's median seeing (the noise per pixel follows, sky-limited); each
object's reference-band seeing is drawn uniformly from the range (`--seeing-range`
overrides it; the other bands keep their median ratio to it), and `--depth-range LOW,HIGH`
offsets each object's depths by a uniform draw (positive: deeper). Every cutout states its
set-up in header cards: `SURVEY`, `MAGZP`, `BUNIT`, `BANDS`, the WCS and `PIXSCALE`,
`PSF_<band>` and `SKYSIG_<band>` (at that object's depth), which `train` records as the
model's data contract. `--bands` renders a subset. Colours known in the simulators' own
bands are carried to a survey's bands by interpolating magnitudes in log wavelength
(flat in AB beyond the reddest simulated band: the near-infrared bands of Euclid are an
extrapolation, not a model of galaxies' near-infrared colours).

| survey | band | pixel ["] | zero point (unit) | depth 5σ | sky [mag/"²] | FWHM ["] \
| seeing ["] | source |
|---|---|---|---|---|---|---|---|---|
"""

TAIL = """
## Your own survey

`--survey-file my.yaml` (every field is required unless marked optional; a missing or
wrong one is named in a one-line error):

```yaml
name: mycam
pixel_scale: 0.25          # arcsec per pixel
zero_point: 27.0           # AB magnitude of one image unit
unit: count                # optional: BUNIT (default count)
reference_band: r          # the band seeing_range refers to
seeing_range: [0.7, 1.1]   # arcsec FWHM in the reference band
depth_range: [-0.5, 0.5]   # optional: magnitudes added to the depths per object
source: my notes           # optional
bands:                     # bluest first; names of 1-4 characters
  g: {wavelength: 480, depth: 25.5, sky: 22.0, fwhm: 0.9}
  r: {wavelength: 620, depth: 25.2, sky: 21.0, fwhm: 0.8, bandpass: LSST_r.dat}
```

`bandpass` (optional) is a GalSim bandpass file or `[blue, red]` in nm (default: a
top-hat of +-10 % around `wavelength`); the photo-z simulator integrates its templates
through it.
"""


def _rows(survey):
    first = (
        survey.name,
        survey.pixel_scale,
        f"{survey.zero_point:g} ({survey.unit})",
        f"{survey.seeing_range[0]:g}-{survey.seeing_range[1]:g} ({survey.reference_band})",
        survey.source,
    )
    for i, band in enumerate(survey.bands):
        name, scale, zp, seeing, source = first if i == 0 else ("",) * 5
        yield (
            f"| {name} | {band.name} | {scale} | {zp} | {band.depth:g} | {band.sky:g} | "
            f"{band.fwhm:g} | {seeing} | {source} |"
        )


def table():
    rows = [row for survey in SURVEYS.values() for row in _rows(survey)]
    return HEAD + "\n".join(rows) + "\n" + TAIL


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/surveys.md")
    out.write_text(table())
    print(f"wrote {out}")
