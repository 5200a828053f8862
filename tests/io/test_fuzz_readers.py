"""Fuzzing the cutout and catalogue readers: only astrocnn's own errors may escape.

Random bytes and mutations of valid files (header cards, data bytes,
truncations) are fed to :func:`astrocnn.io.cutouts.read_cutout` and
:func:`astrocnn.io.catalog.read_catalog`.  Any exception other than
:class:`~astrocnn.errors.AstrocnnError` (a crash, a numpy or astropy error
leaking out) fails.  ``pytest --fuzz-full`` runs 10,000 cases per test; the
default run uses a few hundred so CI stays fast.
"""

from __future__ import annotations

import io
import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrocnn.errors import AstrocnnError
from astrocnn.io.catalog import read_catalog
from astrocnn.io.cutouts import CutoutSpec, read_cutout

FULL = 10_000
QUICK = 300
_counter = itertools.count()


@pytest.fixture(scope="module")
def examples(request):
    return FULL if request.config.getoption("--fuzz-full") else QUICK


def _valid_cutout_bytes() -> bytes:
    data = np.random.default_rng(1).normal(size=(4, 16, 16)).astype(np.float32)
    buffer = io.BytesIO()
    hdu = fits.PrimaryHDU(data)
    hdu.header["BANDS"] = "g,r,i,z"
    hdu.writeto(buffer)
    return buffer.getvalue()


def _valid_catalogue_bytes(fmt) -> bytes:
    table = Table({"id": [1, 2, 3], "file": ["a.fits", "b c.fits", "d.fits"], "z": [0.1, 1.0, 2]})
    buffer = io.BytesIO() if fmt == "fits" else io.StringIO()
    table.write(buffer, format={"fits": "fits", "csv": "ascii.csv", "ecsv": "ascii.ecsv"}[fmt])
    value = buffer.getvalue()
    return value if isinstance(value, bytes) else value.encode()


VALID_FITS = _valid_cutout_bytes()
SPEC = CutoutSpec(n_bands=4, size=(16, 16))


def _mutate(data: bytes, edits, cut) -> bytes:
    raw = bytearray(data)
    for position, value in edits:
        raw[position % len(raw)] = value
    return bytes(raw[: max(0, len(raw) - cut)])


mutations = st.tuples(
    st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=12),
    st.sampled_from([0, 0, 0, 1, 80, 2880, 3000]),
)
header_edits = st.lists(
    st.tuples(
        st.sampled_from(["NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "BITPIX", "BSCALE", "BZERO",
                         "SIMPLE", "EXTEND", "BANDS"]),
        st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=True), st.text(max_size=8),
                  st.booleans()),
    ),
    min_size=1,
    max_size=4,
)  # fmt: skip


def _write(folder: Path, suffix: str, data: bytes) -> Path:
    path = folder / f"case{next(_counter)}{suffix}"
    path.write_bytes(data)
    return path


def _only_our_errors(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except AstrocnnError:
            pass


def _run(examples, strategy, check):
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def inner(case):
        check(case)

    inner()


def test_random_bytes_as_fits_cutout(examples, tmp_path):
    def check(data):
        _only_our_errors(lambda: read_cutout(str(_write(tmp_path, ".fits", data)), SPEC))

    _run(examples, st.binary(max_size=6000), check)


def test_mutated_fits_bytes(examples, tmp_path):
    def check(case):
        edits, cut = case
        path = _write(tmp_path, ".fits", _mutate(VALID_FITS, edits, cut))
        _only_our_errors(lambda: read_cutout(str(path), SPEC))

    _run(examples, mutations, check)


def test_mutated_fits_header_cards(examples, tmp_path):
    def check(edits):
        hdul = fits.HDUList.fromstring(VALID_FITS)
        header = hdul[0].header
        raw = bytearray(VALID_FITS)
        text = header.tostring()
        for key, value in edits:
            card = f"{key:<8}= {value!s:>20}"[:80].ljust(80)
            at = text.find(f"{key:<8}=")
            if at >= 0:
                raw[at : at + 80] = card.encode("ascii", "replace")
        _only_our_errors(lambda: read_cutout(str(_write(tmp_path, ".fits", bytes(raw))), SPEC))

    _run(examples, header_edits, check)


@pytest.mark.parametrize("fmt", ["fits", "csv", "ecsv"])
def test_mutated_and_random_catalogues(examples, fmt, tmp_path):
    valid = _valid_catalogue_bytes(fmt)

    def check(case):
        kind, payload = case
        data = payload if kind == "random" else _mutate(valid, *payload)
        _only_our_errors(lambda: read_catalog(_write(tmp_path, f".{fmt}", data)))

    strategy = st.one_of(
        st.tuples(st.just("random"), st.binary(max_size=4000)),
        st.tuples(st.just("mutated"), mutations),
    )
    _run(max(1, examples // 3), strategy, check)
