"""Whole-field prediction as a pipeline: detection ahead of the network, batches that
gather several fields' stamps, products written on another thread; and the
stamp-cube file and segmentation map it writes."""

import threading

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

pytest.importorskip("galsim")
pytest.importorskip("sep")


@pytest.fixture(scope="module")
def deblend():
    from astrocnn.io.bundle import load_bundle
    from astrocnn.tasks.registry import get_task

    task = get_task("deblend")
    return task, load_bundle(task.default_model(), task="deblend")


@pytest.fixture(scope="module")
def fields(tmp_path_factory):
    """Three small fields with different sources, and an empty one."""
    from astrocnn.tasks.deblend.simulate import simulate_field

    folder = tmp_path_factory.mktemp("fields")
    paths = []
    for seed, n in ((3, 9), (4, 6), (5, 11)):
        path = folder / f"f{seed}.fits"
        simulate_field(seed, path, shape=(128, 128), n_galaxies=n)
        paths.append(path)
    with fits.open(paths[0]) as hdul:
        noise = np.random.default_rng(0).normal(0, 1, hdul[0].data.shape).astype(np.float32)
        fits.PrimaryHDU(noise, hdul[0].header).writeto(folder / "empty.fits")
    return paths, folder / "empty.fits"


def _products(folder, stem):
    catalog = Table.read(folder / f"{stem}_catalog.fits")
    with fits.open(folder / f"{stem}_stamps.fits") as hdul:
        hdul.verify("exception")
        cubes = {h.name: None if h.data is None else h.data.copy() for h in hdul[1:]}
    segmap = fits.getdata(folder / f"{stem}_segmentation.fits")
    return catalog, cubes, segmap


def _assert_same(a, b):
    catalog_a, cubes_a, segmap_a = a
    catalog_b, cubes_b, segmap_b = b
    assert catalog_a.colnames == catalog_b.colnames and len(catalog_a) == len(catalog_b)
    for name in catalog_a.colnames:
        if catalog_a[name].dtype.kind == "f":
            np.testing.assert_allclose(catalog_a[name], catalog_b[name], rtol=1e-5, atol=1e-4)
        else:
            np.testing.assert_array_equal(catalog_a[name], catalog_b[name])
    assert cubes_a.keys() == cubes_b.keys()
    for name, cube in cubes_a.items():
        if cube is None:
            assert cubes_b[name] is None
        else:
            np.testing.assert_allclose(cube, cubes_b[name], rtol=1e-4, atol=1e-4)
    # a pixel whose class is a near tie could flip with the last bits: allow a handful
    assert np.mean(segmap_a != segmap_b) < 1e-3


@pytest.mark.parametrize("batch_size", [4, 256])
def test_pipeline_equals_one_field_at_a_time(deblend, fields, tmp_path, batch_size):
    """Batches that straddle fields (4 stamps: every field spans several; 256: all
    fields in one batch) give each field the products of predicting it alone, and the
    fields come back in order, errors included, with no temporary file left."""
    from astrocnn.engine.fields import predict_field, predict_fields
    from astrocnn.errors import AstrocnnError

    task, bundle = deblend
    paths, empty = fields
    for path in [*paths, empty]:
        predict_field(task, bundle, path, tmp_path / "alone", log=lambda m: None)
    missing = tmp_path / "missing.fits"
    order = [paths[0], missing, paths[1], empty, paths[2]]
    out = tmp_path / "piped"
    logged = []
    results = list(
        predict_fields(
            task,
            bundle,
            order,
            out,
            log=lambda m: logged.append((threading.current_thread(), m)),
            batch_size=batch_size,
        )
    )
    assert [path for path, _ in results] == order
    # progress lines come from the calling thread only (never interleaved), in field order
    assert {thread for thread, _ in logged} == {threading.current_thread()}
    detected = [m.split(":")[0] for _, m in logged if m.endswith("source(s) detected")]
    assert detected == [p.name for p in order if p != missing]
    assert isinstance(results[1][1], AstrocnnError) and "not found" in str(results[1][1])
    for path, summary in results:
        if path == missing:
            continue
        assert summary.n_sources == len(Table.read(summary.catalog))
        _assert_same(_products(out, path.stem), _products(tmp_path / "alone", path.stem))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{p.stem}_{kind}.fits"
        for p in [*paths, empty]
        for kind in ("catalog", "stamps", "segmentation")
    )


def test_a_field_failing_while_stored_fails_alone(deblend, fields, tmp_path, monkeypatch):
    """A failure while one field's outputs are decoded/written fails that field only
    (its stamp cubes' temporary file removed); the fields around it are complete."""
    from astrocnn.engine.fields import predict_fields
    from astrocnn.errors import OutputError

    task, bundle = deblend
    paths, _ = fields
    decode = type(task).decode

    def failing(self, raw, meta, inputs=None, **options):
        if len(raw) and np.all(np.asarray(inputs)[0] == broken_stamp):
            raise OutputError("f4_stamps.fits: write failed (No space left on device)")
        return decode(self, raw, meta, inputs=inputs, **options)

    from astrocnn.engine.fields import detect
    from astrocnn.io.field_image import FieldImage

    field = FieldImage(paths[1], 3)
    x, y = detect(field, task.detect_sources, margin=64)
    broken_stamp = field.read(
        round(y[0]) - 32, round(y[0]) + 32, round(x[0]) - 32, round(x[0]) + 32
    )
    field.close()
    monkeypatch.setattr(type(task), "decode", failing)
    out = tmp_path / "out"
    results = list(predict_fields(task, bundle, paths, out, log=lambda m: None, batch_size=256))
    assert isinstance(results[1][1], OutputError) and "No space left" in str(results[1][1])
    assert not isinstance(results[0][1], Exception) and not isinstance(results[2][1], Exception)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{p.stem}_{kind}.fits"
        for p in (paths[0], paths[2])
        for kind in ("catalog", "stamps", "segmentation")
    )


def test_stopping_early_leaves_no_temporary_files(deblend, fields, tmp_path, monkeypatch):
    """A caller that stops after the first field (Ctrl-C, an error of its own) closes the
    generator: the fields detected ahead are abandoned, closed, without leftovers."""
    from astrocnn.engine import fields as fields_module

    task, bundle = deblend
    paths, _ = fields
    opened, closed = [], []
    image = fields_module.FieldImage

    class Counted(image):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

        def close(self):
            closed.append(self)
            super().close()

    monkeypatch.setattr(fields_module, "FieldImage", Counted)
    out = tmp_path / "out"
    many = [tmp_path / f"copy{i}.fits" for i in range(6)]
    for i, copy in enumerate(many):
        copy.write_bytes(paths[i % 3].read_bytes())
    results = fields_module.predict_fields(
        task, bundle, many, out, log=lambda m: None, batch_size=4
    )
    path, summary = next(results)
    assert path == many[0] and summary.n_sources > 0
    results.close()
    assert len(opened) > 1  # fields were detected ahead of the one returned
    assert set(map(id, opened)) <= set(map(id, closed))
    left = sorted(p.name for p in out.iterdir())
    assert all(not name.startswith(".") for name in left), left
    assert {f"copy0_{kind}.fits" for kind in ("catalog", "stamps", "segmentation")} <= set(left)


def test_segmentation_map_on_disk_equals_in_memory(deblend, fields, tmp_path, monkeypatch):
    """Fields too large for memory build their segmentation map in memory-mapped
    temporary files: the map is the same, and the temporary files are removed."""
    import astrocnn.tasks.deblend.task as deblend_module
    from astrocnn.engine.fields import predict_field

    task, bundle = deblend
    path = fields[0][0]
    predict_field(task, bundle, path, tmp_path / "memory", log=lambda m: None)
    monkeypatch.setattr(deblend_module, "SEGMENTATION_IN_MEMORY", 0)
    predict_field(task, bundle, path, tmp_path / "disk", log=lambda m: None)
    np.testing.assert_array_equal(
        fits.getdata(tmp_path / "disk" / f"{path.stem}_segmentation.fits"),
        fits.getdata(tmp_path / "memory" / f"{path.stem}_segmentation.fits"),
    )
    assert not [p for p in (tmp_path / "disk").iterdir() if p.name.startswith(".")]


def test_stamp_cube_headers_are_astropys(tmp_path):
    """After the first file of a layout, headers are patched copies: byte for byte what
    astropy builds, for other source counts and field names; a value that needs more
    than one card goes through astropy."""
    from astrocnn.io.fits import headers as fits_headers
    from astrocnn.io.fits import stamp_cubes

    specs = [("deblended", (3, 64, 64), ">f4"), ("segmentation", (64, 64), ">i2")]
    cards = {"TASK": "deblend", "MODEL": "m.keras", "FIELD": "a.fits", "DETTHR": (1.5, "sigma")}
    stamp_cubes.headers(19, specs, cards)
    assert any(key[0][0][0] == "deblended" for key in fits_headers._TEMPLATES)
    for n, field in ((1, "b.fits"), (7, "c" * 60), (123457, "d"), (3, "e" * 100), (0, "f")):
        changed = dict(cards, FIELD=field, DETTHR=(2.0 + n, "sigma"))
        assert stamp_cubes.headers(n, specs, changed) == stamp_cubes.astropy_headers(
            n, specs, changed
        ), (n, field)


def test_stamp_cubes_in_any_row_order(tmp_path):
    """Blocks of planes in any order (contiguous or not) land in their planes."""
    from astrocnn.io.fits.stamp_cubes import StampCubes

    rng = np.random.default_rng(1)
    images = rng.normal(size=(9, 8, 8, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=(9, 8, 8)).astype(np.int16)
    with StampCubes(tmp_path / "c.fits", 9, ("image", "label"), cards={"TASK": "t"}) as cubes:
        for rows in ([4, 5, 6], [8, 0, 2], [7], [1, 3]):
            cubes.write(rows, {"image": images[rows], "label": labels[rows]})
    with fits.open(tmp_path / "c.fits") as hdul:
        hdul.verify("exception")
        np.testing.assert_array_equal(hdul["IMAGE"].data, np.moveaxis(images, -1, 1))
        np.testing.assert_array_equal(hdul["LABEL"].data, labels)
        assert hdul[0].header["TASK"] == "t"
    with pytest.raises(IndexError):
        with StampCubes(tmp_path / "d.fits", 2, ("label",)) as cubes:
            cubes.write([2], {"label": labels[:1]})
    assert not list(tmp_path.glob(".d*")) and not (tmp_path / "d.fits").exists()


def test_deblend_decode_equals_the_plain_numpy_reference():
    """The decoder's faster class choice and flux sums equal argmax (first maximum
    on ties) and float64 pixel sums."""
    from astrocnn.tasks.registry import get_task

    rng = np.random.default_rng(2)
    raw = rng.random((5, 16, 16, 6)).astype(np.float32)
    raw[..., :3] = np.round(raw[..., :3] * 4) / 4  # many exact ties between classes
    inputs = rng.normal(size=(5, 16, 16, 3)).astype(np.float32)
    decoded = get_task("deblend").decode(raw, {"bands": ["g", "r", "i"]}, inputs=inputs)
    np.testing.assert_array_equal(decoded["segmentation"], np.argmax(raw[..., :3], axis=-1))
    deblended = raw[..., 3:] * inputs
    np.testing.assert_array_equal(decoded["deblended"], deblended)
    flux = deblended.astype(np.float64).sum(axis=(1, 2))
    for i, band in enumerate("gri"):
        np.testing.assert_allclose(decoded[f"flux_{band}"], flux[:, i], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("compressed", [False, True])
def test_band_sum_equals_the_sum_of_read_bands(tmp_path, compressed):
    """Detection's band sum equals ``read(...).sum(axis=-1)`` bit for bit, NaN and
    infinite pixels counting 0, for memory-mapped and tile-compressed fields."""
    from astrocnn.io.field_image import FieldImage

    rng = np.random.default_rng(3)
    cube = rng.normal(size=(3, 40, 50)).astype(">f4")
    cube[0, 5, 7] = np.nan
    cube[1, 5, 7] = np.inf
    cube[2, 9, 9] = -np.inf
    cube[:, 11, 12] = np.nan
    path = tmp_path / "f.fits"
    if compressed:
        hdu = fits.CompImageHDU(cube, compression_type="GZIP_1", quantize_level=0)
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    else:
        fits.PrimaryHDU(cube).writeto(path)
    field = FieldImage(path, 3)
    try:
        assert (field._pixels is None) == compressed
        for box in ((0, 40, 0, 50), (3, 20, 4, 30)):
            total = field.band_sum(*box)
            np.testing.assert_array_equal(total, field.read(*box).sum(axis=-1))
            assert np.isfinite(total).all()
    finally:
        field.close()


def test_card_images_keep_the_value_type():
    """Equal-comparing values of other types (True, 1, 1.0) are different cards."""
    from astropy.io.fits import Card

    from astrocnn.io.fits.cards import card_image

    for value in (1, True, 1.0, 2, 2.0, False, 0):
        assert card_image("KEY", value) == Card("KEY", value).image.encode()
    assert card_image("KEY", "x" * 100) is None  # continued over several cards
    assert card_image("KEY", [1, 2]) is None
