"""Bring the user's pixel values to the units a model learned, at no cost per pixel.

A flux scale is folded into the bundle's stored input scaling: the asinh
stretch ``asinh(x / s)`` of pixels ``x`` in the user's units, converted by a
factor ``f`` to the model's, is ``asinh(x / (s / f))``, so only the per-band
scales change and nothing is added to the prediction path.
"""

from __future__ import annotations

import copy

from astrocnn.errors import AstrocnnError
from astrocnn.io.contract import UNIT_ZERO_POINTS


def zero_point_of_unit(unit: str) -> float:
    """The AB zero point of a flux-density unit (nanomaggy, nJy, uJy, mJy, Jy)."""
    key = unit.strip().lower().replace(" ", "")
    if key not in UNIT_ZERO_POINTS:
        raise AstrocnnError(
            f"--flux-unit {unit!r}: a unit without a fixed AB zero point; give --zero-point "
            f"(known units: nanomaggy, nJy, uJy, mJy, Jy)"
        )
    return UNIT_ZERO_POINTS[key]


def flux_factors(meta: dict, zero_point: float) -> list[float]:
    """Per band, the factor taking pixels at AB ``zero_point`` to the model's units."""
    contract = meta.get("data_contract") or {}
    bands = contract.get("bands") or []
    model_zps = [b.get("zero_point") for b in bands]
    if len(model_zps) != len(meta["bands"]) or any(zp is None for zp in model_zps):
        raise AstrocnnError(
            "--zero-point: the model does not record the zero point it was trained at "
            "(its data contract); convert the pixel values yourself"
        )
    return [10.0 ** (0.4 * (zp - zero_point)) for zp in model_zps]


def convert_fluxes(bundle, zero_point: float | None, log=print):
    """The bundle with its input scaling taking pixels at ``zero_point`` (a copy of
    its metadata; the network is shared), or the bundle itself when ``None``."""
    if zero_point is None:
        return bundle
    meta = copy.deepcopy(bundle.meta)
    pre = meta.get("preprocessing", {})
    if pre.get("kind") != "asinh":
        raise AstrocnnError(
            f"--zero-point: the model scales its inputs by {pre.get('kind')!r}, not by an asinh "
            "flux stretch; a zero point applies to flux images only"
        )
    factors = flux_factors(meta, zero_point)
    pre["scales"] = [s / f for s, f in zip(pre["scales"], factors)]
    meta["flux_conversion"] = {"zero_point": float(zero_point), "factors": factors}
    same = all(abs(f - factors[0]) < 1e-12 * max(1.0, abs(factors[0])) for f in factors)
    per_band = (
        f"x{factors[0]:.6g} in every band"
        if same
        else ", ".join(f"{b} x{f:.6g}" for b, f in zip(meta["bands"], factors))
    )
    log(f"converting fluxes from AB zero point {zero_point:g} to the model's: {per_band}")
    converted = copy.copy(bundle)
    converted.meta = meta
    converted.cache = {}
    return converted


def requested_zero_point(zero_point: float | None, flux_unit: str | None) -> float | None:
    """The AB zero point of the user's pixels, from ``--zero-point`` or ``--flux-unit``."""
    if zero_point is not None and flux_unit is not None:
        raise AstrocnnError("give --zero-point or --flux-unit, not both")
    return zero_point_of_unit(flux_unit) if flux_unit is not None else zero_point


def input_conversion(meta: dict, options=None):
    """The per-file conversion of a run to ``meta``'s data contract.

    Parameters
    ----------
    meta : dict
        The bundle's metadata.
    options : astrocnn.io.conversion.ConversionOptions, optional
        The user's statements about the input (override the files' cards).

    Returns
    -------
    astrocnn.io.conversion.InputConversion or None
        None for models of JPEG/PNG images or without a recorded contract
        when no option asks for a conversion (pixels are then taken as they are).

    Raises
    ------
    AstrocnnError
        If an option needs a part of the contract the model does not record.
    """
    from astrocnn.io.conversion import ConversionOptions, InputConversion, ModelContract

    options = options or ConversionOptions()
    asked = options != ConversionOptions(seed=options.seed)
    if meta.get("image_kind") == "raster" or (not meta.get("data_contract") and not asked):
        if asked:
            raise AstrocnnError("this model reads JPEG/PNG images: there is nothing to convert")
        return None
    model = ModelContract.from_meta(meta)
    missing = [
        option
        for option, needed, known in (
            ("--pixel-scale", options.pixel_scale is not None, model.pixel_scale is not None),
            ("--zero-point", options.zero_point is not None, None not in model.zero_points),
            ("--match-depth", options.match_depth, None not in model.noise),
        )
        if needed and not known
    ]
    if missing:
        raise AstrocnnError(
            f"{', '.join(missing)}: the model does not record that part of its data contract "
            "(astrocnn info); convert the images yourself"
        )
    return InputConversion(model, options)


def conversion_options(
    pixel_scale=None,
    zero_point=None,
    flux_unit=None,
    band_map=None,
    axis_order="auto",
    match_depth=False,
    seed=0,
):
    """The :class:`~astrocnn.io.conversion.ConversionOptions` of the command-line
    options of the same names (checked here, before any file is read)."""
    from astrocnn.io.conversion import ConversionOptions, parse_band_map

    return ConversionOptions(
        pixel_scale=pixel_scale,
        zero_point=requested_zero_point(zero_point, flux_unit),
        band_map=parse_band_map(band_map),
        match_depth=bool(match_depth),
        axis_order=axis_order,
        seed=int(seed),
    )
