"""Read image cutouts into native ``float32`` arrays of shape (H, W, bands).

A cutout is one astronomical object.  Its bands may live

* in one FITS file, as a 3-D cube (bands, y, x) in the first image HDU;
* in one FITS file, as separate 2-D image HDUs, chosen by index or EXTNAME
  (all 2-D image HDUs in file order when none are named);
* in one FITS file per band (a catalogue names one file column per band).

Tile-compressed images (``.fits.fz``) are read transparently.  Any BITPIX and
byte order becomes native ``float32`` (BSCALE/BZERO applied).  Non-finite
pixels are replaced by 0 (the images are sky-subtracted, so 0 is the
background) and counted, so callers can flag them.

Three readers, fastest first:

1. the commonest cutout, an uncompressed image in the primary HDU without
   BSCALE/BZERO, is read directly: the header cards are parsed and the data
   block is read with numpy (:mod:`astrocnn.io.fits.reader`, which also
   reads such a cutout straight into a catalogue block);
2. fitsio, where it is installed (about 7x faster than astropy);
3. astropy.io.fits, the reference, which reads everything else and words
   the error message when a file is bad.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from astrocnn.errors import CutoutError
from astrocnn.io.fits.reader import absurd_naxis, read_simple_primary

try:  # optional fast path
    import fitsio as _fitsio
except ImportError:  # pragma: no cover - exercised where fitsio is missing
    _fitsio = None

SIZE_MODES = ("strict", "crop", "pad", "crop-pad", "resize")
MISSING_BAND_POLICIES = ("error", "zero")
"""How a cutout whose size differs from the model's input is handled."""

RASTER_EXTENSIONS = (".jpg", ".jpeg", ".png")
"""8-bit colour or grey images (e.g. Galaxy Zoo JPEGs), read with PIL (:func:`_read_raster`)."""


@dataclass(frozen=True)
class CutoutSpec:
    """What a model expects of every cutout.

    Parameters
    ----------
    n_bands : int
        Number of bands the model was trained on.
    size : tuple of int
        ``(height, width)`` of the model input.
    hdus : tuple of (int or str), optional
        HDUs (indices or EXTNAMEs) holding the bands, in band order, when the
        bands are stored as separate 2-D image HDUs of one file.
    size_mode : {'strict', 'crop', 'pad', 'crop-pad'}
        ``strict`` refuses a cutout of another size; ``crop`` centre-crops a
        larger one; ``pad`` zero-pads a smaller one around the centre;
        ``crop-pad`` does either as needed; ``resize`` resamples any size
        (anti-aliased, flux per pixel preserved, not total flux).
    image_kind : {'fits', 'raster'}, optional
        The kind of file the model was trained on; a row of the other kind
        is refused (their pixel scales differ).
    missing_band : {'error', 'zero'}
        A band without data (every pixel NaN/inf, or every pixel 0 in a
        FITS file) fails the row (``error``) or is filled with zeros and
        counted in :attr:`Cutout.n_missing_bands` (``zero``).
    missing_band_cost : str
        What zero-filling costs this model, for the ``error`` message (from
        the bundle's measurement; empty when it has none).
    conversion : astrocnn.io.conversion.InputConversion, optional
        Per-file conversion to the model's data contract (bands by name,
        pixel scale, zero point) from each file's cards and the user's
        options; without it the pixels are taken as they are.
    """

    n_bands: int
    size: tuple[int, int]
    hdus: tuple[int | str, ...] | None = None
    size_mode: str = "strict"
    image_kind: str | None = None
    missing_band: str = "error"
    missing_band_cost: str = ""
    conversion: object = None

    def __post_init__(self):
        if self.size_mode not in SIZE_MODES:
            raise CutoutError(
                f"unknown size mode {self.size_mode!r}; choose one of {', '.join(SIZE_MODES)}"
            )
        if self.missing_band not in MISSING_BAND_POLICIES:
            raise CutoutError(
                f"unknown missing-band policy {self.missing_band!r}; choose one of "
                f"{', '.join(MISSING_BAND_POLICIES)}"
            )


@dataclass
class Cutout:
    """A cutout read from disk.

    Attributes
    ----------
    data : numpy.ndarray
        ``float32`` array of shape (H, W, bands), native byte order.
    n_nonfinite : int
        Number of NaN/inf pixels that were replaced by 0.
    n_missing_bands : int
        Bands without any data, zero-filled (``missing_band='zero'``).
    frame : tuple of numpy.ndarray, optional
        Background level and noise per band measured before padding
        (:func:`astrocnn.io.conversion.frame_stats`; converted cutouts whose
        size changed, where the padding would hide the sky).
    stated : tuple
        The file's pixel scale and AB zero point as its cards or the options
        state them (NaN: unknown or not converted).
    saturated : float
        Fraction of the file's pixels at or above its ``SATURATE`` level.
    notes : tuple of str
        What the reader converted (a JPEG/PNG's colour mode or channel count,
        :func:`_read_raster`), for the run's log.
    """

    data: np.ndarray
    n_nonfinite: int = 0
    n_missing_bands: int = 0
    frame: tuple | None = None
    stated: tuple = (np.nan, np.nan)
    saturated: float = 0.0
    notes: tuple = ()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_readable(path: str):
    if not os.path.exists(path):
        raise CutoutError(f"{path}: file not found")
    if os.path.isdir(path):
        raise CutoutError(f"{path}: is a directory, not a FITS file")
    if not os.access(path, os.R_OK):
        raise CutoutError(f"{path}: permission denied")
    if os.path.getsize(path) == 0:
        raise CutoutError(f"{path}: file is empty")


def _default_band_images(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Bands when no HDUs are named: a cube in the first image HDU, else every 2-D image."""
    if arrays and arrays[0].ndim != 2:
        return arrays[:1]
    return arrays


def _read_hdus_fitsio(path: str, hdus):
    with _fitsio.FITS(path) as fits:
        if hdus is None:
            arrays = [
                hdu.read() for hdu in fits if hdu.get_exttype() == "IMAGE_HDU" and hdu.has_data()
            ]
            return _default_band_images(arrays)
        out = []
        for h in hdus:
            hdu = fits[h]
            if hdu.get_exttype() != "IMAGE_HDU" or not hdu.has_data():
                raise ValueError("not an image")  # astropy re-reads it and words the error
            out.append(hdu.read())
        return out


def _read_hdus_astropy(path: str, hdus):
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("error", fits.verify.VerifyWarning)
        warnings.filterwarnings("error", message=".*truncated.*")
        with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
            if hdus is None:
                arrays = [np.asarray(h.data) for h in hdul if h.is_image and h.data is not None]
                return _default_band_images(arrays)
            out = []
            for h in hdus:
                try:
                    hdu = hdul[h]
                except (KeyError, IndexError):
                    raise CutoutError(f"{path}: no HDU {h!r}") from None
                if not hdu.is_image or hdu.data is None:
                    raise CutoutError(f"{path}: HDU {h!r} holds no image")
                out.append(np.asarray(hdu.data))
            return out


def band_energy(images: np.ndarray) -> np.ndarray:
    """Per-image, per-band sum of squares of (n, H, W, C) float32 images, in float32.

    A cheap screen for many cutouts at once (one batched matrix product):
    a row whose every value is finite and positive has no NaN/inf pixel and
    no all-zero band.  A float32 sum can overflow (pixels above ~1e19) or
    underflow (all pixels below ~1e-23), so a row that fails the screen must
    be re-checked exactly, as :func:`read_cutout` does in float64.

    Returns
    -------
    numpy.ndarray
        Shape (n, C).
    """
    n, h, w, c = images.shape
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN: the exact check decides
        squares = np.square(images.reshape(n, h * w, c), dtype=np.float32)
        # summed over pixels by a product with ones (BLAS): 1.7x faster than the
        # per-band products of strided rows
        return np.matmul(np.ones((1, h * w), np.float32), squares)[:, 0]


def _refuse_absurd_naxis(path: str):
    """Refuse a header whose NAXIS is outside 0-999 before a FITS library sees it."""
    value = absurd_naxis(path)
    if value is not None:
        raise CutoutError(f"{path}: invalid header: NAXIS = {value} (FITS allows 0-999)")


def _read_arrays(path: str, hdus) -> list[np.ndarray]:
    if hdus is None:  # fast path first; the checks below only run if it declines
        try:
            simple = read_simple_primary(path)
        except (OSError, ValueError):
            simple = None
        if simple is not None:
            return [simple]
    _check_readable(path)
    _refuse_absurd_naxis(path)
    if _fitsio is not None:
        try:
            arrays = _read_hdus_fitsio(path, hdus)
            if arrays:
                return arrays
        except Exception:  # noqa: BLE001 - fall back to the reference reader
            pass
    try:
        arrays = _read_hdus_astropy(path, hdus)
    except CutoutError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure is the file's fault
        raise CutoutError(f"{path}: not a readable FITS file ({_describe(exc)})") from None
    if not arrays:
        raise CutoutError(f"{path}: no image HDU with data")
    return arrays


def _read_raster(path: str, shrink_to=None, n_channels=None, notes=None) -> np.ndarray:
    """A JPEG/PNG as float32 (H, W, C) in 0..255, converted to ``n_channels``.

    Every image becomes grey (C = 1) or RGB (C = 3) one way, whatever its mode
    (each conversion is appended to ``notes``, for the run's log):

    * palette images become RGB; CMYK/YCbCr/LAB/HSV JPEGs become RGB;
    * an opaque alpha channel is dropped; a transparent one fails the row;
    * 16-bit grey images are scaled to 0-255 (/257);
    * with ``n_channels`` 3 a grey image is replicated to R = G = B; with
      ``n_channels`` 1 a colour image becomes its luminance (PIL's
      ``convert("L")``: L = 0.299 R + 0.587 G + 0.114 B); any other count is
      left to the caller's band check.

    With ``shrink_to`` ``(height, width)``, an image larger than it in both
    axes is shrunk while decoding: JPEGs are decoded at 1/2, 1/4 or 1/8 scale
    straight from their DCT coefficients (PIL's draft mode, the largest
    reduction still at least ``shrink_to``), then resized with PIL's
    anti-aliased Lanczos filter: 423x423 to 64x64 runs ~8x faster than a full
    decode and a scikit-image resize (``benchmarks/bench_jpeg_ingest.py``).

    A file PIL cannot decode, or a JPEG cut short (no end-of-image marker
    after its last scan: PIL would fill the rest grey where
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is set), fails with a one-line reason.
    """
    from PIL import Image

    _check_readable(path)
    image = _open_raster(path)
    kind = image.format or "image"
    try:
        with image, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. PIL's DecompressionBombWarning
            pixels = _raster_pixels(image, path, shrink_to, n_channels, notes)
    except CutoutError:
        raise
    except Image.DecompressionBombError as exc:
        raise CutoutError(f"{path}: image too large to decode ({_describe(exc)})") from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the file's fault
        raise CutoutError(f"{path}: corrupt or truncated {kind} ({_describe(exc)})") from None
    return np.ascontiguousarray(pixels, dtype=np.float32)


SHRINK_WHILE_DECODING = True
"""Shrink large JPEG/PNG images while decoding (``--size-mode resize``); the
benchmarks turn it off to time the full decode and scikit-image resize."""

_JPEG_START, _PNG_START = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
_TO_RGB = {"P": "palette", "CMYK": "CMYK", "YCbCr": "YCbCr", "LAB": "LAB", "HSV": "HSV"}
_ALPHA = {"RGBA": "RGB", "RGBa": "RGB", "LA": "L", "La": "L"}


def _open_raster(path: str):
    """``path`` opened by PIL (read into memory once); a JPEG without an
    end-of-image marker after its last scan is refused as truncated."""
    import io

    from PIL import Image, UnidentifiedImageError

    with open(path, "rb") as file:
        raw = file.read()
    try:
        image = Image.open(io.BytesIO(raw))
    except Exception as exc:  # noqa: BLE001 - not an image PIL knows, or a broken header
        reason = "unreadable header" if isinstance(exc, UnidentifiedImageError) else _describe(exc)
        for start, kind in ((_JPEG_START, "JPEG"), (_PNG_START, "PNG")):
            if raw.startswith(start):
                raise CutoutError(f"{path}: corrupt or truncated {kind} ({reason})") from None
        raise CutoutError(f"{path}: not a readable JPEG/PNG image (unknown image format)") from None
    if image.format == "JPEG" and not _jpeg_complete(raw):
        image.close()
        raise CutoutError(
            f"{path}: corrupt or truncated JPEG (the file ends before its end-of-image marker)"
        )
    return image


def _jpeg_complete(raw: bytes) -> bool:
    """Whether a JPEG's bytes hold its end-of-image marker (FF D9) after its last
    start-of-scan (FF DA).  Entropy-coded data never holds FF D9 (a data byte FF
    is followed by 00), so two such final bytes end the image: the commonest
    case, checked first; otherwise (padding or data after the image) the bytes
    after the last scan are searched."""
    if raw.endswith(b"\xff\xd9"):
        return True
    return raw.find(b"\xff\xd9", max(raw.rfind(b"\xff\xda"), 0)) >= 0


def _raster_pixels(image, path, shrink_to, n_channels, notes) -> np.ndarray:
    """The pixels of an opened PIL image as (H, W, C) (see :func:`_read_raster`)."""
    from PIL import Image

    notes = [] if notes is None else notes
    if shrink_to is not None and SHRINK_WHILE_DECODING and image.format == "JPEG":
        height, width = shrink_to
        if image.width > width and image.height > height:
            image.draft(image.mode, (width, height))
    mode = image.mode
    if mode == "PA" or (mode == "P" and "transparency" in image.info):
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _ALPHA:
        alpha = image.getchannel("A")
        if alpha.getextrema()[0] < 255:
            raise CutoutError(f"{path}: image has a transparent alpha channel; flatten it first")
        image = image.convert(_ALPHA[mode])
        notes.append("opaque alpha channel dropped")
    elif mode in _TO_RGB:
        image = image.convert("RGB")
        notes.append(f"{_TO_RGB[mode]} image converted to RGB")
    elif mode == "1":
        image = image.convert("L")
        notes.append("1-bit image converted to grey")
    elif mode.startswith("I") or mode == "F":  # 16-bit (or 32-bit) grey
        pixels = np.asarray(image, np.float32)
        if mode.startswith("I"):
            pixels = pixels / np.float32(257.0)
            notes.append("16-bit grey image scaled to 0-255 (/257)")
        return _to_channels(pixels[..., None], n_channels, notes)
    if image.mode == "RGB" and n_channels == 1:
        image = image.convert("L")
        notes.append("colour image converted to grey by luminance (PIL convert('L'))")
    if image.mode not in ("L", "RGB"):
        raise CutoutError(f"{path}: unsupported image mode {image.mode!r}")
    if shrink_to is not None and SHRINK_WHILE_DECODING:
        height, width = shrink_to
        if image.width > width and image.height > height:
            image = image.resize((width, height), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, np.float32)
    return _to_channels(pixels[..., None] if pixels.ndim == 2 else pixels, n_channels, notes)


def _to_channels(pixels: np.ndarray, n_channels, notes) -> np.ndarray:
    """(H, W, C) pixels; a grey image (C = 1) replicated to R = G = B for 3 channels."""
    if pixels.shape[-1] == 1 and n_channels == 3:
        notes.append("grey image replicated to R=G=B")
        return np.repeat(pixels, 3, axis=-1)
    return pixels


def image_kind(path: str) -> str:
    """``'raster'`` for JPEG/PNG files, ``'fits'`` for everything else."""
    return "raster" if str(path).lower().endswith(RASTER_EXTENSIONS) else "fits"


def _read_single(
    path: str,
    hdus,
    expected_kind=None,
    axis_order="band,y,x",
    shrink_to=None,
    n_channels=None,
    notes=None,
) -> np.ndarray:
    kind = image_kind(path)
    if expected_kind is not None and kind != expected_kind:
        trained = "FITS cutouts" if expected_kind == "fits" else "JPEG/PNG images"
        found = "a JPEG/PNG image" if kind == "raster" else "not a JPEG/PNG image"
        fix = (
            "; 8-bit composites are not fluxes: train a model on your images (train "
            "--init-from the task reuses this one's backbone)"
            if kind == "raster"
            else ""
        )
        raise CutoutError(f"{path}: is {found} but the model was trained on {trained}{fix}")
    if kind == "raster":
        return _read_raster(path, shrink_to, n_channels, notes)
    return _stack_bands(path, _read_arrays(path, hdus), axis_order)


def _stack_bands(path: str, arrays: list[np.ndarray], axis_order="band,y,x") -> np.ndarray:
    first = arrays[0]
    if any(a.size == 0 for a in arrays):  # e.g. NAXIS3 = 0 (found by the fuzz test)
        raise CutoutError(f"{path}: image has no pixels (an axis of length 0)")
    if first.ndim == 3 and len(arrays) == 1:
        if callable(axis_order):
            axis_order = axis_order(first.shape)
        planes = list(first if axis_order == "band,y,x" else np.moveaxis(first, -1, 0))
    elif first.ndim == 2:
        shapes = {a.shape for a in arrays}
        if any(a.ndim != 2 for a in arrays) or len(shapes) != 1:
            raise CutoutError(
                f"{path}: band images have different shapes "
                f"({', '.join('x'.join(map(str, a.shape)) for a in arrays)})"
            )
        planes = arrays
    else:
        raise CutoutError(f"{path}: image has {first.ndim} dimensions; expected 2 or 3")
    # (bands, y, x) -> (y, x, bands), native float32 whatever the BITPIX/endianness;
    # one strided write per band is ~3x faster than a transposing copy of the cube
    out = np.empty((*planes[0].shape, len(planes)), dtype=np.float32)
    flat = out.reshape(-1, len(planes))
    for band, plane in enumerate(planes):
        flat[:, band] = plane.ravel()
    return out


def _band_energy(data: np.ndarray) -> np.ndarray:
    """Per-band sum of squares of an (H, W, C) image, in float64."""
    return np.einsum("ijk,ijk->k", data, data, dtype=np.float64)


def _axis_order_hint(shape, n_bands) -> str:
    """A hint when a cube looks written in (y, x, band) order instead of (band, y, x)."""
    if len(shape) == 3 and shape[1] == n_bands and shape[-1] > 2 * n_bands:
        return (
            f" (its first FITS axis, NAXIS1, has {n_bands} planes: a cube saved from a numpy "
            f"array in (y, x, band) order? astrocnn reads (band, y, x): save "
            f"np.moveaxis(cube, -1, 0))"
        )
    return ""


def fit_to_size(data: np.ndarray, size: tuple[int, int], mode: str, source: str = "cutout"):
    """Centre-crop and/or zero-pad ``data`` (H, W, C) to ``size``.

    Parameters
    ----------
    data : numpy.ndarray
        Image of shape (H, W, C).
    size : tuple of int
        Target ``(height, width)``.
    mode : {'strict', 'crop', 'pad', 'crop-pad'}
        What is allowed; see :class:`CutoutSpec`.
    source : str
        Name used in the error message.

    Returns
    -------
    numpy.ndarray
        Array of shape ``size + (C,)``.

    Raises
    ------
    CutoutError
        If the size differs and ``mode`` does not allow the needed change.
    """
    h, w = data.shape[:2]
    th, tw = size
    if (h, w) == (th, tw):
        return data
    if mode == "resize":
        from skimage.transform import resize

        out = resize(
            data,
            (th, tw, data.shape[2]),
            order=1,
            anti_aliasing=(h > th or w > tw),
            preserve_range=True,
        )
        return out.astype(np.float32)
    need_crop = h > th or w > tw
    need_pad = h < th or w < tw
    allowed_crop = mode in ("crop", "crop-pad")
    allowed_pad = mode in ("pad", "crop-pad")
    if (need_crop and not allowed_crop) or (need_pad and not allowed_pad):
        fix = (
            "crop"
            if need_crop and not need_pad
            else "pad"
            if need_pad and not need_crop
            else "crop-pad"
        )
        raise CutoutError(
            f"{source}: cutout is {h}x{w} pixels but the model expects {th}x{tw} "
            f"(use --size-mode {fix} to allow resizing)"
        )
    if need_crop:
        y0, x0 = max(0, (h - th) // 2), max(0, (w - tw) // 2)
        data = data[y0 : y0 + min(h, th), x0 : x0 + min(w, tw)]
        h, w = data.shape[:2]
    if need_pad:
        py, px = th - h, tw - w
        data = np.pad(data, ((py // 2, py - py // 2), (px // 2, px - px // 2), (0, 0)))
    return data


def read_cutout(
    paths: str | Sequence[str],
    spec: CutoutSpec | None = None,
    *,
    hdus: Sequence[int | str] | None = None,
) -> Cutout:
    """Read one object's cutout as a ``float32`` (H, W, bands) array.

    Parameters
    ----------
    paths : str or sequence of str
        One FITS file holding all bands, or one file per band (in band order).
        JPEG/PNG files (``.jpg``, ``.jpeg``, ``.png``) are read as 8-bit
        grey or RGB images with values 0-255, converted to the ``spec``'s
        band count (1: luminance; 3: grey replicated to R = G = B; see
        :func:`_read_raster`; what was converted is in :attr:`Cutout.notes`).
    spec : CutoutSpec, optional
        Expected band count, size and HDU layout.  Without it the cutout is
        returned as stored.
    hdus : sequence of (int or str), optional
        HDUs holding the bands when no ``spec`` is given.

    Returns
    -------
    Cutout
        The image and the number of non-finite pixels replaced by 0.

    Raises
    ------
    CutoutError
        On a missing, unreadable or corrupt file, no image data, a wrong band
        count or size, or an image with no usable pixels (all NaN or all 0).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [os.fspath(paths)]
    hdus = spec.hdus if spec is not None else hdus
    kind = spec.image_kind if spec is not None else None
    name = paths[0] if len(paths) == 1 else ", ".join(paths)
    if spec is not None and spec.conversion is not None:
        return _read_converted(paths, spec, name)
    shrink = spec.size if spec is not None and spec.size_mode == "resize" else None
    notes = []
    channels = spec.n_bands if spec is not None else None
    data = _read_planes(paths, hdus, kind, name, shrink_to=shrink, n_channels=channels, notes=notes)
    if spec is not None:
        if data.shape[-1] != spec.n_bands:
            raise CutoutError(
                f"{name}: has {data.shape[-1]} band(s) but the model expects {spec.n_bands}"
                + _axis_order_hint(data.shape, spec.n_bands)
            )
        data = fit_to_size(data, spec.size, spec.size_mode, name)
    cutout = _checked(data, spec, name)
    cutout.notes = tuple(notes)
    return cutout


def _read_planes(
    paths, hdus, kind, name, axis_order="band,y,x", shrink_to=None, n_channels=None, notes=None
) -> np.ndarray:
    """The (H, W, planes) pixels of one file, or of one file per band (a JPEG/PNG
    image is shrunk while decoding to ``shrink_to`` and converted to
    ``n_channels``, when given: :func:`_read_raster`)."""
    if len(paths) == 1:
        return _read_single(paths[0], hdus, kind, axis_order, shrink_to, n_channels, notes)
    planes = []
    for path in paths:
        plane = _read_single(path, hdus[:1] if hdus else None, kind)
        if plane.shape[-1] != 1:
            raise CutoutError(f"{path}: expected one band per file, found {plane.shape[-1]}")
        planes.append(plane[..., 0])
    if len({p.shape for p in planes}) != 1:
        raise CutoutError(f"{name}: band files have different image sizes")
    return np.stack(planes, axis=-1)


def file_cards(paths) -> dict:
    """The cards of a row's (first) file that the conversion reads.

    One file per band: the bands are the catalogue's columns, so the files'
    band names are not used.
    """
    from astrocnn.io.conversion import CONVERSION_KEYWORDS
    from astrocnn.io.fits.reader import header_cards, read_header_bytes

    if image_kind(paths[0]) == "raster":
        return {}
    try:
        cards = header_cards(read_header_bytes(paths[0]), CONVERSION_KEYWORDS)
    except OSError:
        return {}  # the reader words the error
    if len(paths) > 1:
        for key in ("BANDS", "FILTER", "BAND", "FILTNAM"):
            cards.pop(key, None)
    return cards


def _read_converted(paths, spec: CutoutSpec, name: str) -> Cutout:
    """Read a cutout and convert it to the model's data contract (see
    :mod:`astrocnn.io.conversion`): bands, pixel scale and units per its cards."""
    from astrocnn.io.conversion import cube_axis_order, frame_stats

    conversion = spec.conversion
    cards = file_cards(paths)
    named = contract_band_count(cards)
    n_planes = named or (0 if conversion.options.band_map else spec.n_bands)
    option = conversion.options.axis_order

    def order(shape):
        return cube_axis_order(shape, n_planes, option, name) if n_planes else "band,y,x"

    data = _read_planes(paths, spec.hdus, spec.image_kind, name, order)
    finite = np.isfinite(data)
    n_bad = int(data.size - np.count_nonzero(finite))
    if n_bad == data.size:
        raise CutoutError(f"{name}: every pixel is NaN or infinite")
    if n_bad:
        data = np.where(finite, data, np.float32(0.0))
    shape = data.shape[:2]
    plan = conversion.plan(cards, data.shape[-1], name)
    saturated = plan.saturated(data)
    data = conversion.apply(data, cards, name)
    mode = spec.size_mode if data.shape[:2] == shape else "crop-pad"  # resampled
    frame = None
    if data.shape[:2] != tuple(spec.size):  # measure the sky before padding hides it
        level, sigma = frame_stats(data[None])
        frame = (level[0], sigma[0])
    data = fit_to_size(data, spec.size, mode, name)
    cutout = _checked(data, spec, name)
    cutout.n_nonfinite += n_bad
    cutout.frame = frame
    cutout.stated = plan.stated
    cutout.saturated = saturated
    return cutout


def contract_band_count(cards: dict) -> int:
    """Number of bands a ``BANDS`` card lists (0: none)."""
    listed = cards.get("BANDS")
    if isinstance(listed, str):
        return len([b for b in listed.split(",") if b.strip()])
    return 0


def _checked(data: np.ndarray, spec: CutoutSpec | None, name: str) -> Cutout:
    """Non-finite pixels zeroed and counted; empty images and bands refused or counted."""
    n_bad = 0
    empty = None
    # One pass: each band's sum of squares, accumulated in float64 (no overflow or
    # underflow for any float32 value). It is finite unless a pixel is NaN/inf, and
    # zero only for a band that is all zero. (Three numpy reductions did this at 3x
    # the cost, a tenth of a millisecond per cutout.)
    energy = _band_energy(data)
    if not np.isfinite(energy).all():
        finite = np.isfinite(data)
        n_bad = int(data.size - np.count_nonzero(finite))
        if n_bad == data.size:
            raise CutoutError(f"{name}: every pixel is NaN or infinite")
        empty = ~finite.any(axis=(0, 1))
        if n_bad:
            data = np.where(finite, data, np.float32(0.0))
        energy = _band_energy(data)
    has_data = energy > 0
    if not has_data.any():
        raise CutoutError(f"{name}: every pixel is zero")
    n_missing = 0
    if spec is not None and data.shape[-1] > 1:
        if empty is None:
            empty = np.zeros(data.shape[-1], bool)
        if image_kind(name) == "fits":
            empty |= ~has_data
        n_missing = int(empty.sum())
        if n_missing and spec.missing_band == "error":
            bands = ", ".join(str(i + 1) for i in np.flatnonzero(empty))
            cost = spec.missing_band_cost or "a cost this model never measured"
            raise CutoutError(
                f"{name}: band(s) {bands} of {data.shape[-1]} have no data (every pixel NaN "
                f"or zero); --missing-band zero predicts with them zero-filled, at {cost}"
            )
    return Cutout(np.ascontiguousarray(data, dtype=np.float32), n_bad, n_missing)
