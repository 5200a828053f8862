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

import functools
import threading
from collections import OrderedDict

from astrocnn.io.fits_tables import card_offsets

_TEMPLATES: OrderedDict = OrderedDict()
_LOCK = threading.Lock()  # files are written on several threads
_MAX_TEMPLATES = 64


def split_card(value):
    """``(value, comment)`` of a card given as a value or as a ``(value, comment)`` pair."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
        return value
    return value, None


def card_image(keyword, value, comment=None):
    """The 80 bytes astropy writes for one card, or None if it needs several
    (a long string continued) or cannot be formatted."""
    try:
        return _card_image(keyword, value, comment)
    except TypeError:  # an unhashable value: not a plain card value either
        return None


@functools.lru_cache(maxsize=4096, typed=True)  # True, 1 and 1.0 are different cards
def _card_image(keyword, value, comment):
    from astropy.io.fits import Card

    try:
        image = Card(keyword, value, comment).image
    except (ValueError, TypeError):
        return None
    return image.encode("ascii") if len(image) == 80 and image.isascii() else None


def _patch(heads, offsets, changes):
    out = []
    for head, at, cards in zip(heads, offsets, changes):
        head = bytearray(head)
        for keyword, image in cards.items():
            head[at[keyword] : at[keyword] + 80] = image
        out.append(bytes(head))
    return out


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
        differ from file to file (from :func:`card_image`; a None image sends
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
