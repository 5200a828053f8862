"""Reuse the FITS headers astropy built when many files share one layout.

Building a header with astropy costs ~50 us per card (formatting, verification),
so the headers of a small file cost more than writing its data: a field's
stamp cubes ~2 ms, a painted map's three HDUs ~6 ms.  A run writes many files
whose headers differ only in a few card values (the field's name, the number
of sources, the map's box and slab).  :func:`reuse_headers` builds the first
file of a layout with astropy, remembers where the changing cards are, and
for every later file of that layout replaces just those 80-byte cards.  The
headers are byte for byte astropy's: a layout is kept only if patching the
first file's own cards back in reproduces what astropy built.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from astrocnn.io.fits.cards import (
    BITPIX_DTYPES,
    card_image,
    card_offsets,
    patch_cards,
    split_card,
)
from astrocnn.io.fits.writer import write_data

_PLAIN_TYPES = {dtype[1:] for dtype in BITPIX_DTYPES.values()}  # stored as they are (no BZERO)
_TEMPLATES: OrderedDict = OrderedDict()
_LOCK = threading.Lock()  # files are written on several threads
_MAX_TEMPLATES = 64


def _patch(heads, offsets, changes):
    return [patch_cards(head, at, cards) for head, at, cards in zip(heads, offsets, changes)]


def reuse_headers(layout, changes, build) -> list:
    """Headers of a file: astropy's (``build``) for the first file of ``layout``,
    patched copies of them for the later ones.

    Parameters
    ----------
    layout : hashable
        Everything that fixes where each card is (data shapes and types, the
        keywords of every header, in order); None to always use ``build``.
    changes : list of dict
        Per header, ``{keyword: 80-byte card}`` for the cards whose values may
        differ from file to file (from
        :func:`~astrocnn.io.fits.cards.card_image`; a None image sends
        the file to ``build``).  Every keyword must appear once in its header.
    build : callable
        Returns the headers as astropy writes them (a list of bytes, each
        padded to whole FITS blocks).

    Returns
    -------
    list of bytes
    """
    if layout is None or any(image is None for cards in changes for image in cards.values()):
        return build()
    key = (layout, tuple(tuple(cards) for cards in changes))
    with _LOCK:
        template = _TEMPLATES.get(key)
        if template is not None:
            _TEMPLATES.move_to_end(key)
    if template is not None:
        return _patch(*template, changes)
    heads = build()
    offsets = [card_offsets(head, cards) for head, cards in zip(heads, changes)]
    learnable = len(heads) == len(changes)
    learnable = learnable and all(len(at) == len(cards) for at, cards in zip(offsets, changes))
    if learnable and _patch(heads, offsets, changes) == heads:
        with _LOCK:
            _TEMPLATES[key] = (heads, offsets)
            while len(_TEMPLATES) > _MAX_TEMPLATES:
                _TEMPLATES.popitem(last=False)
    return heads


def write_image_file(path, images, carried=None, cards=None):
    """Write images as a FITS file, atomically: the first as the primary HDU, the
    others as image extensions.

    Byte for byte ``astropy.io.fits``'s file; when many files share one layout
    (names, shapes, types, header keywords), the headers are reused
    (:func:`reuse_headers`).

    Parameters
    ----------
    path : path-like
        Destination.
    images : list of (str or None, numpy.ndarray, str or None)
        ``(EXTNAME, data, BUNIT)`` of each HDU (None: no such card).
    carried : astropy.io.fits.Header, optional
        Cards for every HDU (e.g. the input's WCS); no structural cards.
    cards : dict, optional
        More cards for every HDU (``key: value`` or ``key: (value, comment)``).

    Returns
    -------
    pathlib.Path
    """
    from pathlib import Path

    from astropy.io import fits

    from astrocnn.io.atomic import atomic_path

    carried = fits.Header() if carried is None else carried
    cards = cards or {}
    layout, changes = _image_layout(images, carried, cards)
    if layout is None:
        with atomic_path(path) as tmp:
            fits.HDUList(_image_hdus(images, carried, cards)).writeto(
                tmp, output_verify="silentfix"
            )
        return Path(path)
    heads = reuse_headers(layout, changes, lambda: _astropy_headers(images, carried, cards))
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        for head, (_, data, _) in zip(heads, images):
            handle.write(head)
            write_data(handle, data)
    return Path(path)


def _image_hdus(images, carried, cards):
    from astropy.io import fits

    hdus = []
    for i, (name, data, unit) in enumerate(images):
        header = carried.copy()
        for key, value in cards.items():
            header[key] = value
        if name is not None:
            header["EXTNAME"] = name
        if unit is not None:
            header["BUNIT"] = unit
        hdus.append(fits.PrimaryHDU(data, header) if i == 0 else fits.ImageHDU(data, header))
    return hdus


def _astropy_headers(images, carried, cards) -> list:
    """The headers of the file astropy writes for these images."""
    import io

    from astropy.io import fits

    buffer = io.BytesIO()
    fits.HDUList(_image_hdus(images, carried, cards)).writeto(buffer, output_verify="silentfix")
    content = buffer.getvalue()
    with fits.open(io.BytesIO(content)) as hdul:
        spans = [(hdul.fileinfo(i)["hdrLoc"], hdul.fileinfo(i)["datLoc"]) for i in range(len(hdul))]
    return [content[a:b] for a, b in spans]


def _image_layout(images, carried, cards):
    """``(layout, changes)`` for :func:`reuse_headers`, or ``(None, None)`` when the
    headers must be built by astropy every time: a keyword repeated or longer
    than 8 characters, a type astropy would scale, or a carried card that
    astropy would not write as it is (non-standard formatting it rewrites)."""
    keywords = [card.keyword for card in carried.cards]
    if len(set(keywords)) != len(keywords) or any(not 0 < len(k) <= 8 for k in keywords):
        return None, None
    if any(data.dtype.str[1:] not in _PLAIN_TYPES or data.ndim < 1 for _, data, _ in images):
        return None, None  # e.g. unsigned and int8 data are stored with BZERO
    changing = {}
    for card in carried.cards:
        image = card_image(card.keyword, card.value, card.comment)
        if image is None or image != card.image.encode("ascii", "replace"):
            return None, None
        changing[card.keyword] = image
    for key, value in cards.items():
        if not 0 < len(key) <= 8:
            return None, None
        changing[key.upper()] = card_image(key.upper(), *split_card(value))
    shapes = tuple((name, data.shape, data.dtype.str[1:], unit) for name, data, unit in images)
    layout = (shapes, tuple(keywords), tuple(key.upper() for key in cards))
    return layout, [changing] * len(images)
