"""The fast catalogue reading path gives exactly what the reference reader gives.

Catalogue reading (:func:`astrocnn.data.loading.iter_blocks`) reads the
commonest cutout straight into the block and screens the pixels of a chunk
at once; every row it declines or doubts goes through
:func:`astrocnn.io.cutouts.read_cutout`.  These tests compare the two row by
row on a catalogue mixing every case, and check that predicting in blocks
(decoding of one block overlapping the network on the next) keeps each row's
outputs with its row.
"""

import numpy as np
import pytest
from astropy.io import fits

import astrocnn.data.loading as loading
from astrocnn.data.loading import LoadedBlock, iter_blocks, load_all
from astrocnn.errors import CutoutError
from astrocnn.io.cutouts import CutoutSpec, band_energy, read_cutout
from astrocnn.io.fits.reader import read_simple_into

RNG = np.random.default_rng(3)
SPEC = CutoutSpec(n_bands=3, size=(8, 8))


def _cube(**header):
    data = RNG.normal(size=(3, 8, 8)).astype(np.float32)
    return data, header


def _cases():
    """(name, data, header cards): clean cubes and every case the screen must send on."""
    clean = [(f"clean{i}", *_cube()) for i in range(5)]
    nan = RNG.normal(size=(3, 8, 8)).astype(np.float32)
    nan[1, 2, 2] = np.nan
    zero_band = RNG.normal(size=(3, 8, 8)).astype(np.float32)
    zero_band[2] = 0
    huge = (RNG.normal(size=(3, 8, 8)) * 1e25).astype(np.float32)  # float32 squares overflow
    tiny = (RNG.normal(size=(3, 8, 8)) * 1e-25).astype(np.float32)  # float32 squares underflow
    ints = RNG.integers(1, 1000, size=(3, 8, 8)).astype(">i2")
    return [
        *clean,
        ("nan", nan, {}),
        ("zero_band", zero_band, {}),
        ("all_zero", np.zeros((3, 8, 8), np.float32), {}),
        ("huge", huge, {}),
        ("tiny", tiny, {}),
        ("int16", ints, {}),
        ("scaled", ints, {"BSCALE": 2.0, "BZERO": 5.0}),
        ("neutral_scaling", ints, {"BSCALE": 1.0, "BZERO": 0.0}),
        ("wrong_size", RNG.normal(size=(3, 9, 9)).astype(np.float32), {}),
        ("wrong_bands", RNG.normal(size=(2, 8, 8)).astype(np.float32), {}),
    ]


def _write(folder, name, data, header):
    path = folder / f"{name}.fits"
    hdu = fits.PrimaryHDU(data)
    for key, value in header.items():
        hdu.header[key] = value
    hdu.writeto(path)
    return str(path)


@pytest.fixture
def catalogue(tmp_path):
    cases = _cases()
    paths = [[_write(tmp_path, name, data, header)] for name, data, header in cases]
    paths.append([str(tmp_path / "missing.fits")])
    compressed = tmp_path / "compressed.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(_cube()[0], quantize_level=0)]).writeto(
        compressed
    )
    paths.append([str(compressed)])
    return paths * 3  # several chunks per block and several blocks


def _reference(paths, spec):
    rows = []
    for row in paths:
        try:
            cut = read_cutout(row, spec)
            rows.append((cut.data, True, cut.n_nonfinite, cut.n_missing_bands))
        except CutoutError:
            rows.append((None, False, 0, 0))
    return rows


@pytest.mark.parametrize("missing_band", ["error", "zero"])
@pytest.mark.parametrize("workers", [1, 3])
def test_blocks_equal_the_reference_reader_row_by_row(catalogue, missing_band, workers):
    spec = CutoutSpec(n_bands=3, size=(8, 8), missing_band=missing_band)
    reference = _reference(catalogue, spec)
    blocks = [
        (b.images.copy(), b.ok, b.reasons, b.n_nonfinite, b.n_missing_bands)
        for b in iter_blocks(catalogue, spec, block_size=16, workers=workers, reuse_buffers=True)
    ]
    got = LoadedBlock(0, *(np.concatenate([b[i] for b in blocks]) for i in range(5)))
    assert len(got.ok) == len(catalogue)
    for r, (data, ok, n_bad, n_missing) in enumerate(reference):
        assert got.ok[r] == ok, (r, got.reasons[r])
        assert bool(got.reasons[r]) == (not ok)
        if ok:
            np.testing.assert_array_equal(got.images[r], data)
            assert (got.n_nonfinite[r], got.n_missing_bands[r]) == (n_bad, n_missing)


def test_reasons_are_the_reference_readers(catalogue):
    got = load_all(catalogue, SPEC, block_size=16)
    for r, row in enumerate(catalogue):
        if got.ok[r]:
            continue
        with pytest.raises(CutoutError) as excinfo:
            read_cutout(row, SPEC)
        assert str(excinfo.value) in got.reasons[r]


def test_clean_cubes_take_the_fast_path(tmp_path, monkeypatch):
    paths = [[_write(tmp_path, f"c{i}", *_cube())] for i in range(40)]
    slow = []

    def counting(row_paths, spec, label):
        slow.append(label)
        return original(row_paths, spec, label)

    original = loading._read_one
    monkeypatch.setattr(loading, "_read_one", counting)
    block = load_all(paths, SPEC, block_size=16)
    assert block.ok.all() and slow == []
    # a doubtful row (NaN pixel) is read again by the full reader
    data = _cube()[0]
    data[0, 0, 0] = np.nan
    paths.append([_write(tmp_path, "nan", data, {})])
    block = load_all(paths, SPEC, block_size=16)
    assert block.ok.all() and block.n_nonfinite[-1] == 1 and len(slow) == 1


def test_read_simple_into_declines_what_it_cannot_read_exactly(tmp_path):
    out = np.full((8, 8, 3), -1.0, np.float32)
    data, _ = _cube()
    assert read_simple_into(_write(tmp_path, "ok", data, {}), out)
    np.testing.assert_array_equal(out, np.moveaxis(data, 0, -1))
    ints = RNG.integers(1, 100, size=(3, 8, 8)).astype(np.int16)
    assert not read_simple_into(_write(tmp_path, "s", ints, {"BSCALE": 2.0, "BZERO": 0.0}), out)
    assert not read_simple_into(_write(tmp_path, "w", data[:, :7], {}), out)
    assert not read_simple_into(str(tmp_path / "nothing.fits"), out)
    one = np.empty((8, 8, 1), np.float32)
    assert read_simple_into(_write(tmp_path, "plane", data[0], {}), one)
    np.testing.assert_array_equal(one[..., 0], data[0])


def test_memoised_layouts_follow_every_mandatory_card(tmp_path, monkeypatch):
    """The fast reader memoises dtype and shape by the bytes of SIMPLE..NAXISn:
    files that differ in any of those cards are each read as what they are,
    and the memo stays bounded."""
    import astrocnn.io.fits.reader as reader

    monkeypatch.setattr(reader, "_LAYOUTS", {})
    monkeypatch.setattr(reader, "_LAYOUTS_MAX", 3)
    out = np.empty((8, 8, 3), np.float32)
    data = _cube()[0]
    variants = {
        "f32": data,
        "f64": data.astype(np.float64),
        "i16": (data * 100).astype(np.int16),
        "f32_again": data,
        "wider": RNG.normal(size=(3, 8, 9)).astype(np.float32),
        "f64_again": data.astype(np.float64),
    }
    for name, array in variants.items():
        path = _write(tmp_path, name, array, {})
        if array.shape[-1] == 9:
            assert not read_simple_into(path, out)
            continue
        assert read_simple_into(path, out), name
        np.testing.assert_array_equal(out, np.moveaxis(array.astype(np.float32), 0, -1))
        assert 1 <= len(reader._LAYOUTS) <= 3
    # SIMPLE = F (not a standard file) is declined even with a known layout's other cards
    path = _write(tmp_path, "simple_f", data, {})
    with open(path, "r+b") as handle:
        assert handle.read(30).endswith(b"T")
        handle.seek(29)
        handle.write(b"F")
    assert not read_simple_into(path, out)


def test_band_energy_is_the_per_band_sum_of_squares():
    images = RNG.normal(size=(5, 8, 8, 3)).astype(np.float32)
    expected = np.einsum("nijk,nijk->nk", images, images, dtype=np.float64)
    np.testing.assert_allclose(band_energy(images), expected, rtol=1e-5)


def test_iter_blocks_reuses_buffers_without_mixing_rows(tmp_path):
    paths = [[_write(tmp_path, f"c{i}", *_cube())] for i in range(70)]
    expected = np.stack([read_cutout(p, SPEC).data for p in paths])
    seen = np.concatenate(
        [b.images.copy() for b in iter_blocks(paths, SPEC, block_size=16, reuse_buffers=True)]
    )
    np.testing.assert_array_equal(seen, expected)


@pytest.mark.slow
def test_block_predictions_stay_with_their_rows(tmp_path):
    """Photo-z (decoded on a second thread while the next block runs) over
    several blocks with bad rows among them equals the model on each row."""
    from astropy.table import Table

    from astrocnn.engine.inference import compiled_model, predict_paths, scalar_inputs
    from astrocnn.engine.predict import load_task_bundle
    from astrocnn.engine.sources import from_catalog
    from astrocnn.tasks.registry import get_task

    task = get_task("photoz")
    task.simulate(150, 11, tmp_path / "sim", progress=False)
    bundle = load_task_bundle(task)
    table = Table.read(tmp_path / "sim" / "catalog.fits")
    for r in (3, 70, 71, 140):  # unreadable rows scattered over the blocks
        (tmp_path / "sim" / table["file"][r]).write_bytes(b"not a FITS file")
    source = from_catalog(tmp_path / "sim" / "catalog.fits", bundle.meta["bands"])
    preds = predict_paths(
        task, bundle, source.paths, source.labels, batch_size=16, table=source.table
    )
    assert preds.ok.sum() == 146 and not preds.ok[[3, 70, 71, 140]].any()
    good = np.flatnonzero(preds.ok)
    spec_images = np.stack(
        [read_cutout(source.paths[r], CutoutSpec(6, (32, 32))).data for r in good]
    )
    scalars, _ = scalar_inputs(bundle.meta, source.table, len(source.paths), "c", source.labels)
    raw = compiled_model(bundle, 16)(spec_images, scalars[good])
    expected = task.decode(raw, bundle.meta)
    for name in ("z_median", "z_mode", "z_lo68"):
        np.testing.assert_allclose(preds.columns[name][good], expected[name], rtol=1e-5)
        assert np.isnan(preds.columns[name][[3, 70, 71, 140]]).all()
