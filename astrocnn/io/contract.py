"""The physical data contract: what a cutout's pixels are, read from its FITS header.

A model learns from pixels in one set of physical units: a pixel scale, a
flux unit and AB zero point, a PSF and a depth per band. Bundles record that
contract (``meta["data_contract"]``, written by ``train``); files state
theirs in standard header cards, read here in the families surveys use:

========== ================================================================
quantity   cards (first found wins)
========== ================================================================
pixel scale celestial WCS (CD, CDELT + PC), else ``PIXSCALE`` / ``PIXSCAL1``
           / ``SECPIX`` [arcsec/pixel]
zero point ``MAGZP``, ``MAGZERO``, ``ZP``, ``ZEROPT``, ``PHOTZP``, or
           ``FLUXMAG0`` (``2.5 log10 FLUXMAG0``); else implied by ``BUNIT``:
           nanomaggy 22.5, nJy 31.4, uJy 23.9, Jy 8.9 (AB)
flux unit  ``BUNIT``
band       ``FILTER``, ``BAND``, ``FILTNAM``, or a cube's ``BANDS`` list
PSF FWHM   ``PSF_<BAND>``, ``PSF_FWHM``, ``SEEING``, ``FWHM``, ``PSFFWHM``
           [arcsec]
noise      ``SKYSIG_<BAND>``, ``SKYSIG``, ``SKYNOISE``, ``BACKSIG`` (in the
           pixel unit); else measured (:func:`measured_noise`)
========== ================================================================
"""

from __future__ import annotations

import math
import warnings

import numpy as np

#: AB zero points of flux-density units: magnitude = ZP - 2.5 log10(pixel value).
UNIT_ZERO_POINTS = {
    "nanomaggy": 22.5,
    "nanomaggies": 22.5,
    "nmgy": 22.5,
    "njy": 31.4,
    "nanojy": 31.4,
    "ujy": 23.9,
    "microjy": 23.9,
    "mjy": 16.4,
    "jy": 8.9,
}
ZERO_POINT_CARDS = ("MAGZP", "MAGZERO", "ZP", "ZEROPT", "PHOTZP")
PIXEL_SCALE_CARDS = ("PIXSCALE", "PIXSCAL1", "SECPIX")
BAND_CARDS = ("FILTER", "BAND", "FILTNAM")
PSF_CARDS = ("PSF_FWHM", "SEEING", "FWHM", "PSFFWHM")
NOISE_CARDS = ("SKYSIG", "SKYNOISE", "BACKSIG")
SATURATION_CARDS = ("SATURATE", "SATLEVEL")


def _number(header, key):
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _first(header, keys):
    for key in keys:
        value = _number(header, key)
        if value is not None:
            return value
    return None


def pixel_scale(header) -> float | None:
    """Arcsec per pixel from a celestial WCS or a pixel-scale card (``None``: unknown).

    For a non-square pixel the geometric mean of the two axes.
    """
    scale = wcs_pixel_scale(header)
    return scale if scale is not None else _first(header, PIXEL_SCALE_CARDS)


def wcs_pixel_scale(header) -> float | None:
    """Arcsec per pixel of the header's celestial WCS (``None``: it has none)."""
    if any(k in header for k in ("CD1_1", "CDELT1", "PC1_1")) and "CTYPE1" in header:
        from astropy.wcs import WCS
        from astropy.wcs.utils import proj_plane_pixel_scales

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wcs = WCS(header, naxis=2)
            if wcs.has_celestial:
                scales = proj_plane_pixel_scales(wcs.celestial) * 3600.0
                return float(np.sqrt(np.prod(scales)))
        except (ValueError, KeyError, MemoryError):
            pass
    return None


def saturation(header) -> float | None:
    """The pixel value at and above which the detector saturated (``None``: unknown)."""
    return _first(header, SATURATION_CARDS)


def zero_point_card(header) -> str:
    """The card :func:`zero_point` read (e.g. ``'MAGZP = 27'``, ``'BUNIT = nJy'``)."""
    return _zero_point_source(header)[1]


def zero_point(header) -> float | None:
    """AB zero point of the pixel values (``None``: unknown)."""
    return _zero_point_source(header)[0]


def _zero_point_source(header) -> tuple[float | None, str]:
    """The zero point and the card it came from (``'the header'`` when none)."""
    for key in ZERO_POINT_CARDS:
        value = _number(header, key)
        if value is not None:
            return value, f"{key} = {header[key]}"
    fluxmag0 = _number(header, "FLUXMAG0")
    if fluxmag0 is not None and fluxmag0 > 0:
        return 2.5 * math.log10(fluxmag0), f"FLUXMAG0 = {header['FLUXMAG0']}"
    unit = str(header.get("BUNIT", "")).strip()
    value = UNIT_ZERO_POINTS.get(unit.lower().replace(" ", ""))
    return value, (f"BUNIT = {unit}" if value is not None else "the header")


def band_names(header, n_bands: int) -> list[str] | None:
    """Band names of a cube's planes (``BANDS`` list) or of a one-band image."""
    listed = header.get("BANDS")
    if isinstance(listed, str):
        names = [b.strip() for b in listed.split(",") if b.strip()]
        if len(names) == n_bands:
            return names
    for key in BAND_CARDS:
        value = header.get(key)
        if isinstance(value, str) and value.strip() and n_bands == 1:
            return [value.strip()]
    return None


def _band_card(header, prefix: str, band: str | None, image_keys) -> float | None:
    """``<PREFIX>_<BAND>`` (cut to 8 characters) when given, else the image-wide cards."""
    keys = [f"{prefix}_{band.upper()}"[:8]] if band else []
    return _first(header, [*keys, *image_keys])


def psf_fwhm(header, band: str | None) -> float | None:
    """PSF FWHM [arcsec] of ``band`` (``PSF_<BAND>``) or of the image."""
    return _band_card(header, "PSF", band, PSF_CARDS)


def noise_card(header, band: str | None) -> float | None:
    """Background noise sigma stated in the header (pixel units), if any."""
    return _band_card(header, "SKYSIG", band, NOISE_CARDS)


def measured_noise(images: np.ndarray, border: int = 4) -> list[float]:
    """Background noise sigma per band: sigma-clipped MAD of the cutouts' borders.

    Parameters
    ----------
    images : numpy.ndarray, shape (n, H, W, bands)
        Cutouts in the units of the files.
    border : int
        Width of the frame (pixels) used: away from the centred object.
    """
    from astropy.stats import sigma_clipped_stats

    frame = np.ones(images.shape[1:3], bool)
    frame[border:-border, border:-border] = False
    sigmas = []
    for b in range(images.shape[-1]):
        pixels = images[:, frame, b].ravel()
        pixels = pixels[np.isfinite(pixels)]
        if pixels.size < 10:
            sigmas.append(float("nan"))
            continue
        _, _, std = sigma_clipped_stats(pixels, sigma=3.0, stdfunc="mad_std")
        sigmas.append(float(std))
    return sigmas


def central_signal(images: np.ndarray) -> np.ndarray:
    """(n, C) the 99th percentile pixel of the central half of each (H, W, C) image:
    how bright the sources are in these units (with the frame noise, it tells a
    flux-scale error from a depth difference)."""
    h, w = images.shape[1:3]
    centre = images[:, h // 4 : h - h // 4, w // 4 : w - w // 4]
    flat = centre.reshape(len(images), -1, images.shape[-1]).swapaxes(1, 2).copy()
    k = flat.shape[-1] - 1 - flat.shape[-1] // 100  # a partition: no interpolation needed
    flat.partition(k, axis=-1)  # in place: flat is this function's own copy
    return flat[..., k].astype(np.float32)


def core_area(images: np.ndarray) -> np.ndarray:
    """(n,) pixels above half the peak of the band-summed central half of each
    (H, W, C) image: the size of the central object's core in pixels, which
    scales with the inverse square of the pixel scale."""
    h, w = images.shape[1:3]
    bands = images[:, h // 4 : h - h // 4, w // 4 : w - w // 4]
    if bands.shape[-1] < 8:
        # whole-plane adds in the order numpy sums fewer than 8 values (same bits):
        # .sum(axis=-1) over a short last axis cost 6x more
        centre = bands[..., 0].copy()
        for band in range(1, bands.shape[-1]):
            centre += bands[..., band]
    else:
        centre = bands.sum(axis=-1)
    flat = centre.reshape(len(images), -1)
    peak = flat.max(axis=1, keepdims=True)
    return np.count_nonzero(flat > peak / 2, axis=1).astype(np.float32)


def _frame_noise(images) -> tuple[list, dict]:
    """Median over ``images`` of each one's frame noise per band, and the spread of
    the per-image statistics the out-of-distribution flags test
    (:func:`astrocnn.engine.diagnostics.ood_flags`): the extreme 0.1 % of the
    noise ratio (median over bands) and of the sky level in noise sigmas."""
    from astrocnn.io.conversion import frame_stats

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        level, sigma = frame_stats(images)
        noise = np.nanmedian(sigma, axis=0)
        typical = np.nanmedian(sigma / noise, axis=1)
        sky = np.nanmedian(np.abs(level) / sigma, axis=1)
        limits = {
            "noise_ratio": [float(np.nanpercentile(typical, q)) for q in (0.1, 99.9)],
            "background": float(np.nanpercentile(sky, 99.9)),
        }
    return [float(v) for v in noise], limits


def header_contract(header, bands) -> list[dict]:
    """What ``header`` states, per band of ``bands``: ``{name, pixel_scale,
    flux_unit, zero_point, psf_fwhm, noise_sigma}`` (``None`` where it is silent)."""
    unit = header.get("BUNIT")
    scale, zp = pixel_scale(header), zero_point(header)
    return [
        {
            "name": band,
            "pixel_scale": scale,
            "flux_unit": str(unit).strip() if unit is not None else None,
            "zero_point": zp,
            "psf_fwhm": psf_fwhm(header, band),
            "noise_sigma": noise_card(header, band),
        }
        for band in bands
    ]


def training_contract(headers, bands, images, size, stated=None) -> dict:
    """The contract of a training set: what a sample of its files' headers state
    (the median over the files, e.g. of the PSF FWHM), what the user states
    (``stated``, e.g. ``{"pixel_scale": 0.2, "zero_point": 27.0}``: it wins over
    the cards, in every band), and noise measured on (a sample of) its images
    where the headers state none.

    Returns
    -------
    dict
        ``bands`` (one dict per band, see :func:`header_contract`, plus
        ``signal``, the median :func:`central_signal`, and ``frame_noise``,
        the median noise measured as predict measures each row's:
        :func:`astrocnn.io.conversion.frame_stats`),
        ``cutout_arcsec`` (side of the cutout), ``noise_measured`` (bands
        whose noise was measured, not read), ``core_area`` (median
        :func:`core_area`) and ``ood_limits`` (the training images' own spread of
        the flagged statistics, see :func:`_frame_noise`).
    """
    cards = [header_contract(h, bands) for h in headers] or [header_contract({}, bands)]
    per_band = cards[0]
    for b, entry in enumerate(per_band):
        for key in ("pixel_scale", "zero_point", "psf_fwhm", "noise_sigma"):
            values = [s[b][key] for s in cards if s[b][key] is not None]
            entry[key] = float(np.median(values)) if values else None
        entry.update({k: v for k, v in (stated or {}).items() if v is not None})
    sample = np.asarray(images[: min(len(images), 500)], dtype=np.float32)
    spread = np.asarray(images[: min(len(images), 2000)], dtype=np.float32)
    measured = measured_noise(sample) if len(sample) else [float("nan")] * len(bands)
    signal = np.median(central_signal(sample), axis=0) if len(sample) else [None] * len(bands)
    frame, limits = _frame_noise(spread) if len(sample) else ([None] * len(bands), None)
    noise_measured = []
    for entry, level, sigma in zip(per_band, signal, frame):
        entry["signal"] = None if level is None else float(level)
        entry["frame_noise"] = None if sigma is None or not math.isfinite(sigma) else float(sigma)
    for entry, sigma in zip(per_band, measured):
        if entry["noise_sigma"] is None and math.isfinite(sigma):
            entry["noise_sigma"] = sigma
            noise_measured.append(entry["name"])
    scale = per_band[0]["pixel_scale"] if per_band else None
    return {
        "bands": per_band,
        "core_area": float(np.median(core_area(sample))) if len(sample) else None,
        "ood_limits": limits,
        "cutout_arcsec": None if scale is None else float(size[0] * scale),
        "noise_measured": noise_measured,
    }


def _text(entry, key, spec):
    value = entry.get(key)
    return "?" if value is None else format(value, spec)


def describe(contract: dict, image_kind: str = "fits") -> list[str]:
    """Lines for a model card: one per band (JPEG/PNG models: one line, their
    8-bit channels have no flux unit or zero point)."""
    if image_kind == "raster":
        noise = ", ".join(
            f"{e['name']} {_text(e, 'noise_sigma', '.3g')}" for e in contract.get("bands", [])
        )
        return [f"  8-bit JPEG/PNG channels (no flux unit, zero point or PSF); noise sigma {noise}"]
    lines = []
    for entry in contract.get("bands", []):
        scale, zp = _text(entry, "pixel_scale", ".4g"), _text(entry, "zero_point", ".4g")
        psf, noise = _text(entry, "psf_fwhm", ".3g"), _text(entry, "noise_sigma", ".4g")
        unit = entry.get("flux_unit") or "?"
        lines.append(
            f"  {entry['name']}: {scale} arcsec/px, {unit} at AB zero point {zp}, "
            f"PSF FWHM {psf} arcsec, noise sigma {noise}"
        )
    if contract.get("cutout_arcsec"):
        lines.append(f"  cutout side {contract['cutout_arcsec']:.4g} arcsec")
    return lines
