"""U-Net: encoder-decoder with skip connections (Ronneberger et al. 2015).

Used for per-pixel outputs: deblending (Boucaud et al. 2020) and, later,
image-to-image regression.  Each encoder level is two 3x3 conv + batch norm
+ ReLU blocks followed by 2x2 max pooling; each decoder level upsamples with
a stride-2 transposed convolution, concatenates the encoder features of the
same resolution (the skip connection that keeps the fine detail a
segmentation needs) and applies two conv blocks.  Input sizes must be
divisible by ``2 ** (len(widths) - 1)``.
"""

from __future__ import annotations


def _conv_block(layers, x, filters, name):
    for i in range(2):
        x = layers.Conv2D(
            filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
            name=f"{name}_conv{i}",
        )(x)  # fmt: skip
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def build_unet(
    input_shape, heads, *, widths=(16, 32, 64, 128), periodic_pad=0, any_size=False, name="unet"
):
    """Build a U-Net whose last layer feeds one 1x1 convolution per output head.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``; H and W divisible by ``2 ** (len(widths) - 1)``.
    heads : sequence of (str, int, str)
        ``(name, channels, activation)`` of each per-pixel output head
        (e.g. ``("segmentation", 3, "softmax")``); their outputs are
        concatenated along the channel axis, in this order.
    widths : sequence of int
        Filters per level, from the full-resolution level to the bottleneck.
    periodic_pad : int
        For maps of periodic boxes: wrap the input around by this many pixels
        before the first convolution and crop them from the output, so the
        convolutions see the neighbouring periodic image instead of zeros.
    any_size : bool
        Accept inputs of any size (sides, with the padding, divisible by
        ``2 ** (len(widths) - 1)``), e.g. to predict a whole map in one pass.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Output shape ``(N, H, W, sum of head channels)``.
    """
    from astrocnn._tf import import_keras

    keras = import_keras()
    layers = keras.layers
    widths = tuple(int(w) for w in widths)
    factor = 2 ** (len(widths) - 1)
    padded = [s + 2 * periodic_pad for s in input_shape[:2]]
    if padded[0] % factor or padded[1] % factor:
        raise ValueError(
            f"U-Net with {len(widths)} levels needs image sides (with padding) divisible by "
            f"{factor}, got {padded[0]}x{padded[1]}"
        )
    shape = (None, None, input_shape[-1]) if any_size else tuple(input_shape)
    inputs = keras.Input(shape=shape, name="image")
    if periodic_pad:
        from astrocnn.models.layers import PeriodicPad2D

        x = PeriodicPad2D(periodic_pad, name="periodic_pad")(inputs)
    else:
        x = inputs
    skips = []
    for level, width in enumerate(widths[:-1]):
        x = _conv_block(layers, x, width, f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    x = _conv_block(layers, x, widths[-1], "bottleneck")
    for level in reversed(range(len(widths) - 1)):
        x = layers.Conv2DTranspose(
            widths[level], 2, strides=2, padding="same", name=f"dec{level}_up"
        )(x)
        x = layers.Concatenate(name=f"dec{level}_skip")([x, skips[level]])
        x = _conv_block(layers, x, widths[level], f"dec{level}")
    outputs = [
        layers.Conv2D(channels, 1, activation=activation, name=head)(x)
        for head, channels, activation in heads
    ]
    out = outputs[0] if len(outputs) == 1 else layers.Concatenate(name="heads")(outputs)
    if periodic_pad:
        out = layers.Cropping2D(periodic_pad, name="crop_periodic")(out)
    return keras.Model(inputs, out, name=name)
