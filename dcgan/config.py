"""Typed training configuration: data, model and optimisation settings, presets, validation.

Field names are unique across the three groups, so each maps to one CLI flag
(`latent_dim` -> `--latent-dim`) and one form field in the app. A run folder's config.json
holds the whole Config; `Config.from_json(path.read_text())` rebuilds it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from dcgan.errors import DcganError


class ConfigError(DcganError):
    """A setting is out of range; the message names the field and what is allowed."""


@dataclass
class DataConfig:
    dataset: str = "synthetic-portraits"
    flip: bool = True  # horizontal flip augmentation
    rotation_deg: float = 0.0  # max random rotation, reflect-padded; 0 = off
    # Differentiable augmentation of every image D sees, real and fake (dcgan.train.augment):
    augment: str = "off"  # "off" | "fixed" (probability augment_p) | "adaptive" (ADA's p)
    augment_policy: str = "translation,cutout"  # comma-separated; also "color"
    augment_p: float = 1.0  # per-transform probability in "fixed" mode
    ada_target: float = 0.6  # adaptive: target of E[sign(D(real))]; higher = less aug
    ada_images: int = 100_000  # adaptive: images over which p can move by 1
    # Training images held in memory and gathered inside the step ("auto": when they fit, see
    # dcgan.train.pipeline.resident_fits) or streamed from disk with pread ("off"); same batches.
    resident_data: str = "auto"  # "auto" | "on" | "off"


@dataclass
class ModelConfig:
    arch: str = "dcgan"  # "ml241": Dense + ConvTranspose / Conv + MaxPool; "dcgan": Radford
    latent_dim: int = 100
    g_depth: int = 4  # upsampling stages: the generator starts at 64 / 2**g_depth pixels
    g_filters: int = 64  # filters of the last hidden stage; doubled per stage towards z
    d_filters: int = 64  # filters of the first discriminator stage; doubled per stage
    g_norm: str = "batch"  # "batch" | "none"
    d_norm: str = "batch"  # "batch" | "layer" | "spectral" | "none" (WGAN-GP: not batch)
    output: str = "tanh"  # "tanh" -> data in [-1, 1]; "sigmoid" -> data in [0, 1]
    d_mbstd: int = 0  # minibatch-stddev group size before D's last layer; 0 = off
    # what reads the stddev channel: "conv" (ProGAN's 3x3 conv + LeakyReLU, so D can relate
    # variety to content), "conv1x1" (the same at each position alone, a ninth of the work)
    # or "linear" (straight into the logit, as runs before 2026-12)
    d_mbstd_head: str = "conv"


@dataclass
class TrainConfig:
    loss: str = "bce"  # "bce" | "wgan-gp" | "hinge"
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    g_beta1: float = 0.5
    g_beta2: float = 0.999
    d_beta1: float = 0.5
    d_beta2: float = 0.999
    batch_size: int = 64  # global batch, split over replicas
    epochs: int = 25
    steps_per_epoch: int = 0  # 0 = the whole dataset; >0 caps an epoch (smoke runs)
    label_smoothing: float = 0.0  # real targets become 1 - label_smoothing (one-sided)
    label_noise: float = 0.0  # targets jittered by U(0, label_noise) toward the other class
    g_steps: int = 1  # generator steps per discriminator step
    n_critic: int = 1  # discriminator steps per generator step (WGAN-GP: 5)
    gp_weight: float = 10.0  # gradient penalty weight (wgan-gp only)
    r1_gamma: float = 0.0  # R1 penalty gamma/2 E||grad D(real)||^2 on real images; 0 = off
    r1_every: int = 16  # lazy R1: applied every k D steps, scaled by k
    ema_half_life: int = 0  # EMA generator half-life in images D sees; 0 = no EMA copy
    ema_rampup: float = 0.05  # half-life capped at this x images seen (warm-up); 0 = none
    checkpoint_every: int = 10  # epochs
    keep_checkpoints: int = 3  # the newest kept; also kept: the best SWD and keep_every
    keep_every: int = 0  # also keep every k-th epoch's checkpoint; 0 = none
    log_every: int = 10  # steps between metric lines
    eval_every: int = 5  # epochs between SWD / MS-SSIM evaluations (and the last); 0 = off
    eval_images: int = 512  # generated and real images per evaluation (see dcgan.quality.metrics)
    seed: int = 0
    strategy: str = "auto"  # "auto" | "one" | "mirrored" | "multiworker"
    mixed_precision: str = "auto"  # "auto" (GPU: bf16/fp16; CPU: bf16 where it has bf16
    #                                 instructions, else off) | "off" | "bf16" | "fp16"
    steps_per_call: int = 0  # train steps per compiled call; 0 = auto (dcgan.train.step.CallSize)
    jit_compile: str = "auto"  # "auto" (on for GPU) | "on" | "off"
    deterministic: bool = False  # TF op determinism (tests and exact reproductions)


@dataclass
class Config:
    preset: str = "studio"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # --- access by flat field name -------------------------------------------------------
    def groups(self) -> tuple[DataConfig, ModelConfig, TrainConfig]:
        return (self.data, self.model, self.train)

    def get(self, name: str) -> Any:
        return getattr(self._owner(name), name)

    def _owner(self, name: str):
        for group in self.groups():
            if name in {f.name for f in fields(group)}:
                return group
        raise ConfigError(f"unknown setting {name!r}")

    def with_overrides(self, **values: Any) -> Config:
        """A copy with the given flat fields replaced (None values are ignored)."""
        new = Config.from_dict(self.to_dict())
        for name, value in values.items():
            if value is not None:
                owner = new._owner(name)
                kind = type(getattr(owner, name))
                setattr(owner, name, _coerce(name, value, kind))
        return new

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, raw: dict) -> Config:
        train, model = dict(raw.get("train", {})), dict(raw.get("model", {}))
        if model and "d_mbstd_head" not in model:
            # Written before the stddev channel had its own conv: a resumed run keeps the
            # discriminator its checkpoints were saved from.
            model["d_mbstd_head"] = "linear"
        if train and "eval_every" not in train:
            # Written before quality evaluation existed: holding rows out now would change
            # the data of a run being resumed, so such runs keep evaluation off.
            train["eval_every"] = 0
        try:
            return cls(preset=raw.get("preset", "custom"),
                       data=DataConfig(**raw.get("data", {})),
                       model=ModelConfig(**model),
                       train=TrainConfig(**train))
        except TypeError as exc:
            raise ConfigError(f"config has an unknown or missing field: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> Config:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON: {exc}") from None

    # --- checks --------------------------------------------------------------------------
    def validate(self, dataset_size: int | None = None) -> Config:
        """Raise ConfigError naming the first bad field and its allowed range."""
        m, t = self.model, self.train
        _choice("arch", m.arch, ARCHES)
        _choice("g_norm", m.g_norm, ("batch", "none"))
        _choice("d_norm", m.d_norm, ("batch", "layer", "spectral", "none"))
        _choice("augment", self.data.augment, ("off", "fixed", "adaptive"))
        _policy(self.data.augment_policy)
        _choice("output", m.output, ("tanh", "sigmoid"))
        _choice("loss", t.loss, ("bce", "wgan-gp", "hinge"))
        _choice("strategy", t.strategy, ("auto", "one", "mirrored", "multiworker"))
        _choice("mixed_precision", t.mixed_precision, ("auto", "off", "bf16", "fp16"))
        _choice("jit_compile", t.jit_compile, ("auto", "on", "off"))
        _choice("resident_data", self.data.resident_data, ("auto", "on", "off"))
        _range("steps_per_call", t.steps_per_call, 0, 1024)
        _range("latent_dim", m.latent_dim, 1, 4096)
        _range("g_depth", m.g_depth, 2, 6)
        _range("g_filters", m.g_filters, 1, 1024)
        _range("d_filters", m.d_filters, 1, 1024)
        _range("d_mbstd", m.d_mbstd, 0, 64)
        _choice("d_mbstd_head", m.d_mbstd_head, ("conv", "conv1x1", "linear"))
        _range("rotation_deg", self.data.rotation_deg, 0.0, 45.0)
        _range("augment_p", self.data.augment_p, 0.0, 1.0)
        _range("ada_target", self.data.ada_target, 0.0, 1.0)
        _range("ada_images", self.data.ada_images, 1, 100_000_000)
        _range("r1_gamma", t.r1_gamma, 0.0, 1000.0)
        _range("r1_every", t.r1_every, 1, 1000)
        _range("ema_half_life", t.ema_half_life, 0, 100_000_000)
        _range("ema_rampup", t.ema_rampup, 0.0, 10.0)
        for name in ("g_lr", "d_lr"):
            _range(name, getattr(t, name), 1e-7, 1.0)
        for name in ("g_beta1", "g_beta2", "d_beta1", "d_beta2"):
            _range(name, getattr(t, name), 0.0, 0.9999)
        _range("batch_size", t.batch_size, 1, 65536)
        _range("epochs", t.epochs, 1, 100_000)
        _range("steps_per_epoch", t.steps_per_epoch, 0, 10_000_000)
        _range("label_smoothing", t.label_smoothing, 0.0, 0.5)
        _range("label_noise", t.label_noise, 0.0, 0.5)
        _range("g_steps", t.g_steps, 1, 10)
        _range("n_critic", t.n_critic, 1, 10)
        _range("gp_weight", t.gp_weight, 0.0, 1000.0)
        _range("checkpoint_every", t.checkpoint_every, 1, 100_000)
        _range("keep_checkpoints", t.keep_checkpoints, 1, 1000)
        _range("keep_every", t.keep_every, 0, 100_000)
        _range("log_every", t.log_every, 1, 100_000)
        _range("eval_every", t.eval_every, 0, 100_000)
        _range("eval_images", t.eval_images, 2, 65_536)
        if m.d_norm == "batch" and t.loss == "wgan-gp":
            raise ConfigError("d_norm: 'batch' breaks the WGAN-GP gradient penalty; "
                              "use 'layer' or 'none'")
        if dataset_size is not None and t.batch_size > dataset_size:
            raise ConfigError(
                f"batch_size: {t.batch_size} is larger than the dataset "
                f"({dataset_size} images); allowed: 1 to {dataset_size}")
        return self

    @property
    def value_range(self) -> tuple[float, float]:
        """The pixel range the generator produces and the data is scaled to."""
        return (-1.0, 1.0) if self.model.output == "tanh" else (0.0, 1.0)


ARCHES = ("ml241", "dcgan")
# Differentiable augmentations D can see (dcgan.train.augment applies them).
TRANSFORMS = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """'color, cutout' -> ('color', 'cutout'), in TRANSFORMS order; unknown names refused."""
    names = {p.strip() for p in policy.split(",") if p.strip()}
    unknown = names - set(TRANSFORMS)
    if unknown:
        raise ValueError(f"unknown augmentation(s): {', '.join(sorted(unknown))}")
    return tuple(t for t in TRANSFORMS if t in names)


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(map(str, allowed))}")


def _policy(value: str) -> None:
    try:
        ok = bool(parse_policy(value))
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"augment_policy: {value!r} must list one or more of "
                          f"{', '.join(TRANSFORMS)} (comma-separated)")


def _range(name: str, value: float, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) \
            or not lo <= value <= hi:
        raise ConfigError(f"{name}: {value!r} is out of range; allowed: {lo:g} to {hi:g}")


def _coerce(name: str, value: Any, kind: type) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a valid {kind.__name__}") from None


def field_names() -> list[tuple[str, type, Any]]:
    """(name, type, default) of every flat setting, in declaration order."""
    out = []
    for group in (DataConfig, ModelConfig, TrainConfig):
        for f in fields(group):
            default = f.default if f.default is not dataclasses.MISSING else None
            out.append((f.name, type(default), default))
    return out


def _preset(name: str, data: dict, model: dict, train: dict) -> Config:
    return Config(preset=name, data=DataConfig(**data), model=ModelConfig(**model),
                  train=TrainConfig(**train))


PRESETS: dict[str, Config] = {
    # The ML241 seed: Dense -> 4x4x512, ConvTranspose + ReLU stages, sigmoid output; a
    # Conv + LeakyReLU + MaxPool discriminator; BCE with label smoothing and noise; the
    # generator learns 4x faster than the discriminator (0.0002 vs 0.00005).
    "ml241": _preset(
        "ml241",
        data={"flip": True, "rotation_deg": 10.0},
        model={"arch": "ml241", "latent_dim": 100, "g_depth": 4, "g_filters": 64,
               "d_filters": 64, "g_norm": "none", "d_norm": "none", "output": "sigmoid"},
        train={"loss": "bce", "g_lr": 2e-4, "d_lr": 5e-5, "g_beta1": 0.5, "d_beta1": 0.5,
               "label_smoothing": 0.1, "label_noise": 0.05, "epochs": 100,
               "checkpoint_every": 10},
    ),
    # Radford et al. 2015 as in the paper and pytorch/examples.
    "dcgan": _preset(
        "dcgan", data={"flip": True},
        model={"arch": "dcgan", "latent_dim": 100, "g_depth": 4, "g_filters": 64,
               "d_filters": 64, "g_norm": "batch", "d_norm": "batch", "output": "tanh"},
        train={"loss": "bce", "g_lr": 2e-4, "d_lr": 2e-4, "g_beta1": 0.5, "d_beta1": 0.5,
               "batch_size": 128, "epochs": 25},
    ),
}


def _variant(base: str, name: str, **changes: Any) -> Config:
    """A preset that differs from `base` only by `changes` (flat field names)."""
    config = PRESETS[base].with_overrides(**changes)
    config.preset = name
    return config


# Gulrajani et al. 2017 on the DCGAN networks: no batch norm in the critic.
PRESETS["wgan-gp"] = _variant(
    "dcgan", "wgan-gp", d_norm="layer", loss="wgan-gp", g_lr=1e-4, d_lr=1e-4, g_beta1=0.0,
    g_beta2=0.9, d_beta1=0.0, d_beta2=0.9, n_critic=5, gp_weight=10.0, batch_size=64)
# The first bundled demo's settings, kept as the baseline of the quality benchmark: the
# paper's architecture at a quarter of its width and a 64-d latent, about 3x more images per
# CPU minute; the synthetic portraits have few factors of variation, which this capacity
# covers. One-sided label smoothing 0.1 keeps the discriminator from saturating: without it,
# it won outright after ~10 epochs on the synthetic portraits and the generator collapsed.
# (Today's demo is trained with `studio` and two flags: assets/demo/README.md.)
PRESETS["demo"] = _variant(
    "dcgan", "demo", latent_dim=64, g_filters=32, d_filters=32, batch_size=64,
    checkpoint_every=1, keep_checkpoints=3, keep_every=25, label_smoothing=0.1)

# The project's recipe and the default (measured: BENCHMARKS.md "Time to quality" and "Real
# faces", docs/DECISIONS.md "The studio recipe" and "The recipe on real faces"): the demo's
# quarter-width networks with an EMA generator, a spectrally normalised discriminator with
# the hinge loss, and differentiable translation + cutout of everything D sees, always
# (DiffAugment's p = 1). Colour augmentation is left out: it tinted the synthetic samples,
# and on real faces it did not help at equal time. No label smoothing (the hinge margin does
# its work) and no rotation of the data (rotations leak into the output; flip stays). Since
# 2026-12 (chosen on CelebA face crops, checked on the synthetic portraits): minibatch
# stddev (groups of 4) read by a 1x1 conv + LeakyReLU before D's logit, and two time-scales,
# G 1e-4 / D 4e-4 with Adam betas (0, 0.99). ProGAN's 3x3 conv (d_mbstd_head="conv") cost 17%
# of the images/s and 15% of SWD on the synthetic portraits; the 1x1 costs ~5%, and on faces
# (two seeds) it matched the linear head's SWD with a lower colour distance.
PRESETS["studio"] = _variant(
    "demo", "studio", ema_half_life=10_000, d_norm="spectral", loss="hinge", augment="fixed",
    augment_p=1.0, label_smoothing=0.0, d_mbstd=4, d_mbstd_head="conv1x1", g_lr=1e-4, d_lr=4e-4,
    g_beta1=0.0, g_beta2=0.99, d_beta1=0.0, d_beta2=0.99, checkpoint_every=5,
    keep_checkpoints=3, keep_every=25, epochs=100)
DEFAULT_PRESET = "studio"  # the CLI's, the Train page's and the quality benchmark's default

PRESET_HELP = {
    "studio": "the project's recipe (default): EMA generator, spectral-norm D with minibatch "
              "stddev, hinge loss, DiffAugment, G 1e-4 / D 4e-4; quarter width, fast on a CPU",
    "ml241": "the original ML241 design: sigmoid output, max-pooling discriminator, "
             "label smoothing, G lr 4x D lr",
    "dcgan": "Radford et al. 2015: strided convolutions, batch norm, tanh, Adam 2e-4 / 0.5",
    "wgan-gp": "Wasserstein loss with gradient penalty, layer-norm critic, 5 critic steps",
    "demo": "the first demo's settings (the benchmark's baseline): dcgan at quarter width, "
            "latent 64, label smoothing 0.1; fast on a CPU",
}


def preset(name: str) -> Config:
    """A fresh copy of a named preset."""
    if name not in PRESETS:
        raise ConfigError(f"preset: {name!r} is not one of {', '.join(PRESETS)}")
    return Config.from_dict(PRESETS[name].to_dict())
