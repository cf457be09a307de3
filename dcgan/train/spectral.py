"""Spectrally normalised Conv2D and Dense layers (Miyato et al. 2018), safe-mode loadable.

The layer keeps the raw kernel W as its trainable weight and computes with W / sigma(W),
where sigma is the largest singular value of W reshaped to (fan_in, filters), estimated by
one power iteration per training call from a persistent vector u. As in the paper, sigma is
part of the forward pass, so gradients flow through it (u and v are held constant).

Keras 3's `layers.SpectralNormalization` wrapper instead writes W / sigma back into the
kernel variable at each training call and computes with the plain kernel: the gradient
ignores sigma (the update is a projected step), and the discriminator's weights change as a
side effect of every training-mode forward pass, the generator update's included. These
layers avoid both: a forward pass changes only u.

Registered with Keras (package "dcgan"), so a model holding them saves and loads in safe mode.
"""

from __future__ import annotations

import keras
from keras import layers, ops

EPS = 1e-12


class _Spectral:
    """The power iteration shared by both layers; `self.kernel` has `units` columns."""

    def _build_u(self, units: int) -> None:
        self.sn_u = self.add_weight(
            shape=(units,), initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=0),
            trainable=False, name="sn_u", aggregation="only_first_replica", autocast=False)

    # Keras' Conv2D and Dense save only kernel and bias: u is saved beside them by name.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.built:
            store["sn_u"] = self.sn_u

    def load_own_variables(self, store):
        own = [self._kernel] + ([self.bias] if getattr(self, "bias", None) is not None else [])
        if len(store) != len(own) + 1 or "sn_u" not in store:
            raise ValueError(f"layer {self.name!r} expects {len(own) + 1} saved variables "
                             f"(kernel, bias, sn_u), the file has {len(store)}")
        for i, variable in enumerate(own):
            variable.assign(store[str(i)])
        self.sn_u.assign(store["sn_u"])

    def normalized_kernel(self, training: bool):
        """W / sigma(W) in the compute dtype; in training, u moves one power iteration."""
        kernel = ops.cast(self.kernel, "float32")
        units = kernel.shape[-1]
        w = ops.reshape(kernel, (-1, units))  # (fan_in, units)
        u = ops.stop_gradient(ops.cast(self.sn_u, "float32"))
        v = ops.stop_gradient(_unit(ops.matmul(w, u[:, None])[:, 0]))  # (fan_in,)
        u_new = ops.stop_gradient(_unit(ops.matmul(v[None, :], w)[0]))  # (units,)
        sigma = ops.sum(v * ops.matmul(w, u_new[:, None])[:, 0])
        if training:
            self.sn_u.assign(u_new)
        return ops.cast(kernel / (sigma + EPS), self.compute_dtype)

    def sigma(self) -> float:
        """The current estimate of the kernel's largest singular value (for tests, reports)."""
        w = ops.reshape(ops.cast(self.kernel, "float32"), (-1, self.kernel.shape[-1]))
        u = ops.cast(self.sn_u, "float32")
        v = _unit(ops.matmul(w, u[:, None])[:, 0])
        return float(ops.norm(ops.matmul(v[None, :], w)))


def _unit(x):
    return x / (ops.norm(x) + EPS)


@keras.saving.register_keras_serializable(package="dcgan")
class SpectralConv2D(_Spectral, layers.Conv2D):
    """Conv2D (channels last) computing with its spectrally normalised kernel."""

    def build(self, input_shape):
        super().build(input_shape)
        self._build_u(self.filters)

    def call(self, inputs, training=False):
        outputs = self.convolution_op(inputs, self.normalized_kernel(training))
        if self.use_bias:
            outputs = ops.add(outputs, ops.reshape(self.bias, (1, 1, 1, self.filters)))
        return self.activation(outputs) if self.activation is not None else outputs


@keras.saving.register_keras_serializable(package="dcgan")
class SpectralDense(_Spectral, layers.Dense):
    """Dense computing with its spectrally normalised kernel."""

    def build(self, input_shape):
        super().build(input_shape)
        self._build_u(self.units)

    def call(self, inputs, training=False):
        x = ops.matmul(inputs, self.normalized_kernel(training))
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x) if self.activation is not None else x
