"""Survey presets: the imaging set-up a simulation stands in for.

A `Survey` holds what a simulator needs to render a survey's cutouts and what its files
would say about themselves: bands (bandpass, 5-sigma point-source depth, sky brightness,
median PSF FWHM), pixel scale, AB zero point of the image unit, and the range of seeing
and depth over which objects are drawn. `SURVEYS` are the built-in presets (numbers and
sources in `SURVEY_TABLE`); `load_survey_file` reads a user's own from YAML.

Simulators know galaxy colours in their own bands; `colour_weights` carries them to a
survey's bands by interpolating magnitudes in log wavelength (a smooth SED between the
nearest simulated bands, flat in AB beyond them).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

# Effective wavelengths [nm] of the bands the simulators draw colours in (LSST filters,
# Ivezic et al. 2019), for `colour_weights`.
SIMULATED_WAVELENGTH = {"u": 367.0, "g": 482.0, "r": 622.0, "i": 755.0, "z": 869.0, "y": 971.0}


@dataclass(frozen=True)
class Band:
    """One band of a survey.

    Attributes
    ----------
    name : str
        Band name as the files name it (``g``, ``VIS``, ``H``, ...).
    wavelength : float
        Effective wavelength [nm].
    bandpass : str or tuple of float
        GalSim bandpass file (e.g. ``LSST_g.dat``) or a top-hat ``(blue, red)`` [nm].
    depth : float
        5-sigma point-source AB magnitude (matched filter, sky-limited) at ``fwhm``.
    sky : float
        Sky brightness [AB mag / arcsec^2].
    fwhm : float
        Median PSF FWHM [arcsec].
    """

    name: str
    wavelength: float
    bandpass: str | tuple
    depth: float
    sky: float
    fwhm: float


@dataclass(frozen=True)
class Survey:
    """An imaging survey as a simulator renders it.

    Attributes
    ----------
    name : str
        Preset name (or the survey file's ``name``).
    pixel_scale : float
        Arcsec per pixel of the stamps.
    zero_point : float
        AB zero point of the image unit: an object of magnitude m has
        ``10**(-0.4 (m - zero_point))`` units.
    unit : str
        ``BUNIT`` of the images.
    bands : tuple of Band
        Bands, bluest first.
    reference_band : str
        The band whose FWHM ``seeing_range`` gives; the others keep their median ratio
        to it.
    seeing_range : tuple of float
        Range [arcsec] of the reference band's FWHM, drawn uniformly per object.
    depth_range : tuple of float
        Range [mag] of an offset added to every band's depth per object (positive:
        deeper), drawn uniformly; (0, 0) renders every object at the nominal depths.
    source : str
        Where the numbers come from.
    """

    name: str
    pixel_scale: float
    zero_point: float
    unit: str
    bands: tuple
    reference_band: str
    seeing_range: tuple
    depth_range: tuple = (0.0, 0.0)
    source: str = ""
    reference_fwhm: float | None = None  # kept by `select` when the reference band is left out

    @property
    def band_names(self):
        """Names of the bands, in order."""
        return tuple(b.name for b in self.bands)

    def band(self, name):
        """The `Band` called ``name``."""
        for b in self.bands:
            if b.name == name:
                return b
        raise KeyError(name)

    def select(self, names):
        """This survey with only the bands ``names`` (in that order).

        Raises
        ------
        ValueError
            Naming the bands the survey does not have.
        """
        missing = [n for n in names if n not in self.band_names]
        if missing:
            raise ValueError(
                f"survey {self.name!r} has no band(s) {','.join(missing)} "
                f"(its bands: {','.join(self.band_names)})"
            )
        return replace(
            self,
            bands=tuple(self.band(n) for n in names),
            reference_fwhm=self._reference_fwhm(),
        )

    def _reference_fwhm(self):
        return self.reference_fwhm or self.band(self.reference_band).fwhm

    def with_ranges(self, seeing_range=None, depth_range=None):
        """This survey with other seeing and/or depth ranges (None keeps the preset's)."""
        return replace(
            self,
            seeing_range=tuple(seeing_range) if seeing_range else self.seeing_range,
            depth_range=tuple(depth_range) if depth_range is not None else self.depth_range,
        )

    def draw_conditions(self, rng):
        """One object's observing conditions.

        Parameters
        ----------
        rng : numpy.random.Generator
            Random stream (two uniforms, then one normal per band).

        Returns
        -------
        fwhm : numpy.ndarray
            PSF FWHM [arcsec] per band: the reference band's drawn from
            ``seeing_range``, the others at their median ratio with 2 % scatter.
        depth_offset : float
            Magnitudes added to every band's depth.
        """
        ref = self._reference_fwhm()
        seeing = rng.uniform(*self.seeing_range)
        offset = rng.uniform(*self.depth_range)
        ratio = np.array([b.fwhm for b in self.bands]) / ref
        fwhm = seeing * ratio * (1 + rng.normal(0, 0.02, len(self.bands)))
        return fwhm, float(offset)

    def sky_sigma(self, fwhm=None, depth_offset=0.0, pixel_scale=None):
        """Background noise sigma per pixel [image units] in each band.

        The depth of a Gaussian point source at S/N 5 with a matched filter, sky-limited:
        ``sigma_pix = F_5 sqrt(sum psf^2) / 5`` with ``sum psf^2 = 1 / (4 pi s^2)``.

        Parameters
        ----------
        fwhm : numpy.ndarray, optional
            FWHM [arcsec] at which the depths are taken to hold (default: the medians:
            depths are quoted at the survey's typical seeing, and a better-seeing image
            is not rendered deeper per pixel).
        depth_offset : float, optional
            Magnitudes added to the depths (positive: deeper).
        pixel_scale : float, optional
            Arcsec per pixel (default the survey's).

        Returns
        -------
        numpy.ndarray
        """
        scale = pixel_scale or self.pixel_scale
        fwhm = np.array([b.fwhm for b in self.bands]) if fwhm is None else np.asarray(fwhm)
        depth = np.array([b.depth for b in self.bands]) + depth_offset
        flux = 10.0 ** (-0.4 * (depth - self.zero_point))
        s_pix = fwhm / (2 * math.sqrt(2 * math.log(2)) * scale)
        return flux / (math.sqrt(4 * math.pi) * s_pix * 5.0)

    def sky_level(self, pixel_scale=None):
        """Sky level per pixel [image units] in each band (for photon noise)."""
        scale = pixel_scale or self.pixel_scale
        sky = np.array([b.sky for b in self.bands])
        return 10.0 ** (-0.4 * (sky - self.zero_point)) * scale**2

    def noise(self, depth_offset=0.0, pixel_scale=None):
        """Sky level and effective gain per band, as `astrocnn.sim.common.add_noise` takes.

        Returns
        -------
        sky, gain : numpy.ndarray
            Shaped (nband, 1, 1): the blank-sky variance ``sky / gain`` is
            `sky_sigma` squared.
        """
        sky = self.sky_level(pixel_scale)
        var = self.sky_sigma(depth_offset=depth_offset, pixel_scale=pixel_scale) ** 2
        return sky[:, None, None], (sky / var)[:, None, None]

    def cards(self):
        """Header cards that state this survey's set-up (``SURVEY``, ``MAGZP``, ``BUNIT``)."""
        return {
            "SURVEY": (self.name, "survey set-up the simulation stands in for"),
            "MAGZP": (self.zero_point, "AB mag of one image unit"),
            "BUNIT": self.unit,
        }


def _band(name, wavelength, bandpass, depth, sky, fwhm):
    return Band(name, wavelength, bandpass, depth, sky, fwhm)


def _lsst(b):
    return f"LSST_{b}.dat"


SURVEYS = {
    # LSST 10-year coadd: Ivezic et al. 2019 (Table 2: depths m5, sky, effective seeing),
    # LSST Science Requirements; 0.2"/px; image unit nJy.
    "lsst": Survey(
        "lsst",
        0.2,
        31.4,
        "nJy",
        (
            _band("u", 367.0, _lsst("u"), 26.1, 22.99, 0.92),
            _band("g", 482.0, _lsst("g"), 27.4, 22.26, 0.87),
            _band("r", 622.0, _lsst("r"), 27.5, 21.20, 0.83),
            _band("i", 755.0, _lsst("i"), 26.8, 20.48, 0.80),
            _band("z", 869.0, _lsst("z"), 26.1, 19.60, 0.78),
            _band("y", 971.0, _lsst("y"), 24.9, 18.61, 0.76),
        ),
        "r",
        (0.6, 1.1),
        source="Ivezic et al. 2019 (ApJ 873, 111), Table 2",
    ),
    # HSC-SSP Wide: Aihara et al. 2018 (PASJ 70, S4; seeing, 5-sigma point depths of the
    # Wide layer), Aihara et al. 2022 (PDR3); Maunakea dark sky. 0.168"/px, zero point 27.
    "hsc": Survey(
        "hsc",
        0.168,
        27.0,
        "count",
        (
            _band("g", 474.0, _lsst("g"), 26.5, 22.0, 0.77),
            _band("r", 617.0, _lsst("r"), 26.1, 21.1, 0.76),
            _band("i", 766.0, _lsst("i"), 25.9, 20.3, 0.58),
            _band("z", 889.0, _lsst("z"), 25.1, 19.3, 0.68),
            _band("y", 976.0, _lsst("y"), 24.4, 18.3, 0.68),
        ),
        "i",
        (0.45, 0.9),
        source="Aihara et al. 2018 (PASJ 70, S4); Aihara et al. 2022 (PDR3)",
    ),
    # DES: Abbott et al. 2021 (DR2, ApJS 255, 20): median seeing per band, 10-sigma
    # 1.95" aperture depths (g 24.7, r 24.4, i 23.8, z 23.1, Y 21.9) +0.75 mag for
    # 5 sigma; CTIO dark sky; 0.263"/px; coadd zero point 30.
    "des": Survey(
        "des",
        0.263,
        30.0,
        "count",
        (
            _band("g", 473.0, _lsst("g"), 25.4, 22.0, 1.11),
            _band("r", 642.0, _lsst("r"), 25.1, 21.1, 0.95),
            _band("i", 784.0, _lsst("i"), 24.5, 20.3, 0.88),
            _band("z", 926.0, _lsst("z"), 23.8, 19.4, 0.83),
            _band("Y", 1009.0, _lsst("y"), 22.6, 18.1, 0.90),
        ),
        "r",
        (0.75, 1.25),
        source="Abbott et al. 2021 (DES DR2, ApJS 255, 20), Table 1",
    ),
    # KiDS: Kuijken et al. 2019 (DR4, A&A 625, A2): 5-sigma 2" aperture depths, median
    # seeing (r best: the lensing band); OmegaCAM 0.213"/px (stamps at 0.2"); Paranal sky.
    "kids": Survey(
        "kids",
        0.2,
        30.0,
        "count",
        (
            _band("u", 355.0, _lsst("u"), 24.2, 22.3, 1.0),
            _band("g", 475.0, _lsst("g"), 25.1, 22.0, 0.85),
            _band("r", 630.0, _lsst("r"), 25.0, 21.0, 0.7),
            _band("i", 770.0, _lsst("i"), 23.7, 20.0, 0.8),
        ),
        "r",
        (0.55, 0.95),
        source="Kuijken et al. 2019 (KiDS DR4, A&A 625, A2), Table 1",
    ),
    # SDSS: Stoughton et al. 2002 (AJ 123, 485; sky, seeing), Abazajian et al. 2004
    # (95 % completeness point-source depths); 0.396"/px; image unit nanomaggy.
    "sdss": Survey(
        "sdss",
        0.396,
        22.5,
        "nanomaggy",
        (
            _band("u", 355.0, _lsst("u"), 22.0, 22.1, 1.5),
            _band("g", 469.0, _lsst("g"), 22.2, 21.8, 1.45),
            _band("r", 617.0, _lsst("r"), 22.2, 20.8, 1.4),
            _band("i", 748.0, _lsst("i"), 21.3, 20.2, 1.35),
            _band("z", 893.0, _lsst("z"), 20.5, 19.0, 1.3),
        ),
        "r",
        (1.1, 1.8),
        source="Stoughton et al. 2002 (AJ 123, 485); Abazajian et al. 2004",
    ),
    # Euclid Wide: Euclid Collaboration, Scaramella et al. 2022 (A&A 662, A112): VIS
    # 24.5 (10 sigma, extended) ~ 26.2 point 5 sigma, NISP Y J H 24.3 (5 sigma point);
    # PSF FWHM VIS 0.16", NISP ~0.45-0.5"; zodiacal sky. Stamps at VIS's 0.1"/px (NISP
    # bands rendered on the VIS grid with their own PSFs); MER mosaics are in uJy.
    "euclid": Survey(
        "euclid",
        0.1,
        23.9,
        "uJy",
        (
            _band("VIS", 715.0, (550.0, 900.0), 26.2, 22.3, 0.16),
            _band("Y", 1081.0, "WFC3_ir_F105W.dat", 24.3, 22.1, 0.45),
            _band("J", 1367.0, "WFC3_ir_F125W.dat", 24.3, 22.1, 0.47),
            _band("H", 1772.0, "WFC3_ir_F160W.dat", 24.3, 22.0, 0.5),
        ),
        "VIS",
        (0.15, 0.18),
        source="Euclid Collaboration: Scaramella et al. 2022 (A&A 662, A112)",
    ),
}

SURVEY_NAMES = tuple(SURVEYS)


def survey_table():
    """The presets as an `astropy.table.Table` (one row per survey and band), for docs."""
    from astropy.table import Table

    rows = [
        (s.name, b.name, s.pixel_scale, s.zero_point, s.unit, b.depth, b.sky, b.fwhm, s.source)
        for s in SURVEYS.values()
        for b in s.bands
    ]
    names = (
        "survey",
        "band",
        "pixel_scale",
        "zero_point",
        "unit",
        "depth_5sigma",
        "sky",
        "fwhm",
        "source",
    )
    return Table(rows=rows, names=names)


# ---------------------------------------------------------------------------------------
# a user's own survey

_SURVEY_FIELDS = ("name", "pixel_scale", "zero_point", "bands", "reference_band", "seeing_range")
_BAND_FIELDS = ("wavelength", "depth", "sky", "fwhm")


def _number(path, where, value, positive=False):
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        kind = "a positive number" if positive else "a number"
        raise ValueError(f"{path}: {where} must be {kind}, got {value!r}")
    return float(value)


def _pair(path, where, value, positive=False):
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{path}: {where} must be a pair [low, high], got {value!r}")
    low, high = (_number(path, where, v, positive) for v in value)
    if low > high:
        raise ValueError(f"{path}: {where} must have low <= high, got {value!r}")
    return low, high


def _file_band(path, name, spec):
    if not 0 < len(str(name)) <= 4:  # header keywords PSF_<BAND> have 8 characters
        raise ValueError(f"{path}: band name {name!r} must have 1-4 characters")
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: band {name!r} must be a mapping of {', '.join(_BAND_FIELDS)}")
    for key in _BAND_FIELDS:
        if key not in spec:
            raise ValueError(f"{path}: band {name!r} is missing {key!r}")
    wavelength = _number(path, f"band {name!r} wavelength", spec["wavelength"], positive=True)
    bandpass = spec.get("bandpass") or (0.9 * wavelength, 1.1 * wavelength)
    if isinstance(bandpass, list):
        bandpass = _pair(path, f"band {name!r} bandpass", bandpass, positive=True)
    return Band(
        str(name),
        wavelength,
        bandpass,
        _number(path, f"band {name!r} depth", spec["depth"]),
        _number(path, f"band {name!r} sky", spec["sky"]),
        _number(path, f"band {name!r} fwhm", spec["fwhm"], positive=True),
    )


def load_survey_file(path):
    """A survey described in a YAML file.

    The file has ``name``, ``pixel_scale`` [arcsec], ``zero_point`` [AB mag of one
    image unit], optional ``unit`` (``BUNIT``, default ``count``), ``reference_band``,
    ``seeing_range`` [arcsec, reference band], optional ``depth_range`` [mag], optional
    ``source``, and ``bands``: a mapping from band name to ``wavelength`` [nm],
    ``depth`` [5-sigma point-source AB mag], ``sky`` [AB mag / arcsec^2], ``fwhm``
    [arcsec] and optional ``bandpass`` (a GalSim bandpass file or ``[blue, red]`` nm).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Survey

    Raises
    ------
    ValueError
        Naming the file and the field that is missing or wrong.
    """
    import yaml

    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the survey file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a survey file is a mapping of {', '.join(_SURVEY_FIELDS)}")
    for key in _SURVEY_FIELDS:
        if key not in spec:
            raise ValueError(f"{path}: the survey file is missing {key!r}")
    if not isinstance(spec["bands"], dict) or not spec["bands"]:
        raise ValueError(f"{path}: 'bands' must map band names to their depth, sky, fwhm")
    bands = tuple(_file_band(path, name, b) for name, b in spec["bands"].items())
    reference = str(spec["reference_band"])
    if reference not in [b.name for b in bands]:
        raise ValueError(f"{path}: reference_band {reference!r} is not one of its bands")
    return Survey(
        str(spec["name"]),
        _number(path, "pixel_scale", spec["pixel_scale"], positive=True),
        _number(path, "zero_point", spec["zero_point"]),
        str(spec.get("unit", "count")),
        bands,
        reference,
        _pair(path, "seeing_range", spec["seeing_range"], positive=True),
        _pair(path, "depth_range", spec.get("depth_range", [0.0, 0.0])),
        str(spec.get("source", f"survey file {path.name}")),
    )


def get_survey(name=None, survey_file=None, seeing_range=None, depth_range=None):
    """The survey a simulation renders: a preset or a survey file, with the ranges given.

    Parameters
    ----------
    name : str, optional
        A preset in `SURVEYS`.
    survey_file : str or os.PathLike, optional
        A YAML survey (`load_survey_file`); wins over ``name``.
    seeing_range, depth_range : tuple of float, optional
        Replace the survey's ranges.

    Returns
    -------
    Survey

    Raises
    ------
    ValueError
        Unknown preset, or a bad survey file.
    """
    if survey_file is not None:
        survey = load_survey_file(survey_file)
    elif name in SURVEYS:
        survey = SURVEYS[name]
    else:
        raise ValueError(f"unknown survey {name!r} (choose one of {', '.join(SURVEY_NAMES)})")
    return survey.with_ranges(seeing_range, depth_range)


# ---------------------------------------------------------------------------------------
# colours


@functools.cache
def _weights(targets, sources):
    src = np.log([SIMULATED_WAVELENGTH[s] for s in sources])
    order = np.argsort(src)
    w = np.zeros((len(targets), len(sources)))
    for row, wavelength in enumerate(targets):
        x = np.clip(np.log(wavelength), src[order[0]], src[order[-1]])
        k = int(np.clip(np.searchsorted(src[order], x), 1, len(src) - 1))
        lo, hi = order[k - 1], order[k]
        t = 0.0 if src[hi] == src[lo] else (x - src[lo]) / (src[hi] - src[lo])
        w[row, lo] += 1 - t
        w[row, hi] += t
    return w


def colour_weights(survey_bands, simulated_bands):
    """Weights that carry magnitudes from a simulator's bands to a survey's.

    ``mag_survey = W @ mag_simulated``: linear interpolation in log wavelength between
    the two nearest simulated bands (a smooth SED), constant AB magnitude beyond the
    bluest and reddest (so a near-infrared band has the reddest band's magnitude).

    Parameters
    ----------
    survey_bands : sequence of Band
    simulated_bands : sequence of str
        Names in `SIMULATED_WAVELENGTH`.

    Returns
    -------
    numpy.ndarray
        Shape (len(survey_bands), len(simulated_bands)); rows sum to 1.
    """
    return _weights(tuple(b.wavelength for b in survey_bands), tuple(simulated_bands))
