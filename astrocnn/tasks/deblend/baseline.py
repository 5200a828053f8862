"""Classical deblending baseline: SExtractor's algorithms through ``sep``.

The reference against which the deblending U-Net (Boucaud et al. 2020,
MNRAS 491, 2481) is judged is the photometry of Source Extractor (Bertin &
Arnouts 1996, A&AS 117, 393), here through its library version ``sep``
(Barbary 2016, JOSS 1, 58):

1. **detection** (:func:`detect_sources`) on a 2-D detection image (for a
   multi-band stamp, the sum of the bands): background and its rms from
   :class:`sep.Background`, thresholding at ``thresh`` times the global rms
   after the default matched filter, multi-threshold deblending
   (``deblend_nthresh``, ``deblend_cont``) and a segmentation map;
2. **choice of the central source** (:func:`central_fluxes`): the segment
   that contains the centre pixel of the stamp, otherwise the detection
   nearest to the centre within ``max_offset`` pixels;
3. **photometry** of that source in every band, either ``"iso"`` (the sum
   of the band image over its segment, SExtractor's ``FLUX_ISO``) or
   ``"auto"`` (SExtractor's ``FLUX_AUTO``: an elliptical aperture of
   ``kron_factor`` = 2.5 Kron radii, the Kron radius being measured within 6
   isophotal radii on the detection image, and at least ``min_kron_radius``
   = 3.5, in units of the isophotal ``a`` and ``b``).  Pixels of the other
   segments are first replaced by their mirror image through the centre of
   the central source (SExtractor's default ``MASK_TYPE CORRECT``), or set
   to zero (``neighbour_mask="blank"``, ``MASK_TYPE BLANK``).

The same aperture and segment are used in every band (SExtractor's
dual-image mode with the band sum as detection image).

Stamp cubes follow the engine's layout: **channels last**, one stamp
``(H, W, nband)`` and a batch ``(n, H, W, nband)``; ``channels_last=False``
accepts ``(nband, H, W)`` / ``(n, nband, H, W)``.  Pixel coordinates are
``sep``'s: ``x`` along the second (column) axis, ``y`` along the first (row)
axis, and ``(0, 0)`` the centre of the first pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sep
from numpy.typing import ArrayLike

__all__ = [
    "FLAG_NO_CENTRAL",
    "FLAG_NO_DETECTION",
    "FLAG_NOT_IN_SEGMENT",
    "FLAG_OK",
    "BaselineResult",
    "CentralFlux",
    "baseline_on_stamps",
    "central_fluxes",
    "detect_sources",
]

#: The central source was found in the segment containing the centre pixel.
FLAG_OK = 0
#: The centre pixel is background; the nearest detection within ``max_offset`` was used.
FLAG_NOT_IN_SEGMENT = 1
#: Nothing was detected in the stamp (fluxes are NaN).
FLAG_NO_DETECTION = 2
#: Sources were detected, but none at or near the centre (fluxes are NaN).
FLAG_NO_CENTRAL = 4

_REASONS = {
    FLAG_OK: "",
    FLAG_NOT_IN_SEGMENT: "centre pixel outside every segment; nearest detection used",
    FLAG_NO_DETECTION: "no source detected",
    FLAG_NO_CENTRAL: "no detection at or near the centre",
}

#: Fields of the object table returned by :func:`detect_sources`.
OBJECT_DTYPE = np.dtype(
    [
        ("segment_id", np.int32),
        ("x", np.float64),
        ("y", np.float64),
        ("a", np.float64),
        ("b", np.float64),
        ("theta", np.float64),
        ("flux", np.float64),
        ("peak", np.float64),
        ("npix", np.int64),
        ("flag", np.int32),
    ]
)

#: Radius (in isophotal ``a``, ``b`` units) within which the Kron radius is measured.
_KRON_MEASURE_RADIUS = 6.0


def _as_native_2d(image: ArrayLike, name: str = "image") -> np.ndarray:
    """A C-contiguous, native-byte-order float64 copy-if-needed of a 2-D image."""
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real and numeric, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _empty_objects() -> np.ndarray:
    return np.zeros(0, dtype=OBJECT_DTYPE)


def _detect(
    image: np.ndarray,
    *,
    thresh: float,
    minarea: int,
    deblend_nthresh: int,
    deblend_cont: float,
    mask: np.ndarray | None,
    background: float | None,
    rms: float | None,
    bkg_box: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Detection on a native float64 image; returns (objects, segmap, rms)."""
    bad = ~np.isfinite(image)
    if mask is not None:
        bad |= mask
    if bad.any():
        image = np.where(bad, 0.0, image)
    full_mask = bad if bad.any() else None
    segmap = np.zeros(image.shape, dtype=np.int32)
    if full_mask is not None and full_mask.all():
        return _empty_objects(), segmap, math.nan

    bkg = sep.Background(image, mask=full_mask, bw=bkg_box, bh=bkg_box, fw=3, fh=3)
    if background is None:
        data = image - bkg.back()
    else:
        data = image - float(background)
    noise = float(bkg.globalrms) if rms is None else float(rms)
    if not (math.isfinite(noise) and noise > 0):
        # Noiseless (or constant) image: fall back to a tiny absolute threshold.
        peak = float(np.max(np.abs(data))) if data.size else 0.0
        if not (math.isfinite(peak) and peak > 0):
            return _empty_objects(), segmap, noise
        noise = 1e-6 * peak
    kwargs = {
        "err": noise,
        "mask": full_mask,
        "minarea": minarea,
        "deblend_nthresh": deblend_nthresh,
        "deblend_cont": deblend_cont,
        "segmentation_map": True,
    }
    try:
        objs, segmap = sep.extract(data, thresh, **kwargs)
    except Exception as exc:  # sep raises a bare Exception
        if "pixel buffer full" not in str(exc) or sep.get_extract_pixstack() >= data.size:
            raise RuntimeError(f"sep.extract failed: {exc}") from exc
        # Large image with many pixels above threshold: raise sep's global pixel
        # stack to the image size (the most it can need) and try again.
        sep.set_extract_pixstack(int(data.size))
        try:
            objs, segmap = sep.extract(data, thresh, **kwargs)
        except Exception as exc2:
            raise RuntimeError(f"sep.extract failed: {exc2}") from exc2
    out = np.zeros(len(objs), dtype=OBJECT_DTYPE)
    out["segment_id"] = np.arange(1, len(objs) + 1, dtype=np.int32)
    for key in ("x", "y", "a", "b", "theta", "flux", "peak", "npix", "flag"):
        out[key] = objs[key]
    return out, np.asarray(segmap, dtype=np.int32), noise


def detect_sources(
    image: ArrayLike,
    *,
    thresh: float = 1.5,
    minarea: int = 5,
    deblend_nthresh: int = 32,
    deblend_cont: float = 0.005,
    mask: ArrayLike | None = None,
    background: float | None = None,
    rms: float | None = None,
    bkg_box: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Detect and deblend sources in a 2-D image with ``sep`` (SExtractor).

    Parameters
    ----------
    image : array_like, shape (H, W)
        Detection image (for a multi-band stamp, the sum of the bands).  Any
        real dtype and byte order; it is converted to native float64.
        Non-finite pixels are masked.
    thresh : float, optional
        Detection threshold in units of the background rms (default 1.5, as
        SExtractor's ``DETECT_THRESH``).
    minarea : int, optional
        Minimum number of pixels above threshold (default 5).
    deblend_nthresh, deblend_cont : int, float, optional
        Number of deblending sub-thresholds and minimum contrast
        (SExtractor's ``DEBLEND_NTHRESH`` = 32 and ``DEBLEND_MINCONT`` = 0.005).
    mask : array_like of bool, shape (H, W), optional
        True for pixels to ignore.
    background : float, optional
        Constant background to subtract; by default the background map of
        :class:`sep.Background` (boxes of ``bkg_box`` pixels) is subtracted.
    rms : float, optional
        Background rms (noise per pixel) of the image; by default the global
        rms of :class:`sep.Background`.  The threshold is ``thresh * rms``.
    bkg_box : int, optional
        Size of the background boxes (default 64: one box for a 64x64 stamp).

    Returns
    -------
    objects : numpy.ndarray
        Structured array (dtype :data:`OBJECT_DTYPE`), one row per detection
        with fields ``segment_id`` (the value of its pixels in ``segmap``, =
        row index + 1), ``x``, ``y`` (barycentre, pixels), ``a``, ``b``,
        ``theta`` (isophotal ellipse: semi-axes in pixels, angle in radians
        from the +x axis), ``flux`` (isophotal flux in the detection image),
        ``peak``, ``npix`` and ``flag`` (sep's flags).  Empty when nothing
        is detected.
    segmap : numpy.ndarray of int32, shape (H, W)
        0 for background, ``segment_id`` for the pixels of each detection.

    Raises
    ------
    ValueError
        If ``image`` is not a 2-D real array or ``mask`` has another shape.
    RuntimeError
        If ``sep.extract`` fails (e.g. deblending overflow).  When sep's
        pixel stack overflows, it is raised to the image size (a global
        ``sep.set_extract_pixstack`` setting) and extraction retried once.

    Notes
    -----
    An image without any source (or entirely masked or constant) gives an
    empty table and a zero map, without exception.  For a noiseless image
    (rms 0) the threshold becomes ``thresh * 1e-6 * max|image|``.
    """
    img = _as_native_2d(image)
    m = None
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != img.shape:
            raise ValueError(f"mask has shape {m.shape}, image has shape {img.shape}")
    objects, segmap, _ = _detect(
        img,
        thresh=float(thresh),
        minarea=int(minarea),
        deblend_nthresh=int(deblend_nthresh),
        deblend_cont=float(deblend_cont),
        mask=m,
        background=background,
        rms=rms,
        bkg_box=int(bkg_box),
    )
    return objects, segmap


@dataclass
class CentralFlux:
    """Photometry of the central source of one stamp (:func:`central_fluxes`).

    Attributes
    ----------
    flux : numpy.ndarray, shape (nband,)
        Flux of the central source in every band (NaN when not found).
    segment_mask : numpy.ndarray of bool, shape (H, W)
        Pixels of the central segment (all False when not found).
    n_detections : int
        Number of sources detected in the stamp.
    flag : int
        :data:`FLAG_OK`, :data:`FLAG_NOT_IN_SEGMENT`,
        :data:`FLAG_NO_DETECTION` or :data:`FLAG_NO_CENTRAL`.
    reason : str
        Human-readable reason for a non-zero flag ("" when OK).
    x, y : float
        Barycentre of the central source (NaN when not found).
    segment_id : int
        Its id in ``segmap`` (0 when not found).
    segmap : numpy.ndarray of int32, shape (H, W)
        The full segmentation map of the stamp.
    """

    flux: np.ndarray
    segment_mask: np.ndarray
    n_detections: int
    flag: int
    reason: str
    x: float
    y: float
    segment_id: int
    segmap: np.ndarray

    @property
    def found(self) -> bool:
        """Whether a central source was found."""
        return self.segment_id > 0


def _cube_to_bands(cube: ArrayLike, channels_last: bool) -> np.ndarray:
    """(nband, H, W) native float64 from a stamp (H, W, nband) / (nband, H, W) / (H, W)."""
    arr = np.asarray(cube)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise ValueError(f"cube must be real and numeric, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim == 3:
        if channels_last:
            arr = np.moveaxis(arr, -1, 0)
    else:
        raise ValueError(f"cube must have shape (H, W, nband) or (H, W), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise ValueError(f"cube has an empty axis: {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _band_backgrounds(
    bands: np.ndarray, background: float | Sequence[float] | None, bkg_box: int
) -> np.ndarray:
    """Background map or constant per band, broadcastable to ``bands``."""
    nband = bands.shape[0]
    if background is None:
        return np.stack(
            [sep.Background(bands[k], bw=bkg_box, bh=bkg_box).back() for k in range(nband)]
        )
    bg = np.broadcast_to(np.asarray(background, dtype=np.float64).reshape(-1), (nband,))
    return bg[:, None, None]


def _mirror_neighbours(
    bands: np.ndarray, segmap: np.ndarray, seg_id: int, x: float, y: float, blank: bool
) -> np.ndarray:
    """Replace the pixels of the other segments (SExtractor ``MASK_TYPE``).

    ``blank``: set them to 0; otherwise replace each by the pixel symmetric
    through ``(x, y)`` when that one is in the image and not itself in
    another segment, else 0 (``MASK_TYPE CORRECT``).
    """
    others = (segmap != 0) & (segmap != seg_id)
    if not others.any():
        return bands
    out = bands.copy()
    iy, ix = np.nonzero(others)
    if blank:
        out[:, iy, ix] = 0.0
        return out
    h, w = segmap.shape
    my = np.rint(2.0 * y - iy).astype(np.intp)
    mx = np.rint(2.0 * x - ix).astype(np.intp)
    ok = (my >= 0) & (my < h) & (mx >= 0) & (mx < w)
    ok[ok] = ~others[my[ok], mx[ok]]
    values = np.zeros((bands.shape[0], iy.size))
    values[:, ok] = bands[:, my[ok], mx[ok]]
    out[:, iy, ix] = values
    return out


def central_fluxes(
    cube: ArrayLike,
    *,
    centre: tuple[float, float] | None = None,
    method: str = "auto",
    channels_last: bool = True,
    max_offset: float = 3.0,
    thresh: float = 1.5,
    minarea: int = 5,
    deblend_nthresh: int = 32,
    deblend_cont: float = 0.005,
    background: float | Sequence[float] | None = None,
    rms: float | None = None,
    bkg_box: int = 64,
    kron_factor: float = 2.5,
    min_kron_radius: float = 3.5,
    neighbour_mask: str = "correct",
) -> CentralFlux:
    """Deblended flux of the central source of a multi-band stamp.

    Parameters
    ----------
    cube : array_like, shape (H, W, nband)
        One stamp, channels last (``(nband, H, W)`` with
        ``channels_last=False``; a 2-D image is one band).  Any real dtype
        and byte order.  Non-finite pixels are masked for detection and
        count as 0 in the photometry.
    centre : (float, float), optional
        ``(x, y)`` of the target in pixels (x = column); default the stamp
        centre ``((W - 1) / 2, (H - 1) / 2)``.
    method : {"auto", "iso"}, optional
        ``"auto"``: Kron aperture (SExtractor ``FLUX_AUTO``) with the
        neighbours masked; ``"iso"``: sum over the central segment
        (``FLUX_ISO``).
    channels_last : bool, optional
        Layout of ``cube`` (default True).
    max_offset : float, optional
        When the centre pixel belongs to no segment, the nearest detection
        whose barycentre lies within this distance (pixels) is used
        (default 3).
    thresh, minarea, deblend_nthresh, deblend_cont, rms, bkg_box
        Detection parameters of :func:`detect_sources`, applied to the sum
        of the bands (``rms`` is the noise of that sum).
    background : float or sequence of float, optional
        Constant background of each band (e.g. 0 for sky-subtracted
        simulations); by default estimated per band with
        :class:`sep.Background`.  The detection image's background is the
        sum.
    kron_factor, min_kron_radius : float, optional
        SExtractor's ``PHOT_AUTOPARAMS`` (2.5, 3.5): the aperture is the
        isophotal ellipse scaled by ``max(kron_factor * r_kron,
        min_kron_radius)``.
    neighbour_mask : {"correct", "blank", "none"}, optional
        Treatment of the pixels of other segments for ``"auto"`` (and the
        Kron radius): mirrored through the central source (default,
        SExtractor ``MASK_TYPE CORRECT``), zeroed (``BLANK``) or kept.

    Returns
    -------
    CentralFlux
        Fluxes per band, the central segment mask, the number of
        detections and a flag; fluxes are NaN with flag
        :data:`FLAG_NO_DETECTION` or :data:`FLAG_NO_CENTRAL` when no central
        source is found.

    Raises
    ------
    ValueError
        If the cube has the wrong number of dimensions, ``method`` or
        ``neighbour_mask`` is unknown, or ``background`` has the wrong
        length.
    """
    if method not in ("auto", "iso"):
        raise ValueError(f"method must be 'auto' or 'iso', got {method!r}")
    if neighbour_mask not in ("correct", "blank", "none"):
        raise ValueError(
            f"neighbour_mask must be 'correct', 'blank' or 'none', got {neighbour_mask!r}"
        )
    bands = _cube_to_bands(cube, channels_last)
    nband, h, w = bands.shape
    finite = np.isfinite(bands)
    if not finite.all():
        bands = np.where(finite, bands, 0.0)
    bad = ~finite.all(axis=0)
    if background is not None:
        bg_arr = np.asarray(background, dtype=np.float64).reshape(-1)
        if bg_arr.size not in (1, nband):
            raise ValueError(f"background has {bg_arr.size} values for {nband} bands")
    bg = _band_backgrounds(bands, background, int(bkg_box))
    bands = bands - bg
    detection = bands.sum(axis=0)
    objects, segmap = detect_sources(
        detection,
        thresh=thresh,
        minarea=minarea,
        deblend_nthresh=deblend_nthresh,
        deblend_cont=deblend_cont,
        mask=bad if bad.any() else None,
        background=0.0,
        rms=rms,
        bkg_box=bkg_box,
    )
    n_det = len(objects)
    cx, cy = ((w - 1) / 2.0, (h - 1) / 2.0) if centre is None else map(float, centre)

    def _failure(flag: int) -> CentralFlux:
        return CentralFlux(
            flux=np.full(nband, np.nan),
            segment_mask=np.zeros((h, w), dtype=bool),
            n_detections=n_det,
            flag=flag,
            reason=_REASONS[flag],
            x=math.nan,
            y=math.nan,
            segment_id=0,
            segmap=segmap,
        )

    if n_det == 0:
        return _failure(FLAG_NO_DETECTION)
    flag = FLAG_OK
    py, px = math.floor(cy + 0.5), math.floor(cx + 0.5)
    seg_id = int(segmap[py, px]) if (0 <= py < h and 0 <= px < w) else 0
    if seg_id == 0:
        dist = np.hypot(objects["x"] - cx, objects["y"] - cy)
        k = int(np.argmin(dist))
        if not dist[k] <= max_offset:
            return _failure(FLAG_NO_CENTRAL)
        seg_id = int(objects["segment_id"][k])
        flag = FLAG_NOT_IN_SEGMENT
    obj = objects[seg_id - 1]
    seg_mask = segmap == seg_id

    if method == "iso":
        flux = np.einsum("kij,ij->k", bands, seg_mask.astype(np.float64))
    else:
        x, y = float(obj["x"]), float(obj["y"])
        a, b, theta = float(obj["a"]), float(obj["b"]), float(obj["theta"])
        if neighbour_mask != "none":
            bands = _mirror_neighbours(bands, segmap, seg_id, x, y, neighbour_mask == "blank")
        det = np.ascontiguousarray(bands.sum(axis=0))
        r_aper = min_kron_radius
        if a > 0 and b > 0:
            kron, _ = sep.kron_radius(det, [x], [y], [a], [b], [theta], _KRON_MEASURE_RADIUS)
            kr = float(kron[0])
            if math.isfinite(kr) and kr > 0:
                r_aper = max(kron_factor * kr, min_kron_radius)
        else:
            a = b = 1.0
            theta = 0.0
        flux = np.empty(nband)
        for k in range(nband):
            s, _, _ = sep.sum_ellipse(bands[k], [x], [y], [a], [b], [theta], r_aper, subpix=5)
            flux[k] = s[0]
    return CentralFlux(
        flux=np.asarray(flux, dtype=np.float64),
        segment_mask=seg_mask,
        n_detections=n_det,
        flag=flag,
        reason=_REASONS[flag],
        x=float(obj["x"]),
        y=float(obj["y"]),
        segment_id=seg_id,
        segmap=segmap,
    )


@dataclass
class BaselineResult:
    """Baseline photometry of a batch of stamps (:func:`baseline_on_stamps`).

    Attributes
    ----------
    flux : numpy.ndarray, shape (n, nband)
        Flux of the central source per stamp and band (NaN rows: not found).
    segment_mask : numpy.ndarray of bool, shape (n, H, W)
        Central segment of each stamp.
    n_detections : numpy.ndarray of int, shape (n,)
        Number of detections per stamp.
    flag : numpy.ndarray of int, shape (n,)
        Flag of each stamp (see :class:`CentralFlux`).
    reason : list of str
        Reason per stamp ("" when OK).
    central_mask : numpy.ndarray of bool, shape (n, H, W)
        Alias of ``segment_mask``.

    Every attribute can also be read as ``result["name"]``.
    """

    flux: np.ndarray
    segment_mask: np.ndarray
    n_detections: np.ndarray
    flag: np.ndarray
    reason: list[str]

    @property
    def central_mask(self) -> np.ndarray:
        """Alias of :attr:`segment_mask`."""
        return self.segment_mask

    def __getitem__(self, key: str) -> object:
        """Dict-style access to the attributes (``result["flux"]``, ``result["central_mask"]``)."""
        if key not in _RESULT_KEYS:
            raise KeyError(key)
        return getattr(self, key)


_RESULT_KEYS = frozenset({"flux", "segment_mask", "central_mask", "n_detections", "flag", "reason"})


def baseline_on_stamps(
    cubes: ArrayLike, method: str = "auto", *, channels_last: bool = True, **kwargs: object
) -> BaselineResult:
    """Run :func:`central_fluxes` on a batch of stamps.

    Parameters
    ----------
    cubes : array_like, shape (n, H, W, nband)
        Stamps in the engine's NHWC layout (``(n, nband, H, W)`` with
        ``channels_last=False``; ``(n, H, W)`` is one band).  Any real dtype
        and byte order.
    method : {"auto", "iso"}, optional
        Photometry method (see :func:`central_fluxes`).
    channels_last : bool, optional
        Layout of ``cubes`` (default True: NHWC).
    **kwargs
        Other keyword arguments of :func:`central_fluxes` (``centre``,
        ``background``, ``thresh``, ...), the same for every stamp.

    Returns
    -------
    BaselineResult
        Stacked fluxes, masks, detection counts and flags.

    Raises
    ------
    ValueError
        If ``cubes`` does not have 3 or 4 dimensions, or as
        :func:`central_fluxes`.
    """
    arr = np.asarray(cubes)
    if arr.ndim == 3:
        arr = arr[..., None] if channels_last else arr[:, None]
    if arr.ndim != 4:
        raise ValueError(
            f"cubes must have shape (n, H, W, nband) (or (n, nband, H, W)), got {arr.shape}"
        )
    n = arr.shape[0]
    nband = arr.shape[3] if channels_last else arr.shape[1]
    h, w = (arr.shape[1], arr.shape[2]) if channels_last else (arr.shape[2], arr.shape[3])
    flux = np.full((n, nband), np.nan)
    masks = np.zeros((n, h, w), dtype=bool)
    n_det = np.zeros(n, dtype=np.int64)
    flags = np.zeros(n, dtype=np.int64)
    reasons: list[str] = []
    for i in range(n):
        res = central_fluxes(arr[i], method=method, channels_last=channels_last, **kwargs)
        flux[i] = res.flux
        masks[i] = res.segment_mask
        n_det[i] = res.n_detections
        flags[i] = res.flag
        reasons.append(res.reason)
    return BaselineResult(
        flux=flux, segment_mask=masks, n_detections=n_det, flag=flags, reason=reasons
    )
