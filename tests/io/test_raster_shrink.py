"""JPEG/PNG images shrunk while decoding (``--size-mode resize``)."""

import numpy as np
from PIL import Image
from skimage.transform import resize

from astrocnn.io.cutouts import CutoutSpec, read_cutout

SPEC = CutoutSpec(3, (64, 64), size_mode="resize", image_kind="raster")


def _galaxy(side=423, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:side, :side] - side // 2
    blob = 150 * np.exp(-(x**2 + (0.6 * y) ** 2) / (2 * 40.0**2))
    image = blob[..., None] * np.array([1.0, 0.8, 0.6]) + rng.normal(15, 3, (side, side, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def test_a_large_jpeg_is_shrunk_like_a_full_decode_and_resize(tmp_path):
    path = tmp_path / "g.jpg"
    Image.fromarray(_galaxy()).save(path, quality=95)
    fast = read_cutout(str(path), SPEC).data
    full = np.asarray(Image.open(path), np.float32)
    slow = resize(full, (64, 64, 3), order=1, anti_aliasing=True, preserve_range=True)
    assert fast.shape == (64, 64, 3) and fast.dtype == np.float32
    assert np.abs(fast - slow).mean() < 2.0  # of 0-255
    assert abs(fast.sum() / slow.sum() - 1) < 0.01


def test_images_the_fast_path_declines_still_read(tmp_path):
    rgba = np.dstack([_galaxy(200), np.full((200, 200), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(_galaxy(40)).save(tmp_path / "small.png")  # smaller than the model
    for name in ("a.png", "small.png"):
        assert read_cutout(str(tmp_path / name), SPEC).data.shape == (64, 64, 3)
