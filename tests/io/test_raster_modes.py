"""JPEG/PNG folders as users have them: mixed colour modes, broken files.

Every image becomes the layout's channel count one way (grey replicated to
R = G = B for a colour layout, luminance for a grey one, palette/CMYK to RGB,
an opaque alpha dropped, 16-bit scaled to 0-255), counted in the run's log;
a corrupt or truncated file fails its row with a one-line reason.
"""

import numpy as np
import pytest
from astropy.table import Table
from PIL import Image, ImageFile

from astrocnn.data.loading import load_all
from astrocnn.errors import CutoutError
from astrocnn.io.cutouts import CutoutSpec, read_cutout

RGB = CutoutSpec(3, (48, 48), image_kind="raster")
GREY = CutoutSpec(1, (48, 48), image_kind="raster")


def _colour(side=48, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:side, :side] - side // 2
    blob = 150 * np.exp(-(x**2 + (0.6 * y) ** 2) / (2 * (side / 8) ** 2))
    image = blob[..., None] * np.array([1.0, 0.8, 0.6]) + rng.normal(15, 3, (side, side, 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def _folder(tmp_path):
    """One image of each colour mode a folder of JPEG/PNG files holds."""
    colour = _colour()
    files = {"rgb.png": colour, "grey.png": colour.convert("L"), "palette.png": colour.convert("P")}
    files["rgba.png"] = colour.convert("RGBA")  # opaque
    files["grey_alpha.png"] = colour.convert("LA")
    files["cmyk.jpg"] = colour.convert("CMYK")
    grey16 = np.asarray(colour.convert("L"), np.uint16) * 257
    files["grey16.png"] = Image.fromarray(grey16)
    paths = {}
    for name, image in files.items():
        paths[name] = str(tmp_path / name)
        image.save(paths[name], **({"quality": 95} if name.endswith(".jpg") else {}))
    return colour, paths


def test_every_colour_mode_becomes_the_layouts_channels(tmp_path):
    colour, paths = _folder(tmp_path)
    grey = np.asarray(colour.convert("L"), np.float32)
    for name, path in paths.items():
        rgb = read_cutout(path, RGB)
        assert rgb.data.shape == (48, 48, 3), name
        one = read_cutout(path, GREY)
        assert one.data.shape == (48, 48, 1), name
        if name.startswith("grey"):  # replicated: the three channels are the grey image
            np.testing.assert_allclose(rgb.data, np.repeat(grey[..., None], 3, -1), atol=0.01)
            assert "grey image replicated to R=G=B" in rgb.notes
        else:  # colour: its RGB pixels, and their luminance as PIL's convert("L")
            with Image.open(path) as image:
                pixels = image.convert("RGB")
            np.testing.assert_array_equal(rgb.data, np.asarray(pixels, np.float32))
            np.testing.assert_array_equal(one.data[..., 0], np.asarray(pixels.convert("L")))
            assert any("luminance" in note for note in one.notes)
    assert read_cutout(paths["rgb.png"], RGB).notes == ()
    assert read_cutout(paths["grey.png"], GREY).notes == ()
    assert read_cutout(paths["palette.png"], RGB).notes == ("palette image converted to RGB",)
    assert read_cutout(paths["rgba.png"], RGB).notes == ("opaque alpha channel dropped",)
    assert read_cutout(paths["cmyk.jpg"], RGB).notes == ("CMYK image converted to RGB",)
    # without a layout (the first image decides one) each file keeps its own channels
    assert read_cutout(paths["grey.png"]).data.shape == (48, 48, 1)
    assert read_cutout(paths["palette.png"]).data.shape == (48, 48, 3)


def test_a_large_grey_jpeg_shrunk_while_decoding_is_replicated(tmp_path):
    path = tmp_path / "big_grey.jpg"
    _colour(423).convert("L").save(path, quality=95)
    spec = CutoutSpec(3, (64, 64), size_mode="resize", image_kind="raster")
    cut = read_cutout(str(path), spec)
    assert cut.data.shape == (64, 64, 3)
    assert np.array_equal(cut.data[..., 0], cut.data[..., 1])
    assert np.array_equal(cut.data[..., 0], cut.data[..., 2])
    grey = read_cutout(str(path), CutoutSpec(1, (64, 64), size_mode="resize", image_kind="raster"))
    np.testing.assert_array_equal(grey.data[..., 0], cut.data[..., 0])


def test_a_mixed_folder_loads_consistently_and_is_logged_once(tmp_path):
    _, paths = _folder(tmp_path)
    names = ["rgb.png", "grey.png", "palette.png", "grey16.png", "rgb.png", "grey.png"]
    rows = [[paths[name]] for name in names]
    block = load_all(rows, RGB, block_size=2, workers=2)
    assert block.ok.all() and block.images.shape == (6, 48, 48, 3)
    lines = block.log.lines()
    assert f"3 rows: grey image replicated to R=G=B (first: {paths['grey.png']})" in lines or (
        f"3 rows: grey image replicated to R=G=B (first: {paths['grey16.png']})" in lines
    )
    assert any(line.startswith("1 rows: palette image converted to RGB (first: ") for line in lines)
    assert not load_all([[paths["rgb.png"]]], RGB).log.lines()  # nothing converted: nothing said


def _jpeg_bytes(progressive=False):
    import io

    buffer = io.BytesIO()
    _colour(200, seed=3).save(buffer, "JPEG", quality=90, progressive=progressive)
    return buffer.getvalue()


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("load_truncated", [False, True])
def test_a_truncated_jpeg_fails_never_a_grey_half_image(tmp_path, monkeypatch, progressive,
                                                        load_truncated):  # fmt: skip
    # PIL fills the missing part grey where another library set LOAD_TRUNCATED_IMAGES
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", load_truncated)
    raw = _jpeg_bytes(progressive)
    shrink = CutoutSpec(3, (64, 64), size_mode="resize", image_kind="raster")
    for keep in (2048, len(raw) // 2, len(raw) - 200, len(raw) - 2):
        path = tmp_path / f"cut_{keep}.jpg"
        path.write_bytes(raw[:keep])
        for spec in (shrink, CutoutSpec(3, (200, 200), image_kind="raster")):
            with pytest.raises(CutoutError, match=rf"cut_{keep}.jpg: corrupt or truncated JPEG"):
                read_cutout(str(path), spec)
    (tmp_path / "whole.jpg").write_bytes(raw + b"\0" * 10)  # padding after the end: fine
    assert read_cutout(str(tmp_path / "whole.jpg"), shrink).data.shape == (64, 64, 3)


def test_broken_files_fail_their_row_with_one_line(tmp_path):
    good = tmp_path / "good.jpg"
    _colour().save(good, quality=90)
    raw = good.read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "noise.jpg").write_bytes(np.random.default_rng(1).bytes(3000))
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    names = ["good.jpg", "trunc.jpg", "noise.jpg", "empty.jpg", "bad.png", "good.jpg"]
    labels = [f"cat.csv row {i} (id {i})" for i in range(len(names))]
    block = load_all([[str(tmp_path / n)] for n in names], RGB, row_labels=labels)
    assert block.ok.tolist() == [True, False, False, False, False, True]
    expected = {
        1: "trunc.jpg: corrupt or truncated JPEG (",
        2: "noise.jpg: not a readable JPEG/PNG image (unknown image format)",
        3: "empty.jpg: file is empty",
        4: "bad.png: corrupt or truncated PNG (",
    }
    for row, text in expected.items():
        reason = block.reasons[row]
        assert reason.startswith(f"cat.csv row {row} (id {row}): ") and text in reason, reason
        assert "\n" not in reason
        assert not block.images[row].any()  # failed rows hold zeros, never a partial image


def test_the_first_image_decides_a_folders_layout(tmp_path):
    from astrocnn.engine.layout import catalog_with_layout

    _, paths = _folder(tmp_path)
    mixed = [paths["grey.png"], paths["rgb.png"]]
    Table({"id": [0, 1], "file": mixed}).write(tmp_path / "grey_first.csv")
    Table({"id": [0, 1], "file": mixed[::-1]}).write(tmp_path / "colour_first.csv")
    named = Table({"id": [0, 1], "file": mixed})
    named.meta["BANDS"] = "i,r,g"
    named.write(tmp_path / "named.ecsv")
    bands = {
        name: catalog_with_layout(tmp_path / name)[1].bands
        for name in ("grey_first.csv", "colour_first.csv", "named.ecsv")
    }
    assert bands == {
        "grey_first.csv": ["L"],
        "colour_first.csv": ["R", "G", "B"],
        "named.ecsv": ["i", "r", "g"],
    }


def test_packing_a_mixed_folder_records_its_bands_and_conversions(tmp_path):
    import json

    import h5py

    from astrocnn.data.packed import open_packed, pack
    from astrocnn.engine.layout import catalog_with_layout

    _, paths = _folder(tmp_path)
    files = [paths["rgb.png"], paths["grey.png"], paths["palette.png"]]
    plain = Table({"id": [0, 1, 2], "file": files})
    plain.write(tmp_path / "plain.ecsv")
    plain.meta["BANDS"] = "i,r,g"  # an SDSS gri composite: R, G, B are i, r, g
    plain.write(tmp_path / "named.ecsv")
    for name, bands in (("plain.ecsv", ["R", "G", "B"]), ("named.ecsv", ["i", "r", "g"])):
        source, layout = catalog_with_layout(tmp_path / name, size=32, size_mode="resize")
        summary = pack(source, tmp_path / f"{name}.h5", layout.spec, layout.bands)
        assert summary.n_packed == 3 and not summary.rejected
        assert summary.conversions == [
            f"1 rows: grey image replicated to R=G=B (first: {paths['grey.png']})",
            f"1 rows: palette image converted to RGB (first: {paths['palette.png']})",
        ]
        with h5py.File(tmp_path / f"{name}.h5") as h5:
            assert json.loads(h5.attrs["conversions"]) == summary.conversions
        packed = open_packed(tmp_path / f"{name}.h5")
        assert packed.bands == bands and packed.image_kind == "raster"
        assert packed.images.shape == (3, 32, 32, 3)
