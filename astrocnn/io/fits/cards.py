"""Header cards and blocks as the FITS standard fixes them (FITS 4.0, sections 3-4).

:func:`format_card` is the one place that formats a card: every writer in
:mod:`astrocnn.io.fits` (and the simulators) builds its cards with it, and
its bytes are those ``astropy.io.fits.Card`` writes.
"""

from __future__ import annotations

import re

import numpy as np

FITS_BLOCK = 2880
"""Bytes in a FITS block: every header and data unit is padded to whole blocks."""

CARD_LENGTH = 80
"""Bytes in a header card."""

END_CARD = b"END".ljust(CARD_LENGTH)
"""The card that ends a header."""

BITPIX_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
"""The big-endian type of the data for each BITPIX (without BSCALE/BZERO)."""

_KEYWORD = re.compile(r"[A-Z0-9_-]{1,8}\Z")
_COMMENTARY = ("COMMENT", "HISTORY")
_TEXT = re.compile(r"[ -~]*\Z")  # printable ASCII
# a string astropy takes for a record-valued keyword card's value ('AXIS.1: 2')
_RECORD_VALUE = re.compile(
    r"[a-zA-Z_]\w*(\.\d+)?(\.[a-zA-Z_]\w*(\.\d+)?)*: +[+-]?(\.\d+|\d+(\.\d*)?)([DE][+-]?\d+)?$"
)


def padded(nbytes: int) -> int:
    """``nbytes`` rounded up to whole FITS blocks."""
    return -(-nbytes // FITS_BLOCK) * FITS_BLOCK


def _format_float(value) -> str:
    """Astropy's value of a float: its shortest repr, cut to 20 characters."""
    text = str(value).replace("e", "E")
    if len(text) > 20:
        exponent = text.find("E")
        text = text[:20] if exponent < 0 else text[: 20 - len(text) + exponent] + text[exponent:]
    return text


def _format_value(value) -> str:
    if isinstance(value, str):
        if not _TEXT.match(value) or (value.find(": ") > 0 and _RECORD_VALUE.match(value)):
            raise ValueError(f"no plain FITS card for the string {value!r}")
        quoted = "'" + value.replace("'", "''").ljust(8) + "'"
        return "''" if value == "" else f"{quoted:20}"
    if isinstance(value, bool | np.bool_):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, int | np.integer):
        return f"{value:>20d}"
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            raise ValueError(f"{value!r} is not allowed in a FITS header")
        return f"{_format_float(value):>20}"
    raise ValueError(f"no plain FITS card for the value {value!r}")


def format_card(keyword: str, value, comment: str | None = "") -> bytes:
    """The 80-byte header card ``keyword = value / comment``, as astropy writes it.

    Parameters
    ----------
    keyword : str
        A standard keyword (1-8 characters of ``A-Z0-9_-``; lower case is
        raised); ``COMMENT`` and ``HISTORY`` make a commentary card of
        ``value``, a string.
    value : str, bool, int or float
        Python or numpy scalar; floats must be finite.
    comment : str, optional
        Printable ASCII; empty or None for none.

    Returns
    -------
    bytes
        Exactly 80 bytes.  A card longer than that is cut at 80 bytes, as
        astropy cuts one whose comment is too long; astropy would instead
        continue a long string or commentary text on further cards (see
        :func:`card_image`).

    Raises
    ------
    ValueError
        A HIERARCH or otherwise non-standard keyword, text that is not
        printable ASCII, a non-finite float, another type of value (None,
        complex, ...), or a string astropy would read as a record-valued
        keyword card's field.
    """
    keyword = keyword.upper()
    if not _KEYWORD.match(keyword) or keyword in ("END", "CONTINUE"):
        raise ValueError(f"{keyword!r} is not a standard FITS keyword")
    comment = comment or ""
    if not _TEXT.match(comment):
        raise ValueError(f"FITS comments are printable ASCII, not {comment!r}")
    if keyword in _COMMENTARY:
        text = f"{keyword:8}{value}" if isinstance(value, str) else ""
        if not _TEXT.match(text) or not text:
            raise ValueError(f"FITS commentary is printable ASCII, not {value!r}")
    else:
        text = f"{keyword:8}= {_format_value(value)}" + (f" / {comment}" if comment else "")
    return text[:CARD_LENGTH].ljust(CARD_LENGTH).encode("ascii")


def card_image(keyword: str, value, comment: str | None = None) -> bytes | None:
    """:func:`format_card`'s card where it is all astropy writes, else None.

    None for a value astropy continues on further cards (a string of more
    than 68 characters, quotes doubled; commentary text of more than 72) and
    for what :func:`format_card` refuses, so that callers matching astropy
    byte for byte can leave such a card to astropy.
    """
    try:
        if isinstance(value, str):
            commentary = keyword.upper() in _COMMENTARY
            if len(value if commentary else value.replace("'", "''")) > (72 if commentary else 68):
                return None
        return format_card(keyword, value, comment)
    except (ValueError, TypeError, AttributeError):
        return None


def split_card(value):
    """``(value, comment)`` of a card given as a value or as a ``(value, comment)`` pair."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
        return value
    return value, None


def header_block(cards) -> bytes:
    """A header from its cards (80-byte images): the cards, END, blanks to a whole block."""
    text = b"".join((*cards, END_CARD))
    return text + b" " * (padded(len(text)) - len(text))


def header_cards(template, values: dict) -> list:
    """The cards of an astropy Header, with some values replaced or added.

    Parameters
    ----------
    template : astropy.io.fits.Header
        The cards kept as astropy wrote them.
    values : dict
        ``key: value`` or ``key: (value, comment)``: replaces the value (and
        the comment, when given) of the template's card ``key``, or adds a
        card at the end.

    Returns
    -------
    list of bytes
        Card images (:func:`format_card`; astropy's for the cards kept).
    """
    values = {key: split_card(value) for key, value in values.items()}
    cards = []
    for card in template.cards:
        if card.keyword in values:
            value, comment = values.pop(card.keyword)
            comment = card.comment if comment is None else comment
            cards.append(format_card(card.keyword, value, comment))
        else:
            cards.append(card.image.encode("ascii"))
    return cards + [format_card(key, *value) for key, value in values.items()]


def patch_cards(header: bytes, offsets: dict, images: dict) -> bytes:
    """``header`` with the card at ``offsets[key]`` replaced by ``images[key]``, for each key."""
    out = bytearray(header)
    for key, image in images.items():
        out[offsets[key] : offsets[key] + CARD_LENGTH] = image
    return bytes(out)


def card_offsets(header: bytes, keywords) -> dict:
    """Byte offset of the first card of each keyword in a header."""
    wanted = {k.ljust(8).encode("ascii"): k for k in keywords if len(k) <= 8}
    found = {}
    for at in range(0, len(header), CARD_LENGTH):
        name = wanted.get(header[at : at + 8])
        if name is not None and name not in found:
            found[name] = at
    return found
