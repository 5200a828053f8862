"""Convolutional backbones and classifier heads (Keras 3 functional API).

Two backbones, chosen by name:

``cnn``
    Blocks of [3x3 conv, batch norm, ReLU] x ``convs_per_block`` followed by
    2x2 max pooling, He-normal initialisation; the widths double per block.
    The family used for galaxy morphology (Dominguez-Sanchez et al. 2018)
    and lens finding (Jacobs et al. 2017; Ciprijanovic et al. 2021).
``resnet``
    Pre-activation-free residual blocks (He et al. 2016) with strided 1x1
    projections, the family of CMU DeepLens (Lanusse et al. 2018).

Both end in global average pooling, so they accept any input size that is
divisible by ``2**len(widths)``.
"""

from __future__ import annotations

ARCHITECTURES = ("cnn", "resnet")

ARCHITECTURE_DEFAULTS = {
    "cnn": {"widths": (16, 32, 64, 128), "convs_per_block": 1},
    # ResNet-18's layout (two residual units per stage) at half its widths: at
    # 64-128 px inputs the full widths train ~4x slower on a CPU
    "resnet": {"widths": (32, 64, 128, 256), "convs_per_block": 2},
}
"""Widths and units per stage of each backbone when the user gives none."""


def architecture_options(architecture: str, widths=None, convs_per_block=None) -> dict:
    """``architecture`` with the user's widths and units per stage, else its defaults.

    Parameters
    ----------
    architecture : str
        A backbone family (a task's own network, e.g. ``"unet"``, takes the
        ``cnn`` defaults).
    widths : sequence of int, optional
        Filters per stage.
    convs_per_block : int, optional
        Convolutions or residual units per stage.

    Returns
    -------
    dict
        ``architecture``, ``widths`` (a tuple) and ``convs_per_block``.
    """
    defaults = ARCHITECTURE_DEFAULTS.get(architecture, ARCHITECTURE_DEFAULTS["cnn"])
    return {
        "architecture": architecture,
        "widths": tuple(widths or defaults["widths"]),
        "convs_per_block": int(convs_per_block or defaults["convs_per_block"]),
    }


def input_block_layers(architecture: str) -> tuple[str, ...]:
    """Names of the layers of a backbone's first block (the one that sees the pixels)."""
    return (
        ("stem_conv", "stem_bn") if architecture == "resnet" else ("block0_0_conv", "block0_0_bn")
    )


BN_MOMENTUM = 0.9
"""Batch-norm moving-average momentum.  Keras's 0.99 needs ~500 steps before
the inference statistics match training; 0.9 is right after ~50, so small
training sets (a few hundred labelled images, as when fine-tuning) work."""


def _conv_bn(layers, x, filters, name, strides=1):
    x = layers.Conv2D(
        filters,
        3,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)


def _conv_bn_relu(layers, x, filters, name, strides=1):
    return layers.ReLU(name=f"{name}_relu")(_conv_bn(layers, x, filters, name, strides))


def _cnn_backbone(layers, x, widths, convs_per_block):
    for b, width in enumerate(widths):
        for c in range(convs_per_block):
            x = _conv_bn_relu(layers, x, width, f"block{b}_{c}")
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    return x


def _resnet_backbone(layers, x, widths, convs_per_block):
    x = _conv_bn_relu(layers, x, widths[0], "stem")
    for b, width in enumerate(widths):
        for c in range(convs_per_block):
            strides = 2 if c == 0 else 1
            name = f"res{b}_{c}"
            shortcut = (
                layers.Conv2D(
                    width,
                    1,
                    strides=strides,
                    use_bias=False,
                    kernel_initializer="he_normal",
                    name=f"{name}_proj",
                )(x)
                if strides != 1 or x.shape[-1] != width
                else x
            )
            y = _conv_bn_relu(layers, x, width, f"{name}_a", strides=strides)
            y = _conv_bn(layers, y, width, f"{name}_b")
            x = layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))
    return x


def build_backbone(
    input_shape, *, architecture="cnn", widths=(16, 32, 64, 128), convs_per_block=1, name="backbone"
):
    """Build a convolutional feature extractor ending in a feature vector.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``.
    architecture : {'cnn', 'resnet'}
        Backbone family.
    widths : sequence of int
        Filters per stage; each stage halves the resolution.
    convs_per_block : int
        Convolutions (or residual units) per stage.
    name : str
        Keras name of the returned model.

    Returns
    -------
    keras.Model
        Maps images to a pooled feature vector of length ``widths[-1]``.
    """
    from astrocnn._tf import import_keras

    keras = import_keras()

    layers = keras.layers
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {ARCHITECTURES}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    build = _cnn_backbone if architecture == "cnn" else _resnet_backbone
    x = build(layers, inputs, tuple(widths), convs_per_block)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, x, name=name)


def build_classifier(
    input_shape,
    n_classes,
    *,
    architecture="cnn",
    widths=(16, 32, 64, 128),
    convs_per_block=1,
    dense=64,
    dropout=0.3,
    activation="softmax",
    head_norm=False,
):
    """A backbone with a softmax classification (or sigmoid fraction) head.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``.
    n_classes : int
        Number of classes (2 for a binary problem).
    architecture, widths, convs_per_block
        See :func:`build_backbone`.
    dense : int
        Width of the hidden dense layer of the head.
    dropout : float
        Dropout rate before and after the hidden layer.
    activation : {'softmax', 'sigmoid'}
        Output activation: softmax for exclusive classes (or vote fractions
        that sum to one), sigmoid for independent fractions.
    head_norm : bool
        Standardise the pooled features (batch normalisation, ``head_norm``)
        before the head: for backbones whose features were not learnt for a
        head (self-supervised ones are offset and of very unequal spread).

    Returns
    -------
    keras.Model
        Outputs of shape (N, n_classes).
    """
    from astrocnn._tf import import_keras

    keras = import_keras()

    layers = keras.layers
    backbone = build_backbone(
        input_shape, architecture=architecture, widths=widths, convs_per_block=convs_per_block
    )
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = backbone(inputs)
    if head_norm:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_norm")(x)
    x = layers.Dropout(dropout, name="head_dropout0")(x)
    x = layers.Dense(dense, activation="relu", kernel_initializer="he_normal", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout1")(x)
    outputs = layers.Dense(n_classes, activation=activation, name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"{architecture}_classifier")
