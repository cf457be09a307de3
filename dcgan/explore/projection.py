"""A photo -> the latent z whose portrait matches it, with no pretrained network.

StyleGAN's projector compares images through downloaded VGG features; this one must work
offline, so its loss is built from the images themselves and, when a run's checkpoint keeps
one, the run's own discriminator:

    loss(z) = mean squared pixel error                       (the colours)
            + LAPLACIAN_WEIGHT * sum over levels of mean |band-pass difference|
              (edges at 64, 32, 16 and 8 px, plus the 4 px low-pass: shapes at every scale)
            + feature_weight * relative squared error of D's last feature map (if a D)
            + prior * (|z| / sqrt(d) - 1)^2                  (keeps z typical)

How it searches: `candidates` random seeds are scored on the pixel loss and the best
`restarts` become the starting points; those are optimised together (one batch) with Adam
under a learning-rate ramp-up then cosine ramp-down, with noise added to z early on that fades
to nothing (it lets a restart leave a poor basin). After every step z is kept inside the
1st-99th percentile band of N(0, I) norms, so the result is as typical as a seed and the
sliders and interpolation behave on it as they do on seeds. The best restart wins.

TensorFlow is imported when a Projector is built; `photo_pixels` needs only Pillow.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dcgan.data.images import crop_resize, decode_image

LAPLACIAN_WEIGHT = 0.5
LEVELS = 4  # band-pass levels at 64, 32, 16, 8 px; the low-pass is 4 px


def photo_pixels(data: bytes, size: int = 64, data_crop: dict | None = None) -> np.ndarray:
    """A photo's bytes -> (size, size, 3) uint8, decoded and cropped exactly as `prepare`
    cropped the generator's training images: `data_crop` is that cache's settings (a face
    crop: the photo's largest face, aligned; None: the centre square).

    Corrupt, tiny, mislabelled or bomb-sized files raise the same ImageRejected as an import;
    a photo without a usable face, ImageRejected("no-face", ...) or the face's reason.
    """
    from dcgan.data.faces import align_photo, crop_of

    face = crop_of(data_crop)
    if face is None:
        return crop_resize(decode_image(data, draft_to=size), size)
    return align_photo(decode_image(data), face, size)


@functools.cache
def norm_band(latent_dim: int) -> tuple[float, float]:
    """The 1st and 99th percentiles of |z| for z ~ N(0, I_latent_dim) (sampled, fixed seed)."""
    rng = np.random.default_rng([latent_dim, 0x9B])
    norms = np.linalg.norm(rng.standard_normal((100_000, latent_dim)), axis=1)
    lo, hi = np.percentile(norms, [1, 99])
    return float(lo), float(hi)


def keep_typical(z: np.ndarray) -> np.ndarray:
    """z (N, d) with each row's norm clipped into norm_band(d)."""
    lo, hi = norm_band(z.shape[-1])
    norms = np.linalg.norm(z, axis=-1, keepdims=True)
    return (z * np.clip(norms, lo, hi) / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class Settings:
    """The knobs of one projection; the defaults take ~5 s per photo for the demo on 2 cores."""

    steps: int = 300
    restarts: int = 8
    candidates: int = 512
    lr: float = 0.08
    noise: float = 0.5  # initial std of the noise added to z, fades to 0 by 3/4 of the steps
    prior: float = 0.01
    feature_weight: float = 0.1  # used only with a discriminator
    seed: int = 0

    def check(self) -> None:
        for name, low, high in (("steps", 1, 10_000), ("restarts", 1, 64),
                                ("candidates", 1, 100_000)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be in {low}..{high}, not {value}")
        if self.candidates < self.restarts:
            raise ValueError("candidates must be at least the number of restarts")


@dataclass
class Projection:
    """What a projection found: the best z, its portrait, and how it got there."""

    z: np.ndarray  # (d,) float32
    image: np.ndarray  # (64, 64, 3) uint8
    target: np.ndarray  # (64, 64, 3) uint8
    losses: list[float] = field(default_factory=list)  # best restart's loss per step
    steps: int = 0  # steps taken (fewer than asked when stopped)
    seconds: float = 0.0
    stopped: bool = False

    @property
    def rms(self) -> float:
        """Per-pixel RMS error to the target, in grey levels (0-255)."""
        return rms_error(self.image, self.target)


def rms_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a.astype(np.float64) - b.astype(np.float64)))))


def _lr_at(step: int, steps: int, lr: float) -> float:
    """Ramp up over the first 5% of the steps, cosine down over the last 25%."""
    t = step / max(steps, 1)
    ramp = min(1.0, (1.0 - t) / 0.25)
    ramp = 0.5 - 0.5 * np.cos(ramp * np.pi)
    return float(lr * ramp * min(1.0, t / 0.05 + 1e-3))


class Projector:
    """Projects photos into one generator's latent space (a dcgan.explore.export.RunGenerator).

    `discriminator`, a Keras model of the run's D (image in the generator's value range), adds
    its last 4-D feature map to the loss.
    """

    def __init__(self, generator, discriminator=None):
        import tensorflow as tf

        self.generator, self.latent_dim = generator, generator.latent_dim
        lo, hi = generator.value_range
        model = generator.model
        features = _feature_model(discriminator) if discriminator is not None else None
        self.has_features = features is not None

        def unit(z, training=False):  # G(z) in [0, 1]
            return (tf.cast(model(z, training=training), tf.float32) - lo) / (hi - lo)

        def image_terms(x, t):
            terms = tf.reduce_mean(tf.square(x - t), axis=[1, 2, 3])
            for xb, tb in zip(_laplacian(x), _laplacian(t), strict=True):
                terms += LAPLACIAN_WEIGHT * tf.reduce_mean(tf.abs(xb - tb), axis=[1, 2, 3])
            return terms

        @tf.function(reduce_retracing=True)
        def score(z, target):  # (N,) pixel + Laplacian loss of each z to one target
            x = unit(z)
            return image_terms(x, tf.broadcast_to(target, tf.shape(x)))

        @tf.function(reduce_retracing=True)
        def step(z, m, v, t, target, target_feats, lr, noise, prior, feature_weight):
            d = tf.cast(tf.shape(z)[-1], tf.float32)
            noisy = z + noise * tf.random.normal(tf.shape(z))
            with tf.GradientTape() as tape:
                tape.watch(noisy)
                x = unit(noisy)
                losses = image_terms(x, tf.broadcast_to(target, tf.shape(x)))
                if features is not None:
                    f = features(x * (hi - lo) + lo)
                    err = tf.reduce_mean(tf.square(f - target_feats), axis=[1, 2, 3])
                    losses += feature_weight * err / (tf.reduce_mean(tf.square(target_feats))
                                                      + 1e-8)
                norm = tf.norm(noisy, axis=-1) / tf.sqrt(d)
                losses += prior * tf.square(norm - 1.0)
                total = tf.reduce_sum(losses)  # the restarts are independent
            grad = tape.gradient(total, noisy)
            m = 0.9 * m + 0.1 * grad  # Adam (betas 0.9, 0.999), one step
            v = 0.999 * v + 0.001 * tf.square(grad)
            m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
            z = z - lr * m_hat / (tf.sqrt(v_hat) + 1e-8)
            return z, m, v, losses

        self._tf, self._score, self._step = tf, score, step
        self._features = tf.function(features) if features is not None else None
        self._value_range = (lo, hi)

    def _target_features(self, target01):
        tf = self._tf
        if self._features is None:
            return tf.zeros((1, 1, 1, 1))
        lo, hi = self._value_range
        return self._features(tf.constant(target01[None] * (hi - lo) + lo, tf.float32))

    def starts(self, target: np.ndarray, settings: Settings) -> np.ndarray:
        """The `restarts` best of `candidates` random z for `target` (pixel + Laplacian loss)."""
        tf = self._tf
        rng = np.random.default_rng([settings.seed, 0x9C])
        z = keep_typical(rng.standard_normal((settings.candidates, self.latent_dim))
                         .astype(np.float32))
        t = tf.constant(target[None].astype(np.float32) / 255.0)
        scores = np.concatenate([self._score(tf.constant(z[i:i + 256]), t).numpy()
                                 for i in range(0, len(z), 256)])
        return z[np.argsort(scores, kind="stable")[:settings.restarts]]

    def search(self, target: np.ndarray, settings: Settings = Settings()) -> Search:
        """A projection of `target` (64, 64, 3) uint8, to advance step by step."""
        return Search(self, target, settings)

    def project(self, target: np.ndarray, settings: Settings = Settings(),
                callback: Callable[[Projection], bool] | None = None,
                report_every: int = 10) -> Projection:
        """Find z for `target` (64, 64, 3) uint8.

        `callback(progress)` is called every `report_every` steps and at the end with the best
        z so far; returning False stops early (the result is then the best so far, `stopped`).
        """
        search = self.search(target, settings)
        while not search.done:
            result = search.advance(report_every)
            if callback is not None and not callback(result):
                search.stop()
                return search.result()
        return search.result()


class Search:
    """One projection in progress: `advance(n)` takes up to n more steps, or `start()` runs
    the rest in a background thread (the app's way: the page shows `latest` while it runs,
    and `stop()` ends it after the step under way)."""

    def __init__(self, projector: Projector, target: np.ndarray, settings: Settings):
        settings.check()
        tf = projector._tf
        self.projector, self.target, self.settings = projector, target, settings
        self.began = time.perf_counter()
        tf.random.set_seed(settings.seed)
        target01 = target.astype(np.float32) / 255.0
        self._t, self._t_feats = tf.constant(target01[None]), projector._target_features(target01)
        self.z = keep_typical(projector.starts(target, settings))
        self._m, self._v = np.zeros_like(self.z), np.zeros_like(self.z)
        self.step, self.history = 0, []
        self.latest: Projection | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.step >= self.settings.steps

    def advance(self, steps: int) -> Projection:
        tf, s, step_fn = self.projector._tf, self.settings, self.projector._step
        for _ in range(min(steps, s.steps - self.step)):
            i = self.step
            fade = max(0.0, 1.0 - i / (0.75 * s.steps))
            z, m, v, losses = step_fn(
                tf.constant(self.z), tf.constant(self._m), tf.constant(self._v),
                tf.constant(float(i + 1)), self._t, self._t_feats,
                tf.constant(_lr_at(i, s.steps, s.lr)), tf.constant(s.noise * fade**2),
                tf.constant(float(s.prior)), tf.constant(float(s.feature_weight)))
            self.z, self._m, self._v = keep_typical(z.numpy()), m.numpy(), v.numpy()
            self.history.append(float(np.min(losses.numpy())))
            self.step += 1
        return self.result()

    def start(self, report_every: int = 10) -> None:
        """Run the remaining steps in a daemon thread, publishing `latest` as it goes.

        Take one step in the calling thread first: it traces the step function there, not
        beside code that may reset Keras' global state (Streamlit clears it after each run).
        """
        self.latest = self.advance(1)

        def work() -> None:
            try:
                while not self.done and not self._stop.is_set():
                    self.latest = self.advance(report_every)
            except Exception as exc:  # shown by the page; the thread must not die silently
                self.error = exc

        self._thread = threading.Thread(target=work, name="projection", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set() and not self.done

    def stop(self) -> None:
        """Ask the thread to end after its current steps, and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def result(self) -> Projection:
        """The best so far: the restart whose noise-free pixel + Laplacian loss is lowest."""
        scores = self.projector._score(self.projector._tf.constant(self.z), self._t).numpy()
        best = self.z[int(np.argmin(scores))].copy()
        return Projection(best, self.projector.generator.images(best[None])[0], self.target,
                          list(self.history), self.step, time.perf_counter() - self.began,
                          self.stopped)


def _laplacian(x):
    """Band-pass levels of a (N, 64, 64, C) batch (2x2 average pooling), then the low-pass."""
    import tensorflow as tf

    levels = []
    for _ in range(LEVELS):
        down = tf.nn.avg_pool2d(x, 2, 2, "VALID")
        up = tf.image.resize(down, tf.shape(x)[1:3], "nearest")
        levels.append(x - up)
        x = down
    return [*levels, x]


def _feature_model(discriminator):
    """D's last 4-D activation before its minibatch and logit layers, as a model (None if
    it has none): what D has seen of one image, not its verdict."""
    import keras

    chosen = None
    for layer in discriminator.layers[1:]:
        if layer.name.startswith(("mbstd", "logit")):
            break
        if len(layer.output.shape) == 4:
            chosen = layer
    if chosen is None:
        return None
    sub = keras.Model(discriminator.input, chosen.output)
    return lambda x: sub(x, training=False)


def run_discriminator(run_dir, checkpoint):
    """The discriminator kept in a run's checkpoint (a Keras model), or None without one."""
    from dcgan.config import Config
    from dcgan.train.checkpoints import load_checkpoint
    from dcgan.train.models import build_discriminator

    config = Config.from_json((run_dir / "config.json").read_text())
    state, _ = load_checkpoint(checkpoint, groups=("d",))
    if not state.get("d"):
        return None
    model = build_discriminator(config.model, seed=config.train.seed)
    model.set_weights(state["d"])
    return model
