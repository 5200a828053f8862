"""The bad-input corpus: every kind of broken input, through the real CLI.

Each case builds its broken input in a fresh folder, runs one ``astrocnn``
command and checks what a user sees: the exit code, a single
``astrocnn: error:`` (or ``warning:``) line naming the file and the reason,
no traceback, nothing the user wrote overwritten, and -- in catalogue runs --
every good row still predicted.  ``docs/bad-inputs.md`` lists the same kinds
with the tool's answer; a test keeps the two in step.
"""

from __future__ import annotations

import gzip
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_runner import run
from paths import REPO_ROOT, SAMPLE_DATA

SAMPLES = SAMPLE_DATA
DOC = REPO_ROOT / "docs" / "bad-inputs.md"
GOOD_LENS = sorted((SAMPLES / "lens" / "cutouts").glob("*.fits"))
GOOD_JPEGS = sorted((SAMPLES / "morphology" / "jpeg" / "images").glob("*.jpg"))


@dataclass
class Expect:
    """What the command must answer."""

    code: int = 1
    says: tuple = ()  # substrings of the error/warning line (file name and reason)
    rows_ok: int | None = None  # catalogue runs: good rows predicted
    untouched: list = field(default_factory=list)  # files whose bytes must not change
    logs: tuple = ()  # substrings of other lines of the output (e.g. what was converted)


def cube(tmp, name, data, **header):
    path = tmp / name
    hdu = fits.PrimaryHDU(data)
    for key, value in header.items():
        hdu.header[key] = value
    hdu.writeto(path)
    return path


def good_cube(tmp, name="good.fits"):
    return Path(shutil.copy(GOOD_LENS[0], tmp / name))


def lens_file(tmp, path, *extra):
    """predict lens on one file: the answer is exit 1 and one line naming it."""
    return ["predict", "lens", str(path), "--out", str(tmp / "out.fits"), *extra]


def lens_catalog(tmp, bad_paths):
    """A catalogue of 6 good cutouts plus the bad ones (absolute paths)."""
    files = [str(p) for p in GOOD_LENS[:6]] + [str(p) for p in bad_paths]
    table = Table({"id": np.arange(len(files)), "file": np.array(files, dtype="U500")})
    table.write(tmp / "catalog.fits")
    return ["predict", "lens", "--catalog", str(tmp / "catalog.fits"), "--out", str(tmp / "o.fits")]


def jpeg_model(tmp):
    """A morphology model of 64x64 colour JPEGs (R, G, B): the shipped network with
    the metadata of one trained on JPEG/PNG images (its outputs do not matter)."""
    from astrocnn.io.bundle import update_meta

    path = Path(shutil.copy(_default("morphology"), tmp / "jpeg.keras"))
    return update_meta(path, {"image_kind": "raster", "bands": ["R", "G", "B"],
                              "data_contract": None, "missing_band_cost": None})  # fmt: skip


def jpeg_catalog(tmp, bad_paths, name="jpegs.csv"):
    """A catalogue of 6 good colour JPEGs plus ``bad_paths`` (absolute paths)."""
    files = [str(p) for p in GOOD_JPEGS[:6]] + [str(p) for p in bad_paths]
    Table({"id": np.arange(len(files)), "file": files}).write(tmp / name)
    return tmp / name


def predict_jpegs(tmp, target, *extra):
    """predict morphology with the JPEG model on a file or (a path ending .csv) a catalogue."""
    given = ["--catalog", str(target)] if str(target).endswith(".csv") else [str(target)]
    return ["predict", "morphology", *given, "--model", str(jpeg_model(tmp)),
            "--out", str(tmp / "o.fits"), *extra]  # fmt: skip


# --- builders: (tmp) -> (args, Expect) --------------------------------------------------


def truncated_fits(tmp):
    data = good_cube(tmp).read_bytes()
    (tmp / "cut.fits").write_bytes(data[: len(data) // 2])
    return lens_file(tmp, tmp / "cut.fits"), Expect(says=("cut.fits",))


def garbage_fits(tmp):
    (tmp / "junk.fits").write_bytes(os.urandom(5000))
    return lens_file(tmp, tmp / "junk.fits"), Expect(says=("junk.fits",))


def header_only(tmp):
    fits.PrimaryHDU().writeto(tmp / "empty.fits")
    return lens_file(tmp, tmp / "empty.fits"), Expect(says=("empty.fits", "no image"))


def table_hdu(tmp):
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(Table({"a": [1, 2]}))])
    hdus.writeto(tmp / "table.fits")
    return lens_file(tmp, tmp / "table.fits"), Expect(says=("table.fits", "no image"))


def wrong_bitpix(tmp):
    raw = bytearray(good_cube(tmp, "b.fits").read_bytes())
    at = raw.index(b"BITPIX  =")
    raw[at : at + 30] = b"BITPIX  =                   12"[:30]
    (tmp / "bitpix.fits").write_bytes(bytes(raw))
    return lens_file(tmp, tmp / "bitpix.fits"), Expect(says=("bitpix.fits",))


def wrong_naxis(tmp):
    raw = bytearray(good_cube(tmp, "n.fits").read_bytes())
    at = raw.index(b"NAXIS   =")
    raw[at : at + 30] = b"NAXIS   =                 1000"
    (tmp / "naxis.fits").write_bytes(bytes(raw))
    return lens_file(tmp, tmp / "naxis.fits"), Expect(says=("naxis.fits",))


def one_d(tmp):
    return lens_file(tmp, cube(tmp, "line.fits", np.ones(64, np.float32))), Expect(
        says=("line.fits",)
    )


def four_d(tmp):
    path = cube(tmp, "hyper.fits", np.ones((2, 4, 64, 64), np.float32))
    return lens_file(tmp, path), Expect(says=("hyper.fits",))


def wrong_band_count(tmp):
    path = cube(tmp, "three.fits", np.ones((3, 64, 64), np.float32))
    return lens_file(tmp, path), Expect(says=("three.fits", "3 band"))


def undecidable_cube(tmp):
    path = cube(tmp, "square.fits", np.ones((4, 64, 4), np.float32))  # 4 planes on both ends
    return lens_file(tmp, path), Expect(says=("square.fits", "axis order", "--axis-order"))


def unknown_flux_unit(tmp):
    data = fits.getdata(GOOD_LENS[0])
    path = cube(tmp, "eps.fits", data, BUNIT="electron/s")
    return lens_file(tmp, path), Expect(says=("eps.fits", "BUNIT", "--zero-point"))


def pixel_scale_far_off(tmp):
    data = fits.getdata(GOOD_LENS[0])
    path = cube(tmp, "hst.fits", data, PIXSCALE=0.03)
    return lens_file(tmp, path), Expect(says=("hst.fits", "pixel scale", "--pixel-scale"))


def band_map_naming_a_missing_band(tmp):
    data = fits.getdata(GOOD_LENS[0])
    path = cube(tmp, "griz.fits", data, BANDS="g,r,i,z")
    args = lens_file(tmp, path, "--band-map", "g=g,r=r,i=i,y=z")
    return args, Expect(says=("griz.fits", "--band-map", "'y'"))


def wrong_size(tmp):
    path = cube(tmp, "small.fits", np.ones((4, 40, 40), np.float32))
    return lens_file(tmp, path), Expect(says=("small.fits", "40"))


def mismatched_band_sizes(tmp):
    names = []
    for band, size in zip("griz", (64, 64, 48, 64)):
        cube(tmp, f"b_{band}.fits", np.ones((size, size), np.float32))
        names.append(str(tmp / f"b_{band}.fits"))
    Table({"id": [7], **{f"file_{b}": [n] for b, n in zip("griz", names)}}).write(
        tmp / "bands.fits"
    )
    args = ["predict", "lens", "--catalog", str(tmp / "bands.fits"), "--out", str(tmp / "o.fits")]
    return args, Expect(says=("b_i.fits",), rows_ok=0)


def all_nan(tmp):
    path = cube(tmp, "nan.fits", np.full((4, 64, 64), np.nan, np.float32))
    return lens_file(tmp, path), Expect(says=("nan.fits", "every pixel is NaN"))


def all_zero(tmp):
    path = cube(tmp, "zero.fits", np.zeros((4, 64, 64), np.float32))
    return lens_file(tmp, path), Expect(says=("zero.fits", "every pixel is zero"))


def constant(tmp):
    path = cube(tmp, "flat.fits", np.full((4, 64, 64), 3.0, np.float32))
    return lens_file(tmp, path), Expect(code=0)  # valid, if dull: predicted


def some_inf(tmp):
    data = fits.getdata(good_cube(tmp)).astype(np.float32)
    data[0, :5, :5] = np.inf
    path = cube(tmp, "inf.fits", data)
    return lens_file(tmp, path), Expect(code=0)  # replaced by 0, counted in n_nonfinite


def huge_values(tmp):
    data = fits.getdata(good_cube(tmp)).astype(np.float32) * 1e30
    return lens_file(tmp, cube(tmp, "huge.fits", data)), Expect(code=0)


def damaged_tile(tmp):
    data = fits.getdata(good_cube(tmp)).astype(np.float32)
    path = tmp / "comp.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type="RICE_1")]).writeto(
        path
    )
    raw = bytearray(path.read_bytes())
    start = 2880 * 3
    raw[start : start + 2000] = os.urandom(2000)
    path.write_bytes(bytes(raw))
    return lens_file(tmp, path), Expect(says=("comp.fits",))


def gzipped_garbage(tmp):
    (tmp / "bad.fits.gz").write_bytes(gzip.compress(b"not fits" * 100)[:-20])
    return lens_file(tmp, tmp / "bad.fits.gz"), Expect(says=("bad.fits.gz",))


def non_utf8_catalogue(tmp):
    (tmp / "latin.csv").write_bytes(b"id,file\n1,caf\xe9.fits\n")
    args = ["predict", "lens", "--catalog", str(tmp / "latin.csv"), "--out", str(tmp / "o.fits")]
    return args, Expect(says=("latin.csv", "UTF-8"))


def duplicate_columns(tmp):
    (tmp / "dup.csv").write_text("id,file,file\n1,a.fits,b.fits\n")
    args = ["predict", "lens", "--catalog", str(tmp / "dup.csv"), "--out", str(tmp / "o.fits")]
    return args, Expect(says=("dup.csv", "file"))


def empty_catalogue(tmp):
    (tmp / "empty.csv").write_text("id,file\n")
    args = ["predict", "lens", "--catalog", str(tmp / "empty.csv"), "--out", str(tmp / "o.fits")]
    return args, Expect(says=("empty.csv", "no rows"))


def missing_catalogue(tmp):
    args = ["predict", "lens", "--catalog", str(tmp / "nope.fits"), "--out", str(tmp / "o.fits")]
    return args, Expect(says=("nope.fits", "not found"))


def catalogue_without_file_column(tmp):
    Table({"id": [1, 2], "path": ["a", "b"]}).write(tmp / "nofile.fits")
    args = ["predict", "lens", "--catalog", str(tmp / "nofile.fits"), "--out", str(tmp / "o.fits")]
    return args, Expect(says=("nofile.fits", "file"))


def missing_files_in_catalogue(tmp):
    args = lens_catalog(tmp, [tmp / "gone_1.fits", tmp / "gone_2.fits"])
    return args, Expect(code=0, says=("gone_1.fits",), rows_ok=6)


def garbage_rows_in_catalogue(tmp):
    (tmp / "junk.fits").write_bytes(b"\0" * 3000)
    args = lens_catalog(tmp, [tmp / "junk.fits", cube(tmp, "three.fits", np.ones((3, 64, 64)))])
    return args, Expect(code=0, says=("junk.fits",), rows_ok=6)


def all_rows_bad(tmp):
    args = lens_catalog(tmp, [tmp / "gone.fits"])
    table = Table.read(tmp / "catalog.fits")[6:]
    table.write(tmp / "catalog.fits", overwrite=True)
    return args, Expect(code=1, says=("gone.fits",), rows_ok=0)


def spaces_and_unicode(tmp):
    folder = tmp / "my data ü"
    folder.mkdir()
    path = Path(shutil.copy(GOOD_LENS[0], folder / "lentille n°1 é.fits"))
    return lens_file(tmp, path), Expect(code=0)


def relative_paths_elsewhere(tmp):
    (tmp / "cat" / "cutouts").mkdir(parents=True)
    shutil.copy(GOOD_LENS[0], tmp / "cat" / "cutouts" / "a.fits")
    Table({"id": [1], "file": ["cutouts/a.fits"]}).write(tmp / "cat" / "catalog.fits")
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)  # the catalogue's paths resolve against its own folder
    args = ["predict", "lens", "--catalog", "../cat/catalog.fits", "--out", "o.fits"]
    return args, Expect(code=0, rows_ok=1)


def unreadable_file(tmp):
    path = good_cube(tmp, "secret.fits")
    os.chmod(path, 0)
    if os.access(path, os.R_OK):
        pytest.skip("running as a user that ignores file permissions")
    return lens_file(tmp, path), Expect(says=("secret.fits", "ermission"))


def output_folder_missing(tmp):
    args = ["predict", "lens", str(good_cube(tmp)), "--out", str(tmp / "no" / "such" / "o.fits")]
    return args, Expect(says=("o.fits", "does not exist"))


def output_not_writable(tmp):
    # /proc refuses new files even to root
    args = ["predict", "lens", str(good_cube(tmp)), "--out", "/proc/astrocnn_out.fits"]
    return args, Expect(says=("/proc/astrocnn_out.fits",))


def output_exists(tmp):
    (tmp / "out.fits").write_bytes(b"my precious results")
    return lens_file(tmp, good_cube(tmp)), Expect(
        says=("out.fits", "already exists"), untouched=[tmp / "out.fits"]
    )


def output_is_a_folder(tmp):
    (tmp / "out.fits").mkdir()
    return lens_file(tmp, good_cube(tmp)), Expect(says=("out.fits", "directory"))


def disk_full(tmp, monkeypatch):
    from astropy.table import Table as AstropyTable

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    import astrocnn.io.catalog

    monkeypatch.setattr(AstropyTable, "write", full)
    monkeypatch.setattr(astrocnn.io.catalog, "write_fits_table", full)  # the fast FITS writer
    (tmp / "out.fits").write_bytes(b"yesterday's run")
    args = lens_file(tmp, good_cube(tmp), "--overwrite")
    return args, Expect(says=("out.fits", "No space left"), untouched=[tmp / "out.fits"])


def png_named_jpeg(tmp):
    import imageio.v3 as iio

    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    iio.imwrite(tmp / "galaxy.jpg", image, extension=".png")  # PNG bytes, .jpg name
    # read by its content, as image viewers do (the JPEG/PNG default model takes it)
    args = ["predict", "morphology", str(tmp / "galaxy.jpg"), "--out", str(tmp / "o.fits")]
    return args, Expect(code=0, rows_ok=1)


def truncated_jpeg(tmp):
    raw = GOOD_JPEGS[0].read_bytes()
    (tmp / "cut.jpg").write_bytes(raw[: len(raw) // 2])
    return predict_jpegs(tmp, tmp / "cut.jpg"), Expect(
        says=("cut.jpg", "corrupt or truncated JPEG")
    )


def garbage_jpeg(tmp):
    (tmp / "noise.jpg").write_bytes(os.urandom(3000))
    return predict_jpegs(tmp, tmp / "noise.jpg"), Expect(says=("noise.jpg", "not a readable JPEG"))


def empty_jpeg(tmp):
    (tmp / "empty.jpg").write_bytes(b"")
    return predict_jpegs(tmp, tmp / "empty.jpg"), Expect(says=("empty.jpg", "file is empty"))


def broken_jpegs_in_catalogue(tmp):
    raw = GOOD_JPEGS[1].read_bytes()
    (tmp / "half.jpg").write_bytes(raw[: len(raw) // 2])
    (tmp / "noise.jpg").write_bytes(os.urandom(3000))
    (tmp / "zero.jpg").write_bytes(b"")
    catalog = jpeg_catalog(tmp, [tmp / "half.jpg", tmp / "noise.jpg", tmp / "zero.jpg"])
    return predict_jpegs(tmp, catalog), Expect(
        code=0, says=("half.jpg", "corrupt or truncated JPEG"), rows_ok=6
    )


def jpegs_mixing_colour_and_grey(tmp):
    from PIL import Image

    with Image.open(GOOD_JPEGS[6]) as image:
        image.convert("L").save(tmp / "grey_a.jpg")
        image.convert("P").save(tmp / "palette.png")
        image.convert("RGBA").save(tmp / "opaque.png")
    with Image.open(GOOD_JPEGS[7]) as image:
        image.convert("L").save(tmp / "grey_b.png")
    extra = [tmp / "grey_a.jpg", tmp / "palette.png", tmp / "opaque.png", tmp / "grey_b.png"]
    catalog = jpeg_catalog(tmp, extra)
    return predict_jpegs(tmp, catalog), Expect(
        code=0,
        rows_ok=10,
        logs=(
            f"converted 2 rows: grey image replicated to R=G=B (first: {tmp / 'grey_a.jpg'})",
            "converted 1 rows: palette image converted to RGB (first: ",
            "converted 1 rows: opaque alpha channel dropped (first: ",
        ),
    )


def pickled_npy(tmp):
    np.save(tmp / "maps.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    args = ["predict", "paint", str(tmp / "maps.npy"), "--out", str(tmp / "painted")]
    return args, Expect(says=("maps.npy", "pickle"))


def map_too_small(tmp):
    path = cube(tmp, "tiny.fits", np.ones((16, 16), np.float32))
    return ["predict", "paint", str(path), "--out", str(tmp / "painted")], Expect(
        says=("tiny.fits", "smaller")
    )


def field_wrong_bands(tmp):
    path = cube(tmp, "field.fits", np.ones((5, 128, 128), np.float32))
    return ["predict", "deblend", str(path), "--out", str(tmp / "fields")], Expect(
        says=("field.fits",)
    )


def bundle_of_another_task(tmp):
    model = Path(shutil.copy(_default("morphology"), tmp / "morph.keras"))
    return lens_file(tmp, good_cube(tmp), "--model", str(model)), Expect(
        says=("morph.keras", "morphology")
    )


def bundle_checksum_fails(tmp):
    src = _default("lens")
    bad = tmp / "tampered.keras"
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(bad, "w") as b:
        for item in a.infolist():
            data = a.read(item)
            if item.filename == "model.weights.h5":
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
            b.writestr(item, data)
    return lens_file(tmp, good_cube(tmp), "--model", str(bad)), Expect(
        says=("tampered.keras", "checksum")
    )


def bundle_with_lambda(tmp):
    from astrocnn._tf import import_keras
    from astrocnn.io.bundle import save_bundle

    keras = import_keras()
    inputs = keras.Input((64, 64, 4))
    outputs = keras.layers.Lambda(lambda x: x[:, :1, 0, 0])(inputs)
    path = save_bundle(keras.Model(inputs, outputs), {"task": "lens"}, tmp / "lambda.keras")
    return lens_file(tmp, good_cube(tmp), "--model", str(path)), Expect(
        says=("lambda.keras", "refused")
    )


def bundle_garbage(tmp):
    (tmp / "model.keras").write_bytes(b"PK not really a zip")
    return lens_file(tmp, good_cube(tmp), "--model", str(tmp / "model.keras")), Expect(
        says=("model.keras",)
    )


def missing_extra_input_column(tmp):
    table = Table.read(SAMPLES / "photoz" / "catalog.fits")
    table["file"] = [str(SAMPLES / "photoz" / f) for f in table["file"]]
    del table["ebv"]
    table.write(tmp / "noebv.fits")
    args = ["predict", "photoz", "--catalog", str(tmp / "noebv.fits"), "--out", str(tmp / "o.fits")]
    return args, Expect(says=("noebv.fits", "ebv"))


def bad_pdf_grid(tmp):
    args = ["predict", "photoz", "--catalog", str(SAMPLES / "photoz" / "catalog.fits"),
            "--out", str(tmp / "o.fits"), "--pdf-grid", "3,0,abc"]  # fmt: skip
    return args, Expect(says=("pdf-grid",))


def train_without_truth(tmp):
    Table({"id": [0, 1], "file": [str(p) for p in GOOD_LENS[:2]]}).write(tmp / "nolabel.fits")
    args = ["train", "lens", "--catalog", str(tmp / "nolabel.fits"), "--out", str(tmp / "m.keras")]
    return args, Expect(says=("nolabel.fits", "label"))


def train_jpegs_without_truth(tmp):
    catalog = jpeg_catalog(tmp, [], name="nolabel.csv")
    args = ["train", "morphology", "--catalog", str(catalog), "--out", str(tmp / "m.keras")]
    return args, Expect(says=("nolabel.csv", "no column 'label'"))


def evaluate_without_truth(tmp):
    Table({"id": [0, 1], "file": [str(p) for p in GOOD_LENS[:2]]}).write(tmp / "nolabel.fits")
    args = ["evaluate", "lens", "--catalog", str(tmp / "nolabel.fits"), "--report",
            str(tmp / "report")]  # fmt: skip
    return args, Expect(says=("nolabel.fits", "label"))


def pack_garbage_catalogue(tmp):
    (tmp / "cat.fits").write_bytes(b"SIMPLE  = T\n" * 10)
    args = [
        "pack",
        "--catalog",
        str(tmp / "cat.fits"),
        "--out",
        str(tmp / "p.h5"),
        "--task",
        "lens",
    ]
    return args, Expect(says=("cat.fits",))


def packed_file_garbage(tmp):
    (tmp / "train.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(100))
    args = ["train", "lens", "--data", str(tmp / "train.h5"), "--out", str(tmp / "m.keras")]
    return args, Expect(says=("train.h5",))


def simulate_into_existing(tmp):
    (tmp / "sim").mkdir()
    (tmp / "sim" / "catalog.fits").write_bytes(b"keep me")
    args = ["simulate", "lens", "--n", "2", "--out", str(tmp / "sim")]
    return args, Expect(
        says=("catalog.fits", "already holds"), untouched=[tmp / "sim" / "catalog.fits"]
    )


def info_on_garbage(tmp):
    (tmp / "x.keras").write_bytes(b"nope")
    return ["info", str(tmp / "x.keras")], Expect(says=("x.keras",))


def unknown_survey(tmp):
    args = ["simulate", "lens", "--n", "2", "--out", str(tmp / "sim"), "--survey", "ztf"]
    return args, Expect(code=2, says=("ztf", "--survey"))


def survey_file_missing_a_field(tmp):
    (tmp / "cam.yaml").write_text(
        "name: cam\npixel_scale: 0.2\nreference_band: r\nseeing_range: [0.6, 1.0]\n"
        "bands:\n  r: {wavelength: 620, depth: 25, sky: 21, fwhm: 0.8}\n"
    )
    args = ["simulate", "lens", "--n", "2", "--out", str(tmp / "sim"), "--survey-file",
            str(tmp / "cam.yaml")]  # fmt: skip
    return args, Expect(says=("cam.yaml", "missing 'zero_point'"))


def _adapt_to(tmp, target):
    return ["train", "lens", "--catalog", str(SAMPLES / "lens" / "catalog.fits"), "--out",
            str(tmp / "m.keras"), "--epochs", "1", "--adapt-to", str(target)]  # fmt: skip


def adapt_to_other_bands(tmp):
    table = Table({"id": [0, 1], "file": [str(p) for p in GOOD_LENS[:2]]})
    table.meta["BANDS"] = "u,g,r,y"
    table.write(tmp / "target.fits")
    return _adapt_to(tmp, tmp / "target.fits"), Expect(
        says=("target.fits", "no conversion is possible")
    )


def adapt_to_jpegs_for_fits(tmp):
    catalog = jpeg_catalog(tmp, [], name="target.csv")
    return _adapt_to(tmp, catalog), Expect(says=("target.csv", "JPEG/PNG"))


def _default(task):
    from astrocnn.tasks.registry import get_task

    return get_task(task).default_model()


CASES = {
    "truncated FITS": truncated_fits,
    "garbage bytes named .fits": garbage_fits,
    "FITS with only a header": header_only,
    "table HDU where an image is expected": table_hdu,
    "invalid BITPIX": wrong_bitpix,
    "invalid NAXIS": wrong_naxis,
    "1-D image": one_d,
    "4-D image": four_d,
    "wrong band count": wrong_band_count,
    "cube whose axis order cannot be decided": undecidable_cube,
    "unknown BUNIT without a zero point": unknown_flux_unit,
    "pixel scale more than 3x off the model's": pixel_scale_far_off,
    "--band-map naming a band the file lacks": band_map_naming_a_missing_band,
    "wrong cutout size": wrong_size,
    "mismatched band sizes (one file per band)": mismatched_band_sizes,
    "all-NaN image": all_nan,
    "all-zero image": all_zero,
    "constant image": constant,
    "some inf pixels": some_inf,
    "huge values (1e30)": huge_values,
    "compressed image with a damaged tile": damaged_tile,
    "damaged gzip file": gzipped_garbage,
    "non-UTF-8 CSV catalogue": non_utf8_catalogue,
    "duplicate catalogue columns": duplicate_columns,
    "empty catalogue": empty_catalogue,
    "catalogue not found": missing_catalogue,
    "catalogue without a file column": catalogue_without_file_column,
    "catalogue rows naming missing files": missing_files_in_catalogue,
    "catalogue rows naming broken files": garbage_rows_in_catalogue,
    "catalogue whose every row is bad": all_rows_bad,
    "paths with spaces and unicode": spaces_and_unicode,
    "relative paths from another working directory": relative_paths_elsewhere,
    "unreadable file (permissions)": unreadable_file,
    "output folder missing": output_folder_missing,
    "output folder not writable": output_not_writable,
    "output already exists": output_exists,
    "output is a folder": output_is_a_folder,
    "disk full while writing": disk_full,
    "a JPEG that is really a PNG": png_named_jpeg,
    "truncated JPEG": truncated_jpeg,
    "garbage bytes named .jpg": garbage_jpeg,
    "empty .jpg file": empty_jpeg,
    "catalogue of JPEGs with broken files": broken_jpegs_in_catalogue,
    "JPEG folder mixing colour and grey (and palette, alpha)": jpegs_mixing_colour_and_grey,
    "pickled .npy": pickled_npy,
    "map smaller than half the training size": map_too_small,
    "field with the wrong number of bands": field_wrong_bands,
    "model bundle from another task": bundle_of_another_task,
    "model bundle whose checksum fails": bundle_checksum_fails,
    ".keras with a Lambda layer": bundle_with_lambda,
    "model file that is not a bundle": bundle_garbage,
    "catalogue lacking the model's extra input column": missing_extra_input_column,
    "malformed --pdf-grid": bad_pdf_grid,
    "training catalogue without truth": train_without_truth,
    "unlabelled JPEG catalogue given to train": train_jpegs_without_truth,
    "unknown --survey": unknown_survey,
    "survey file missing a field": survey_file_missing_a_field,
    "--adapt-to images in other bands": adapt_to_other_bands,
    "--adapt-to JPEGs for a FITS training set": adapt_to_jpegs_for_fits,
    "evaluation catalogue without truth": evaluate_without_truth,
    "pack: garbage catalogue": pack_garbage_catalogue,
    "train: garbage packed file": packed_file_garbage,
    "simulate into a folder holding a catalogue": simulate_into_existing,
    "info on a file that is not a bundle": info_on_garbage,
}


@pytest.mark.parametrize("kind", list(CASES))
def test_bad_input(kind, tmp_path, monkeypatch):
    builder = CASES[kind]
    monkeypatch.chdir(tmp_path)
    if "monkeypatch" in builder.__code__.co_varnames[: builder.__code__.co_argcount]:
        args, expect = builder(tmp_path, monkeypatch)
    else:
        args, expect = builder(tmp_path)
    before = {p: p.read_bytes() for p in expect.untouched}
    result = run(*args, ok=False)
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code == expect.code, f"{kind}: exit {result.exit_code}\n{output}"
    lines = [line for line in output.splitlines() if line.startswith("astrocnn: ")]
    if expect.says:
        assert len(lines) >= 1, output
        first = lines[0]
        name = expect.says[0]
        assert first.count(name) == 1, f"{kind}: the file is named more than once: {first!r}"
        for text in expect.says:
            assert text in first, f"{kind}: {text!r} not in {first!r}"
        if expect.code == 1 and expect.rows_ok is None:
            assert len(lines) == 1, output  # one line, not a cascade
    for text in expect.logs:
        assert text in output, f"{kind}: {text!r} not in the output\n{output}"
    for path, data in before.items():
        assert path.read_bytes() == data, f"{kind}: {path} was modified"
    if expect.rows_ok is not None:
        out = next(Path(a) for a in args if a.endswith(("o.fits", "out.fits")))
        if out.exists():
            table = Table.read(out)
            assert int((table["status"] == "ok").sum()) == expect.rows_ok
        else:
            assert expect.rows_ok == 0
    leftovers = [p.name for p in Path(tmp_path).rglob(".*.tmp*")]
    assert not leftovers, f"{kind}: temporary files left: {leftovers}"


def test_the_documented_table_lists_every_kind():
    text = DOC.read_text(encoding="utf-8")
    missing = [kind for kind in CASES if f"| {kind} |" not in text]
    assert not missing, f"docs/bad-inputs.md lacks: {missing}"
    assert len(CASES) >= 30
