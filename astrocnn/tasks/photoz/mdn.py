"""Mixture density network head and its loss (Bishop 1994; D'Isanto & Polsterer 2018).

The head maps a feature vector to a K-component Gaussian mixture over a
scalar target ``t`` (for photo-z, ``t = ln(1 + z)``).  Its single output
tensor, shape ``(N, 3K)``, is the concatenation ``[log_weights, means,
widths]``:

* ``log_weights``: ``log_softmax`` of K logits (the loss uses the logarithms
  directly, so tiny weights never underflow);
* ``means``: unconstrained;
* ``widths``: ``softplus(.) + floor``, strictly positive; the floor keeps a
  component from collapsing onto one training object (an infinite
  likelihood).

The loss is the negative log-likelihood of the target under the mixture,
evaluated with a log-sum-exp.  The layer is registered with Keras, so
bundles load in safe mode (no ``Lambda`` layers).
"""

from __future__ import annotations

import math

from astrocnn._tf import import_keras

keras = import_keras()

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@keras.saving.register_keras_serializable(package="astrocnn")
class MixtureDensity(keras.layers.Layer):
    """Dense layer producing the parameters of a Gaussian mixture.

    Parameters
    ----------
    n_components : int
        Number of Gaussian components K.
    sigma_floor : float
        Smallest width a component can have (in units of the target).
    mean_range : tuple of float
        The component means start spread evenly over this range (bias
        initialisation), so that components specialise instead of
        collapsing onto one another at the start of training.
    """

    def __init__(self, n_components=5, sigma_floor=1e-3, mean_range=(0.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        self.n_components = int(n_components)
        self.sigma_floor = float(sigma_floor)
        self.mean_range = tuple(float(m) for m in mean_range)
        k = self.n_components
        lo, hi = self.mean_range
        means = [lo + (hi - lo) * (i + 0.5) / k for i in range(k)]
        self.logits = keras.layers.Dense(k, name="logits")
        self.means = keras.layers.Dense(
            k,
            name="means",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            bias_initializer=keras.initializers.Constant(means),
        )
        self.widths = keras.layers.Dense(
            k,
            name="widths",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            # softplus(b) = (hi - lo) / (2 k): components start as wide as their spacing
            bias_initializer=keras.initializers.Constant(
                math.log(math.expm1(max((hi - lo) / (2 * k), 1e-3)))
            ),
        )

    def build(self, input_shape):
        for dense in (self.logits, self.means, self.widths):
            dense.build(input_shape)
        self.built = True

    def call(self, features):
        ops = keras.ops
        log_w = ops.log_softmax(self.logits(features), axis=-1)
        sigma = ops.softplus(self.widths(features)) + self.sigma_floor
        return ops.concatenate([log_w, self.means(features), sigma], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3 * self.n_components)

    def get_config(self):
        return {
            **super().get_config(),
            "n_components": self.n_components,
            "sigma_floor": self.sigma_floor,
            "mean_range": list(self.mean_range),
        }


def split_parameters(params, n_components):
    """Split a ``(N, 3K)`` head output into ``(log_weights, means, widths)``."""
    k = n_components
    return params[..., :k], params[..., k : 2 * k], params[..., 2 * k : 3 * k]


def mixture_nll(y_true, y_pred):
    """Negative log-likelihood of targets under the mixtures, per object.

    Parameters
    ----------
    y_true : tensor, shape (N,) or (N, 1)
        Targets (``ln(1 + z)`` for photo-z).
    y_pred : tensor, shape (N, 3K)
        Output of :class:`MixtureDensity`.

    Returns
    -------
    tensor, shape (N,)
        ``-log sum_k w_k N(y; mu_k, sigma_k)``, computed as a log-sum-exp of
        ``log w_k - log sigma_k - log sqrt(2 pi) - (y - mu_k)^2 / (2 sigma_k^2)``.
    """
    ops = keras.ops
    k = y_pred.shape[-1] // 3
    log_w, mu, sigma = split_parameters(y_pred, k)
    y = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, 1))
    z = (y - mu) / sigma
    log_components = log_w - ops.log(sigma) - LOG_SQRT_2PI - 0.5 * ops.square(z)
    return -ops.logsumexp(log_components, axis=-1)


def build_mdn_regressor(
    input_shape,
    n_components=5,
    *,
    n_extra=0,
    mean_range=(0.0, 1.0),
    sigma_floor=1e-3,
    architecture="cnn",
    widths=(16, 32, 64, 128),
    convs_per_block=1,
    dense=128,
    dropout=0.1,
    head_norm=False,
):
    """A CNN backbone (plus optional scalar inputs) feeding a mixture density head.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)`` of the images.
    n_components : int
        Gaussian components K.
    n_extra : int
        Number of extra scalar inputs; with ``n_extra > 0`` the model takes
        ``(images, scalars)`` and concatenates the scalars with the pooled
        image features before the dense layers.
    mean_range : tuple of float
        Initial spread of the component means (target units).
    sigma_floor : float
        Smallest component width (target units).
    architecture, widths, convs_per_block
        See :func:`astrocnn.models.cnn.build_backbone`.
    dense : int
        Width of the two hidden dense layers.
    dropout : float
        Dropout rate after the pooled features.
    head_norm : bool
        Standardise the pooled image features before the head (see
        :func:`astrocnn.models.cnn.build_classifier`).

    Returns
    -------
    keras.Model
        Output shape ``(N, 3K)``: see :class:`MixtureDensity`.
    """
    from astrocnn.models.cnn import build_backbone

    layers = keras.layers
    backbone = build_backbone(
        input_shape, architecture=architecture, widths=widths, convs_per_block=convs_per_block
    )
    image = keras.Input(shape=tuple(input_shape), name="image")
    x = backbone(image)
    if head_norm:
        from astrocnn.models.cnn import BN_MOMENTUM

        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_norm")(x)
    inputs = image
    if n_extra:
        scalars = keras.Input(shape=(int(n_extra),), name="extra")
        x = layers.Concatenate(name="with_extra")([x, scalars])
        inputs = [image, scalars]
    x = layers.Dropout(dropout, name="head_dropout")(x)
    for i in range(2):
        x = layers.Dense(
            dense, activation="relu", kernel_initializer="he_normal", name=f"head_dense{i}"
        )(x)
    outputs = MixtureDensity(
        n_components, sigma_floor=sigma_floor, mean_range=mean_range, name="mixture"
    )(x)
    return keras.Model(inputs, outputs, name=f"{architecture}_mdn")
