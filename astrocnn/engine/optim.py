"""Optimizers of the training engine: Adam with per-layer learning-rate factors.

Fine-tuning a copied backbone on images of another kind (FITS fluxes ->
8-bit JPEG composites, other bands) works best when the layers that must
re-learn (the new head, the re-initialised first block) move at the full
rate and the copied ones at a fraction of it (discriminative learning rates,
Howard & Ruder 2018).  Adam normalises each parameter's step by its own
gradient scale, so scaling gradients does nothing; the factor has to act on
the learning rate itself, which is what :func:`layerwise_adam` does.
"""

from __future__ import annotations


def layerwise_adam(learning_rate, factors: dict[str, float]):
    """Adam whose step for a variable of layer ``L`` is ``factors.get(L, 1)`` times the
    learning rate.

    Parameters
    ----------
    learning_rate : float or keras.optimizers.schedules.LearningRateSchedule
        The base rate.
    factors : dict of str to float
        Learning-rate factor per layer name (the first element of a Keras
        variable path, ``"block1_0_conv/kernel"`` -> ``"block1_0_conv"``).

    Returns
    -------
    keras.optimizers.Adam
        Plain Adam when every factor is 1.
    """
    from astrocnn._tf import import_keras

    keras = import_keras()
    if all(f == 1.0 for f in factors.values()):
        return keras.optimizers.Adam(learning_rate)

    class LayerwiseAdam(keras.optimizers.Adam):
        def build(self, variables):
            super().build(variables)
            self._factors = {
                self._var_key(v): float(factors.get(v.path.split("/")[0], 1.0)) for v in variables
            }

        def update_step(self, gradient, variable, learning_rate):
            factor = self._factors.get(self._var_key(variable), 1.0)
            if factor != 1.0:
                learning_rate = learning_rate * factor
            super().update_step(gradient, variable, learning_rate)

    return LayerwiseAdam(learning_rate)
