"""The adversarial train step and the device set-up (strategy, mixed precision, XLA).

One `GanTrainer` serves one device, several GPUs (MirroredStrategy) and several machines
(MultiWorkerMirroredStrategy). Noise is drawn for the global batch from a stateless seed
(seed, step) and each replica takes its slice, so a step gives the same result on one
device or many, and a resumed run draws exactly the noise it would have drawn.

Steps run K at a time inside one compiled call (`train_steps`: a tf.while_loop over the
steps, their logged values kept on the device and read back once per call). The loop leaves
after a step whose values are not finite, so a divergence is seen at the step it happened.
Nothing in a step depends on K: a run gives the same weights for any K, so K can change
during a run (`CallSize` picks it from the measured step time) and resume stays exact.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from dcgan.config import Config, parse_policy
from dcgan.data.images import to_uint8
from dcgan.train import losses
from dcgan.train.augment import UNIFORMS, adapt_p, augment
from dcgan.train.ema import EmaGenerator, ema_beta
from dcgan.train.models import build_discriminator, build_generator

# Noise streams of one step: seed (config.seed, 8 * step + stream). Z_G feeds the extra
# generator updates when g_steps > 1 (the first one reuses the discriminator step's z);
# AUG_D augments the D update's real and fake images, AUG_G the G update's.
Z_D, Z_G, LABELS, ALPHA, AUG_D, AUG_G = 0, 1, 2, 3, 4, 5
# What every step returns from the compiled loop (zeros where a step has no such value).
STEP_KEYS = ("d_loss", "g_loss", "d_real", "d_fake", "d_real_sign", "r1", "gp", "augment_p")


@dataclass(frozen=True)
class DeviceSetup:
    """Where and how a run computes; shown to the user and written to status.json."""

    strategy: tf.distribute.Strategy
    policy: str  # Keras dtype policy
    jit: bool
    description: str


def configure_threads() -> None:
    """Intra-op threads = cores (the oneDNN kernels scale with them); call before any op."""
    cores = os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cores)
        tf.config.threading.set_inter_op_parallelism_threads(2)
    except RuntimeError:
        pass  # the runtime is already initialised: keep its settings


def gpu_names() -> list[str]:
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return names


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has bfloat16 arithmetic (AVX512_BF16 or AMX-BF16) for oneDNN to use.

    Read from the flags of /proc/cpuinfo (Linux); False where they cannot be read.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as fh:
                cpuinfo = fh.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def auto_policy(gpus: list, has_bf16: bool) -> str:
    """`--mixed-precision auto`: bf16 on Ampere+ GPUs and bf16-capable CPUs, fp16 on older
    GPUs, float32 elsewhere (BENCHMARKS.md "precision" measures the CPU choice)."""
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability", (0, 0))
        return "mixed_bfloat16" if tuple(capability) >= (8, 0) else "mixed_float16"
    return "mixed_bfloat16" if has_bf16 else "float32"


def setup_device(config: Config) -> DeviceSetup:
    """Choose the strategy, dtype policy and XLA from the config and the hardware."""
    t = config.train
    gpus = tf.config.list_physical_devices("GPU")
    if t.strategy == "multiworker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif t.strategy == "mirrored" or (t.strategy == "auto" and len(gpus) > 1):
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()  # the default: one device
    policy = "float32"
    if t.mixed_precision in ("bf16", "fp16"):
        policy = "mixed_bfloat16" if t.mixed_precision == "bf16" else "mixed_float16"
    elif t.mixed_precision == "auto":
        policy = auto_policy(gpus, cpu_has_bf16())
    jit = t.jit_compile == "on" or (t.jit_compile == "auto" and bool(gpus))
    where = ", ".join(gpu_names()) if gpus else f"CPU ({os.cpu_count()} cores)"
    precision = {"mixed_bfloat16": "bf16 mixed precision",
                 "mixed_float16": "fp16 mixed precision"}.get(policy, policy)
    if policy == "mixed_bfloat16" and not gpus:
        precision += " (CPU bf16 instructions)" if cpu_has_bf16() else " (asked for)"
    description = (f"{where}; {strategy.num_replicas_in_sync} replica(s); {precision}; "
                   f"XLA {'on' if jit else 'off'}")
    return DeviceSetup(strategy, policy, jit, description)


def _adam(lr: float, beta1: float, beta2: float, policy: str):
    opt = keras.optimizers.Adam(learning_rate=lr, beta_1=beta1, beta_2=beta2)
    if policy == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


class GanTrainer:
    """Both networks, both optimizers and the compiled train step of one run.

    Options of the recipe (each off by default): an EMA copy of the generator (dcgan.train.ema),
    differentiable augmentation of D's inputs with a fixed or adaptive p (dcgan.train.augment),
    and a lazy R1 penalty on real images.
    """

    def __init__(self, config: Config, device: DeviceSetup):
        self.config = config
        self.device = device
        self.strategy = device.strategy
        m, t = config.model, config.train
        self.global_batch = t.batch_size
        with self.strategy.scope():
            keras.utils.set_random_seed(t.seed)
            self.generator = build_generator(m, seed=t.seed, dtype=device.policy)
            self.discriminator = build_discriminator(m, seed=t.seed + 1000, dtype=device.policy)
            self.g_opt = _adam(t.g_lr, t.g_beta1, t.g_beta2, device.policy)
            self.d_opt = _adam(t.d_lr, t.d_beta1, t.d_beta2, device.policy)
            self.g_opt.build(self.generator.trainable_variables)
            self.d_opt.build(self.discriminator.trainable_variables)
            self.ema = EmaGenerator(self.generator, build_generator(m, seed=t.seed)) \
                if t.ema_half_life > 0 else None
        d = config.data
        self.policy = parse_policy(d.augment_policy) if d.augment != "off" else ()
        # The augmentation probability (fixed, or ADA's, which starts at 0) lives on the
        # device: the compiled loop updates ADA's after every step.
        self._p = tf.Variable(d.augment_p if d.augment == "fixed" else 0.0, dtype=tf.float64,
                              trainable=False)
        self._replica_fn = tf.function(self._replica_step, jit_compile=device.jit)
        self._blocks: dict[object, object] = {}
        shown = self.inference_generator
        self._sample = tf.function(lambda z: shown(z, training=False), reduce_retracing=True)
        self._last_g_loss: float | None = None

    @property
    def augment_p(self) -> float:
        """The augmentation probability the next step uses."""
        return float(self._p.numpy())

    @property
    def inference_generator(self) -> keras.Model:
        """The generator that is shown and shipped: the EMA copy when the run keeps one."""
        return self.ema.model if self.ema is not None else self.generator

    # --- the step --------------------------------------------------------------------------
    def _make_block(self, source, do_g: bool, do_r1: bool):
        """The compiled loop of up to `count` steps of one variant (see train_steps).

        One variant per loop: under MirroredStrategy a strategy.run inside a tf.switch_case
        branch fails, so steps of other variants (critic-only, lazy R1) go to another call.
        """
        d = self.config.data
        adaptive = bool(self.policy) and d.augment == "adaptive"

        @tf.function(reduce_retracing=True)
        def block(args, offset, first_step, count, betas):
            table = tf.TensorArray(tf.float32, size=count, element_shape=[len(STEP_KEYS)])

            def body(i, finite, table):
                step = first_step + tf.cast(i, tf.int64)
                aug_p = tf.cast(self._p, tf.float32)
                # Two runs: strategy.run must be given the compiled (XLA on GPUs) step itself,
                # and gathering the batch stays outside it.
                real = self.strategy.run(source.replica_batch,
                                         args=(source.step_input(args, offset + i),))
                per_replica = self.strategy.run(self._replica_fn,
                                                args=(real, step, aug_p, do_g, do_r1))
                if do_g and self.ema is not None:
                    self.ema.update(betas[i])
                out = {k: self.strategy.reduce("SUM", v, axis=None)
                       for k, v in per_replica.items()}
                if adaptive:
                    self._p.assign(adapt_p(self._p, out["d_real_sign"], d.ada_target,
                                           self.global_batch, d.ada_images))
                out["augment_p"] = aug_p
                values = tf.stack([out.get(k, tf.constant(0.0)) for k in STEP_KEYS])
                return i + 1, tf.reduce_all(tf.math.is_finite(values)), table.write(i, values)

            n, _, table = tf.while_loop(lambda i, ok, _: tf.logical_and(i < count, ok), body,
                                        (tf.constant(0), tf.constant(True), table))
            return n, table.stack()
        return block

    def _global_noise(self, step, stream, shape, kind="normal"):
        seed = tf.stack([tf.cast(self.config.train.seed, tf.int64),
                         tf.cast(step, tf.int64) * 8 + stream])
        if kind == "normal":
            return tf.random.stateless_normal(shape, seed)
        return tf.random.stateless_uniform(shape, seed)

    def _slice(self, full, local):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        start = tf.cast(replica, tf.int32) * local
        return full[start:start + local]

    def _augment(self, images, step, stream, part: int, aug_p):
        """D's view of `images`: augmented with rows [part * gb, (part + 1) * gb) of a stream."""
        if not self.policy:
            return images
        gb, local = self.global_batch, tf.shape(images)[0]
        draws = self._global_noise(step, stream, [2 * gb, UNIFORMS], "uniform")
        uniforms = self._slice(draws[part * gb:(part + 1) * gb], local)
        return augment(images, uniforms, aug_p, self.policy, self.config.value_range)

    def _replica_step(self, real, step, aug_p, do_g: bool, do_r1: bool):
        m, t = self.config.model, self.config.train
        gb, local = self.global_batch, tf.shape(real)[0]
        z = self._slice(self._global_noise(step, Z_D, [gb, m.latent_dim]), local)
        g_tape = tf.GradientTape()
        with g_tape:  # kept open for the generator update below, which reuses `fake`
            fake = self.generator(z, training=True)
        d_loss, real_out, fake_out, extra = self._d_update(
            real, self._augment(tf.stop_gradient(fake), step, AUG_D, 1, aug_p), step, do_r1,
            lambda images: self._augment(images, step, AUG_D, 0, aug_p))

        g_loss = tf.constant(0.0)
        if do_g:
            # As in the DCGAN paper's reference loop, the first generator update reuses this
            # step's fake images: one generator forward pass saved per iteration.
            g_loss = self._g_update(fake, g_tape, step, aug_p)
            for k in range(1, t.g_steps):
                noise = self._global_noise(step * 16 + k, Z_G, [gb, m.latent_dim])
                tape = tf.GradientTape()
                with tape:
                    more_fake = self.generator(self._slice(noise, local), training=True)
                g_loss = self._g_update(more_fake, tape, step * 16 + k, aug_p)

        def mean(x):
            return tf.reduce_sum(x) / gb

        if t.loss == "bce":
            d_real, d_fake = mean(tf.sigmoid(real_out)), mean(tf.sigmoid(fake_out))
        else:
            d_real, d_fake = mean(real_out), mean(fake_out)
        # ADA's overfitting signal r_t: the share of real images D calls real, minus the rest.
        return {"d_loss": d_loss, "g_loss": g_loss, "d_real": d_real, "d_fake": d_fake,
                "d_real_sign": mean(tf.sign(real_out)), **extra}

    def _d_update(self, real, fake, step, do_r1: bool = False, view=None):
        """One discriminator (critic) update on real images and D's view of the fakes.

        `view` maps real images to what D sees (its augmentation; None: the images
        themselves). Returns (d_loss, real_out, fake_out, extras). With `do_r1`, the lazy R1
        penalty r1_every * gamma / 2 * ||grad_x D(view(x))||^2 is added, differentiated with
        respect to the un-augmented real images x with the augmentation inside D's call, as
        in StyleGAN2-ADA.
        """
        t = self.config.train
        gb, local = self.global_batch, tf.shape(real)[0]
        d_vars = self.discriminator.trainable_variables
        view = view or (lambda images: images)

        def critic(images, training=True):
            return self.discriminator(view(images), training=training)

        extra = {}
        with tf.GradientTape() as tape:
            if do_r1:
                real_out, r1 = losses.r1_penalty(critic, real)
                extra["r1"] = tf.nn.compute_average_loss(r1, global_batch_size=gb)
            else:
                real_out = tf.cast(critic(real), tf.float32)
            fake_out = tf.cast(self.discriminator(fake, training=True), tf.float32)
            if t.loss == "bce":
                jitter = None, None
                if t.label_noise > 0:
                    noise = self._global_noise(step, LABELS, [2, gb], "uniform") * t.label_noise
                    jitter = self._slice(noise[0], local), self._slice(noise[1], local)
                per_example = losses.bce_d_loss(real_out, fake_out, t.label_smoothing, *jitter)
            elif t.loss == "hinge":
                per_example = losses.hinge_d_loss(real_out, fake_out)
            else:
                per_example = losses.wgan_d_loss(real_out, fake_out)
                alpha = self._slice(self._global_noise(step, ALPHA, [gb], "uniform"), local)
                gp = losses.gradient_penalty(self.discriminator, view(real), fake, alpha)
                extra["gp"] = tf.nn.compute_average_loss(gp, global_batch_size=gb)
                per_example += t.gp_weight * gp
            if do_r1:
                per_example += (t.r1_every * t.r1_gamma / 2.0) * r1
            d_loss = tf.nn.compute_average_loss(per_example, global_batch_size=gb)
            scaled = self.d_opt.scale_loss(d_loss) if hasattr(self.d_opt, "scale_loss") \
                else d_loss
        self.d_opt.apply(tape.gradient(scaled, d_vars), d_vars)
        return d_loss, real_out, fake_out, extra

    def _g_update(self, fake, tape: tf.GradientTape, step, aug_p):
        """One generator update from `fake`, whose forward pass `tape` recorded."""
        t = self.config.train
        g_vars = self.generator.trainable_variables
        with tape:
            seen = self._augment(fake, step, AUG_G, 0, aug_p)
            fake_out = tf.cast(self.discriminator(seen, training=True), tf.float32)
            per_example = losses.bce_g_loss(fake_out) if t.loss == "bce" else \
                losses.wgan_g_loss(fake_out)
            g_loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)
            scaled = self.g_opt.scale_loss(g_loss) if hasattr(self.g_opt, "scale_loss") \
                else g_loss
        self.g_opt.apply(tape.gradient(scaled, g_vars), g_vars)
        return g_loss

    def train_steps(self, source, args, first_step: int, count: int) -> list[dict[str, float]]:
        """Steps first_step .. first_step + count - 1 in compiled loops: host floats each.

        Consecutive steps of one variant share one call (with n_critic > 1 or lazy R1 a
        block is split where the variant changes).

        `source` gives each step's real images: GIVEN (args: one batch, tensor or
        distributed values, used by every step), STREAMED (args: an iterator of batches) or a
        dcgan.train.pipeline.ResidentImages (args: its `args(epoch, batch)`). Each step is one
        discriminator update (+ generator updates every n_critic steps). A step whose values
        are not all finite is the last one run and returned. With augmentation, a step's
        `augment_p` is the probability it used; in adaptive mode p then moves by ADA's rule
        from its r_t (`d_real_sign`).
        """
        t, gb = self.config.train, self.global_batch
        out: list[dict[str, float]] = []
        step, end = first_step, first_step + count
        while step < end:
            variant = self._variant(step)
            run = 1
            while step + run < end and self._variant(step + run) == variant:
                run += 1
            key = (source, *variant)
            if key not in self._blocks:
                self._blocks[key] = self._make_block(source, *variant)
            # Padded to CallSize.MAX so that every K up to it shares one trace. The EMA moves
            # once per generator update, i.e. every n_critic steps: each move covers the
            # n_critic batches D saw since the last, so the half-life counts the run's images.
            betas = [ema_beta(s * gb, gb * t.n_critic, t.ema_half_life, t.ema_rampup)
                     for s in range(step, step + run)] + [0.0] * (CallSize.MAX - run)
            n, table = self._blocks[key](args, tf.constant(step - first_step),
                                         tf.constant(step, tf.int64), tf.constant(run, tf.int32),
                                         tf.constant(betas, tf.float32))
            for j, row in enumerate(table.numpy()[:int(n)]):
                out.append(self._host_values(dict(zip(STEP_KEYS, map(float, row), strict=True)),
                                             step + j))
            if int(n) < run:  # a step was not finite: the loop left after it
                break
            step += run
        return out

    def train_step(self, dist_batch, step: int) -> dict[str, float]:
        """One step on the given batch (tensor or distributed values): host floats."""
        return self.train_steps(GIVEN, dist_batch, step, 1)[0]

    def _variant(self, step: int) -> tuple[bool, bool]:
        t = self.config.train
        return (step + 1) % t.n_critic == 0, t.r1_gamma > 0 and step % t.r1_every == 0

    def _host_values(self, out: dict[str, float], step: int) -> dict[str, float]:
        """The values a step reports: only those it has, g_loss as the latest generator's."""
        do_g, do_r1 = self._variant(step)
        if not do_r1:
            del out["r1"]
        if self.config.train.loss != "wgan-gp":
            del out["gp"]
        if not self.policy:
            del out["augment_p"]
        if do_g:
            self._last_g_loss = out["g_loss"]
        elif self._last_g_loss is None:  # no generator step yet: no g_loss to report
            del out["g_loss"]
        else:  # critic-only step: report the generator's latest loss, not a placeholder
            out["g_loss"] = self._last_g_loss
        return out

    # --- sampling and state ----------------------------------------------------------------
    def sample(self, z: np.ndarray) -> np.ndarray:
        """(N, latent) -> (N, 64, 64, 3) uint8."""
        return to_uint8(self._sample(tf.constant(z, tf.float32)).numpy(), self.config.value_range)

    def get_state(self) -> dict[str, list[np.ndarray]]:
        """Every array needed to continue: weights, optimizer slots, EMA copy, augment p."""
        state = {
            "g": [np.asarray(w) for w in self.generator.get_weights()],
            "d": [np.asarray(w) for w in self.discriminator.get_weights()],
            "g_opt": [np.asarray(v.numpy()) for v in self.g_opt.variables],
            "d_opt": [np.asarray(v.numpy()) for v in self.d_opt.variables],
        }
        if self.ema is not None:
            state["ema"] = [np.asarray(w) for w in self.ema.model.get_weights()]
        if self.policy:
            state["aug"] = [np.array([self.augment_p], np.float64)]
        return state

    def set_state(self, state: dict[str, list[np.ndarray]]) -> None:
        self.generator.set_weights(state["g"])
        self.discriminator.set_weights(state["d"])
        if self.ema is not None:
            self.ema.model.set_weights(state.get("ema") or state["g"])
        if self.policy and state.get("aug"):
            self._p.assign(float(state["aug"][0][0]))
        for opt, key in ((self.g_opt, "g_opt"), (self.d_opt, "d_opt")):
            if len(opt.variables) != len(state[key]):
                raise ValueError(f"{key}: checkpoint has {len(state[key])} variables, "
                                 f"the optimizer {len(opt.variables)}")
            for var, value in zip(opt.variables, state[key], strict=True):
                var.assign(value)

    def iterations(self) -> tuple[int, int]:
        return int(self.g_opt.iterations.numpy()), int(self.d_opt.iterations.numpy())


class _Given:
    """Batch source: the call's argument is the batch every step uses."""

    def step_input(self, args, i):
        return args

    def replica_batch(self, batch):
        return batch


class _Streamed:
    """Batch source: the call's argument is an iterator; each step takes its next batch."""

    def step_input(self, args, i):
        return next(args)

    def replica_batch(self, batch):
        return batch


GIVEN, STREAMED = _Given(), _Streamed()


class CallSize:
    """K, the steps per compiled call: `fixed` when set, else from the measured step time.

    Automatic K makes one call last about TARGET_S (so a stop request, the status and the
    logs stay within a fraction of a second) and at most MAX steps: 1 where a step takes
    longer than TARGET_S (CPUs, big networks), dozens where steps take milliseconds (GPUs).
    The first call of each run traces the loop and is not measured.
    """

    TARGET_S = 0.25
    MAX = 64

    def __init__(self, fixed: int = 0):
        self.fixed = fixed
        self.k = fixed or 1
        self.calls = 0

    def observe(self, steps: int, seconds: float) -> None:
        self.calls += 1
        if self.fixed or self.calls < 2 or steps < 1 or seconds <= 0:
            return
        self.k = int(min(self.MAX, max(1, self.TARGET_S * steps / seconds)))
