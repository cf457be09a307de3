"""The generator in the browser: a flat description of a generator for the live portrait.

Explore's live portrait (assets/live/live.js) runs the generator in the page, so a slider
move redraws the portrait without a trip to the server. It understands this project's
generator family only: Dense -> Reshape -> (BatchNorm) -> activation -> Conv2DTranspose ...
-> tanh / sigmoid. `describe(model)` turns such a Keras model into a list of operations and
one float32 buffer of weights, with every batch norm folded into the layer before it
(inference uses the moving statistics: y = s * x + t per channel, so W' = W * s, b' = b * s
+ t). A model of any other shape raises NotLive with the reason, and the app falls back to
rendering on the server.

`forward(description, z)` is the same computation in numpy, written the way the JavaScript
does it; the tests compare it with Keras, and the browser test compares the page's pixels
with the server's.

Operations (weights are offsets, in floats, into the buffer):
    {"op": "dense", "inputs": d, "units": n, "kernel": off, "bias": off}   kernel (d, n)
    {"op": "reshape", "shape": [h, w, c]}
    {"op": "convt", "size": k, "stride": s, "pad": p, "in": [h, w, c], "out": [H, W, C],
     "kernel": off, "bias": off}                 kernel (k, k, C, c), as Keras stores it
    {"op": "act", "fn": "relu" | "leaky_relu" | "tanh" | "sigmoid" | "linear", "alpha": a}
Tensors are height x width x channels, row-major (Keras' channels-last order).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass

import numpy as np

from dcgan.errors import DcganError

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "linear")
# A frame slower than this in the page (the faster path's, timed at load; or the median of
# the first 5 drawn): Explore renders on the server instead. 100 ms is 10 frames a second,
# still several times what server rendering gives (230-340 ms a move, BENCHMARKS.md).
MAX_FRAME_MS = float(os.environ.get("DCGAN_LIVE_MAX_FRAME_MS", "100"))
MAX_WEIGHTS = 16_000_000  # 64 MB of float32: beyond this the page would take too long to load


class NotLive(DcganError):
    """This generator cannot run in the browser; the message says why."""


@dataclass(frozen=True)
class Description:
    ops: list[dict]
    weights: np.ndarray  # float32, flat
    latent_dim: int

    @functools.cached_property  # a frozen dataclass still has a __dict__ to cache in
    def digest(self) -> str:
        """Names this generator's weights (the page keeps the parsed model under it)."""
        return hashlib.sha256(self.weights.tobytes()).hexdigest()[:16]

    @property
    def multiply_adds(self) -> int:
        total = 0
        for op in self.ops:
            if op["op"] == "dense":
                total += op["inputs"] * op["units"]
            elif op["op"] == "convt":
                h, w, c = op["in"]
                total += h * w * c * op["size"] ** 2 * op["out"][2]
        return total


def describe(model) -> Description:
    """The operations and folded weights of a Keras generator of this project's family."""
    ops: list[dict] = []
    chunks: list[np.ndarray] = []
    size = 0

    def put(array: np.ndarray) -> int:
        nonlocal size
        offset = size
        chunks.append(np.ascontiguousarray(array, np.float32).ravel())
        size += chunks[-1].size
        return offset

    pending: dict | None = None  # the last dense / convt, kept unwritten until no BN follows
    shape: tuple[int, ...] = (int(model.inputs[0].shape[-1]),)

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            op, kernel, bias = pending["op"], pending["kernel"], pending["bias"]
            ops.append({**op, "kernel": put(kernel), "bias": put(bias)})
            ops.extend(pending.get("then", []))
            pending = None

    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind == "Dense":
            flush()
            kernel, bias = _kernel_bias(layer)
            pending = {"op": {"op": "dense", "inputs": kernel.shape[0], "units": kernel.shape[1]},
                       "kernel": kernel, "bias": bias, "channels": kernel.shape[1]}
            shape = (kernel.shape[1],)
            _activation(layer, ops, flush)
        elif kind == "Reshape":
            target = tuple(int(d) for d in layer.target_shape)
            if len(target) != 3 or int(np.prod(target)) != int(np.prod(shape)):
                raise NotLive(f"layer {layer.name}: reshape to {target} is not to one image")
            shape = target
            if pending is not None:  # a batch norm may still follow: written after the layer
                pending["channels"] = target[2]
                pending.setdefault("then", []).append({"op": "reshape", "shape": list(target)})
            else:
                ops.append({"op": "reshape", "shape": list(target)})
        elif kind == "BatchNormalization":
            if pending is None:
                raise NotLive(f"layer {layer.name}: batch norm without a layer before it")
            scale, shift = _bn_affine(layer)
            channels = pending["channels"]
            if scale.size != channels:
                raise NotLive(f"layer {layer.name}: normalises {scale.size} channels, not "
                              f"{channels}")
            units = pending["bias"].size  # unit n of a dense layer feeds channel n % channels
            scale, shift = np.tile(scale, units // channels), np.tile(shift, units // channels)
            axis = 1 if pending["op"]["op"] == "dense" else 2  # kernels: (in, out), (k, k, out, in)
            view = [1] * pending["kernel"].ndim
            view[axis] = units
            kernel = pending["kernel"] * scale.reshape(view)
            bias = pending["bias"] * scale + shift
            pending = {**pending, "kernel": kernel, "bias": bias}
        elif kind == "Conv2DTranspose":
            flush()
            if len(shape) != 3:
                raise NotLive(f"layer {layer.name}: a transposed convolution needs an image")
            kernel, bias = _kernel_bias(layer)
            k, stride = int(layer.kernel_size[0]), int(layer.strides[0])
            if layer.kernel_size[0] != layer.kernel_size[1] or \
                    layer.strides[0] != layer.strides[1] or \
                    tuple(layer.dilation_rate) != (1, 1) or layer.padding not in ("same", "valid"):
                raise NotLive(f"layer {layer.name}: only square kernels and strides, no "
                              "dilation, 'same' or 'valid' padding")
            h, w, _ = shape
            if layer.padding == "same":
                out_h, out_w, pad = h * stride, w * stride, max(k - stride, 0) // 2
            else:
                out_h, out_w, pad = (h - 1) * stride + k, (w - 1) * stride + k, 0
            out = (out_h, out_w, kernel.shape[2])
            pending = {"op": {"op": "convt", "size": k, "stride": stride, "pad": pad,
                              "in": list(shape), "out": list(out)},
                       "kernel": kernel, "bias": bias, "channels": kernel.shape[2]}
            shape = out
            _activation(layer, ops, flush)
        elif kind in ("ReLU", "LeakyReLU", "Activation"):
            flush()
            ops.append(_act_op(layer, kind))
        else:
            raise NotLive(f"layer {layer.name} ({kind}) is not of the DCGAN generator family "
                          "(Dense, Reshape, BatchNormalization, Conv2DTranspose, activations)")
    flush()
    if shape != (64, 64, 3):
        raise NotLive(f"the model ends at {shape}, not a 64x64x3 image")
    weights = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if weights.size > MAX_WEIGHTS:
        raise NotLive(f"{weights.size:,} weights: too many to send to the page")
    return Description(ops, weights, int(model.inputs[0].shape[-1]))


def _kernel_bias(layer) -> tuple[np.ndarray, np.ndarray]:
    values = [np.asarray(v, np.float64) for v in layer.get_weights()]
    kernel = values[0]
    channels = kernel.shape[1] if kernel.ndim == 2 else kernel.shape[2]
    bias = values[1] if len(values) > 1 else np.zeros(channels)
    return kernel, bias


def _bn_affine(layer) -> tuple[np.ndarray, np.ndarray]:
    """The per-channel (scale, shift) of a batch norm at inference."""
    if getattr(layer, "axis", -1) not in (-1, 3, [-1], [3]):
        raise NotLive(f"layer {layer.name}: batch norm over an axis other than channels")
    by_name = {w.path.split("/")[-1]: np.asarray(w, np.float64) for w in layer.weights}
    mean, var = by_name["moving_mean"], by_name["moving_variance"]
    gamma = by_name.get("gamma", np.ones_like(mean))
    beta = by_name.get("beta", np.zeros_like(mean))
    scale = gamma / np.sqrt(var + layer.epsilon)
    return scale, beta - mean * scale


def _activation(layer, ops: list[dict], flush) -> None:
    """A Dense / Conv2DTranspose with its own activation: written after it."""
    name = getattr(getattr(layer, "activation", None), "__name__", "linear")
    if name != "linear":
        flush()
        ops.append(_fn_op(name, layer.name))


def _act_op(layer, kind: str) -> dict:
    if kind == "ReLU":
        if getattr(layer, "max_value", None) is not None or getattr(layer, "threshold", 0):
            raise NotLive(f"layer {layer.name}: a capped ReLU")
        slope = float(getattr(layer, "negative_slope", 0.0) or 0.0)
        return {"op": "act", "fn": "leaky_relu" if slope else "relu", "alpha": slope}
    if kind == "LeakyReLU":
        alpha = getattr(layer, "negative_slope", None)
        alpha = getattr(layer, "alpha", 0.3) if alpha is None else alpha
        return {"op": "act", "fn": "leaky_relu", "alpha": float(alpha)}
    return _fn_op(getattr(layer.activation, "__name__", "?"), layer.name)


def _fn_op(name: str, layer_name: str) -> dict:
    if name not in ACTIVATIONS:
        raise NotLive(f"layer {layer_name}: activation {name!r} is not supported in the page")
    return {"op": "act", "fn": name, "alpha": 0.0}


def forward(description: Description, z: np.ndarray) -> np.ndarray:
    """(latent,) -> (64, 64, 3) float32, computed as the page computes it."""
    w = description.weights
    x = np.asarray(z, np.float32).ravel()
    for op in description.ops:
        kind = op["op"]
        if kind == "dense":
            d, n = op["inputs"], op["units"]
            kernel = w[op["kernel"]:op["kernel"] + d * n].reshape(d, n)
            x = x @ kernel + w[op["bias"]:op["bias"] + n]
        elif kind == "reshape":
            x = x.reshape(op["shape"])
        elif kind == "convt":
            x = _convt(x, op, w)
        else:
            x = _act(x, op)
    return x.astype(np.float32)


def _convt(x: np.ndarray, op: dict, w: np.ndarray) -> np.ndarray:
    k, s, pad = op["size"], op["stride"], op["pad"]
    (h, wi, c), (out_h, out_w, out_c) = op["in"], op["out"]
    kernel = w[op["kernel"]:op["kernel"] + k * k * out_c * c].reshape(k, k, out_c, c)
    out = np.zeros((out_h + 2 * k, out_w + 2 * k, out_c), np.float32)
    # Scatter form: input pixel (i, j) adds kernel tap (a, b) at (i*s + a - pad, j*s + b - pad).
    for a in range(k):
        for b in range(k):
            contribution = x @ kernel[a, b].T  # (h, w, out_c)
            top, left = a - pad + k, b - pad + k
            out[top:top + h * s:s, left:left + wi * s:s] += contribution
    out = out[k:k + out_h, k:k + out_w]
    return out + w[op["bias"]:op["bias"] + out_c]


def _act(x: np.ndarray, op: dict) -> np.ndarray:
    fn = op["fn"]
    if fn == "relu":
        return np.maximum(x, 0)
    if fn == "leaky_relu":
        return np.where(x > 0, x, x * op["alpha"])
    if fn == "tanh":
        return np.tanh(x)
    if fn == "sigmoid":
        return 1 / (1 + np.exp(-x))
    return x
