"""The cheap forms of the work around the network give what the plain forms gave.

The asinh stretch (XLA-fused formulation), the D4 augmentation (XLA-compiled
pixel moves), packed sets read through a memory map, header cards found by
one regular-expression pass and the core-area band sum: each against the
straightforward computation it replaced.
"""

import numpy as np
import pytest

from astrocnn._tf import import_tensorflow, xla_available
from astrocnn.data.augment import d4_shift
from astrocnn.data.preprocess import AsinhScaler, asinh_stretch_tf, asinh_tf

TINY = np.finfo(np.float32).tiny  # below it TensorFlow flushes results to zero


def _wide_values(n=200_000, seed=0):
    """float32 values over the whole normal range, both signs, and the edges."""
    rng = np.random.default_rng(seed)
    values = [
        rng.normal(size=n),
        10.0 ** rng.uniform(-37, 38, n) * rng.choice([-1, 1], n),
        np.linspace(-1, 1, 20_001),  # around the switch between the two formulas
        [0.0, 0.5, -0.5, 1e18, 3e38, -3e38],
    ]
    return np.concatenate(values).astype(np.float32)


def test_asinh_matches_numpy_to_1e6_relative():
    tf = import_tensorflow()
    x = _wide_values()
    expected = np.arcsinh(x.astype(np.float64))
    for fn in (asinh_tf, tf.function(asinh_tf, jit_compile=xla_available())):
        got = fn(tf.constant(x)).numpy().astype(np.float64)
        normal = np.abs(expected) >= TINY
        np.testing.assert_allclose(got[normal], expected[normal], rtol=1e-6, atol=0)
        assert np.all(np.abs(got[~normal]) < TINY)


def test_asinh_keeps_infinities_and_nan():
    tf = import_tensorflow()
    x = np.array([np.inf, -np.inf, np.nan], np.float32)
    got = asinh_tf(tf.constant(x)).numpy()
    assert got[0] == np.inf and got[1] == -np.inf and np.isnan(got[2])


@pytest.mark.parametrize("n", [1, 7, 8, 19, 256, 300])
def test_stretch_of_any_batch_size_is_the_numpy_stretch(n):
    """Batches are padded to a power of two for XLA: the padding never shows."""
    rng = np.random.default_rng(n)
    images = (rng.normal(size=(n, 8, 8, 3)) * 10 ** rng.uniform(-3, 4, (n, 8, 8, 3))).astype(
        np.float32
    )
    scaler = AsinhScaler([0.5, 2.0, 7.0])
    got = scaler.transform_tf(images).numpy()
    assert got.shape == images.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, scaler.transform(images), rtol=1e-6, atol=TINY)


def test_stretch_inside_a_graph_and_a_dataset():
    tf = import_tensorflow()
    images = np.random.default_rng(1).normal(size=(20, 4, 4, 2)).astype(np.float32)
    scales = [1.0, 3.0]
    expected = AsinhScaler(scales).transform(images)
    graph = tf.function(lambda x: asinh_stretch_tf(x, scales), reduce_retracing=True)
    for n in (20, 5, 13):
        np.testing.assert_allclose(graph(images[:n]).numpy(), expected[:n], rtol=1e-6)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(6)
    got = np.concatenate([b.numpy() for b in dataset.map(lambda x: asinh_stretch_tf(x, scales))])
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def _d4_reference(tf, gen, images, max_shift):
    """d4_shift as it was written before its pixel moves were XLA-compiled."""
    batch = tf.shape(images)[0]
    turns = (0, 1, 2, 3) if images.shape[1] == images.shape[2] else (0, 2)
    rotations = tf.stack([tf.image.rot90(images, k) for k in turns], axis=1)
    k = gen.uniform([batch], 0, len(turns), dtype=tf.int32)
    images = tf.gather(rotations, k, batch_dims=1)
    flip = gen.uniform([batch, 1, 1, 1]) < 0.5
    images = tf.where(flip, tf.reverse(images, axis=[2]), images)
    if max_shift <= 0:
        return images
    size = tf.shape(images)[1:3]
    m = max_shift
    padded = tf.pad(images, [[0, 0], [m, m], [m, m], [0, 0]], "REFLECT")
    offsets = gen.uniform([batch, 2], 0, 2 * m + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(size[0])[None, :]
    cols = offsets[:, 1:] + tf.range(size[1])[None, :]
    padded = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(padded, cols, axis=2, batch_dims=1)


@pytest.mark.parametrize("shape", [(16, 12, 12, 3), (9, 10, 14, 2)])
@pytest.mark.parametrize("max_shift", [0, 2])
def test_d4_shift_moves_the_same_pixels_as_before(shape, max_shift):
    """Same seed, same draws, same pixels: training runs reproduce earlier ones."""
    tf = import_tensorflow()
    images = tf.constant(np.random.default_rng(3).normal(size=shape).astype(np.float32))
    new, old = tf.random.Generator.from_seed(7), tf.random.Generator.from_seed(7)
    for _ in range(3):  # the generators advance alike
        got = d4_shift(tf, new, images, max_shift).numpy()
        np.testing.assert_array_equal(got, _d4_reference(tf, old, images, max_shift).numpy())


def test_packed_images_beyond_the_budget_are_a_memory_map(tmp_path):
    import h5py

    from astrocnn.data.packed import open_packed

    images = np.random.default_rng(4).normal(size=(30, 6, 6, 2)).astype(np.float32)
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("images", data=images)
        h5.create_dataset("chunked", data=images, chunks=(1, 6, 6, 2))
        from astropy.table import Table

        Table({"id": np.arange(30)}).write(h5, path="catalog", serialize_meta=True)
        h5.attrs.update(bands="g,r", size_mode="strict", hdus="null")
    packed = open_packed(path, memory_budget_bytes=0)
    assert isinstance(packed.images, np.memmap)
    rows = np.array([1, 4, 5, 17, 29])
    np.testing.assert_array_equal(packed.images[rows], images[rows])
    from astrocnn.data.packed import _memory_mapped

    with h5py.File(path) as h5:
        assert _memory_mapped(h5["chunked"], path) is None  # h5py reads those


def test_header_cards_found_by_one_pass_are_those_of_each_card():
    from astrocnn.io.fits.cards import CARD_LENGTH
    from astrocnn.io.fits.reader import _matching

    def card(text):
        return text.ljust(CARD_LENGTH).encode("ascii")

    header = b"".join(
        card(c)
        for c in [
            "SIMPLE  =                    T",
            "ZP      =                 27.0 / a ZP      = in a comment",
            "COMMENT ZP      = 30.0 not a value card",
            "ZPX     =                    1",
            "FILTER  = 'HSC-I   '",
            "HIERARCH ZP = 2",
            "MAGZP   =                 25.0",
            "END",
        ]
    )
    keywords = frozenset({"ZP", "FILTER", "MAGZP"})
    expected = [
        at
        for at in range(0, len(header), CARD_LENGTH)
        if header[at + 8 : at + 10] == b"= "
        and header[at : at + 8].rstrip().decode("ascii") in keywords
    ]
    assert _matching(header, 0, len(header), keywords) == expected == [80, 320, 480]


@pytest.mark.parametrize("bands", [1, 3, 4, 7, 9])
def test_core_area_sums_the_bands_as_numpy_does(bands):
    from astrocnn.io.contract import core_area

    rng = np.random.default_rng(bands)
    shape = (20, 16, 16, bands)
    images = (rng.normal(size=shape) * rng.lognormal(0, 3, shape)).astype(np.float32)
    centre = images[:, 4:12, 4:12].sum(axis=-1).reshape(20, -1)
    expected = np.count_nonzero(centre > centre.max(axis=1, keepdims=True) / 2, axis=1)
    np.testing.assert_array_equal(core_area(images), expected.astype(np.float32))
