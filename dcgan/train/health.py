"""Warnings about a run's health from its metric history: few images without augmentation,
collapse, a winning or overfitting D, stalled SWD.

Pure functions over metrics.jsonl records (no TensorFlow), used by the training loop (into
status.json) and by the Train page. Each warning is {"code", "message", "advice"}.
"""

from __future__ import annotations

# Mode collapse: generated pairs alike far beyond real pairs. Real portraits score ~0.1-0.3
# (MS-SSIM, 4 scales); a generator drawing a handful of faces scores 0.5 and more. An
# untrained generator also draws near-identical (grey) images, so the condition must hold at
# COLLAPSE_EVALS evaluations in a row, and not be falling fast (by COLLAPSE_RECOVERY or more
# since the previous evaluation: the generator is still diversifying), before it is called
# collapse.
COLLAPSE_MARGIN = 0.15
COLLAPSE_EVALS = 2
COLLAPSE_RECOVERY = 0.05
# The discriminator wins outright: with BCE, D(G(z)) near 0 and far below D(x), on average
# over this many epochs, means the generator's gradient has vanished (a mean, so that one
# epoch's wobble past a threshold neither raises nor clears it). Read as a gap, not as D(x)
# near 1: one-sided label smoothing s trains D(x) towards 1 - s, so the first rule (D(x) >
# 0.95) could never fire with the demo preset's 0.1. Measured on 180 photo-like images with
# `demo` (docs/DECISIONS.md "Warnings on small data"): D(x) 0.84-0.88 and D(G(z)) 0.02-0.08 for
# 150 epochs of garish look-alikes (epoch 1, before D won: D(x) 0.75, D(G(z)) 0.24).
D_WINS_EPOCHS = 5
D_WINS_FAKE, D_WINS_GAP = 0.1, 0.7
# Few images and no augmentation: D memorises a small training set within tens of epochs
# (ADA, Karras et al. 2020, Fig. 1: FID turns up early below ~10k images). Said from the start.
SMALL_DATA = 1000
# With augmentation D sees augmented images in both updates, so D(x) and D(G(z)) above are
# read on augmented images: a D that still separates them this cleanly has won all the more,
# and the thresholds stand. Hinge and WGAN scores are unbounded and their generator loss never
# saturates, so d_wins is for BCE only.
# Overfitting despite augmentation: adaptive p held at OVERFIT_P or more for D_WINS_EPOCHS
# epochs means r_t stayed above its target even with nearly every transform on every image.
OVERFIT_P = 0.9
# Stalled: the best SWD has not improved by STALL_GAIN over the last STALL_EVALS evaluations
# while still STALL_FLOOR_FACTOR x above the real-vs-real floor.
STALL_EVALS = 4
STALL_GAIN = 0.05
STALL_FLOOR_FACTOR = 2.0


def _warning(code: str, message: str, advice: str) -> dict:
    return {"code": code, "message": message, "advice": advice}


def collapse_warning(evals: list[dict]) -> dict | None:
    recent = evals[-COLLAPSE_EVALS:]
    if len(recent) < COLLAPSE_EVALS or not all(
            r["ms_ssim"] - r.get("ms_ssim_real", 1.0) > COLLAPSE_MARGIN for r in recent):
        return None
    last = recent[-1]
    if last["ms_ssim"] <= recent[-2]["ms_ssim"] - COLLAPSE_RECOVERY:
        return None
    return _warning(
        "collapse",
        f"possible mode collapse: generated portraits are much more alike than real ones "
        f"(MS-SSIM {last['ms_ssim']:.2f} vs {last['ms_ssim_real']:.2f} at epoch "
        f"{last['epoch']})",
        "raise label smoothing (0.1-0.2) or label noise, lower the generator's learning rate, "
        "or try the wgan-gp preset; resume from a checkpoint before the collapse")


def d_wins_warning(epochs: list[dict], loss: str) -> dict | None:
    if loss != "bce" or len(epochs) < D_WINS_EPOCHS:
        return None
    recent = epochs[-D_WINS_EPOCHS:]
    real = sum(r.get("d_real", 0.0) for r in recent) / len(recent)
    fake = sum(r.get("d_fake", 1.0) for r in recent) / len(recent)
    if not (fake < D_WINS_FAKE and real - fake > D_WINS_GAP):
        return None
    return _warning(
        "d_wins",
        f"the discriminator has won outright over the last {D_WINS_EPOCHS} epochs (mean D(x) "
        f"{real:.2f}, D(G(z)) {fake:.3f}): the generator gets almost no gradient",
        "on a few hundred images, switch to the studio preset (it augments what D sees); "
        "otherwise lower the discriminator's learning rate (e.g. a quarter of G's, as in "
        "ml241), add label noise 0.05, or switch to wgan-gp")


def small_data_warning(images: int | None, augment: str) -> dict | None:
    if images is None or images >= SMALL_DATA or augment != "off":
        return None
    return _warning(
        "small_data",
        f"{images:,} training images and no augmentation: the discriminator will memorise "
        "them, and the generator end up drawing a few garish look-alikes",
        "train with the studio preset, or set D augmentation to fixed or adaptive "
        "(translation and cutout of every image D sees), for a few hundred epochs (they are "
        "short on small data); keep the best checkpoint by SWD")


def overfit_warning(epochs: list[dict]) -> dict | None:
    recent = epochs[-D_WINS_EPOCHS:]
    if len(recent) < D_WINS_EPOCHS or not all(r.get("augment_p", 0.0) >= OVERFIT_P
                                              for r in recent):
        return None
    return _warning(
        "overfit",
        f"the discriminator tells training images from generated ones even with augmentation "
        f"at p = {recent[-1]['augment_p']:.2f} for {D_WINS_EPOCHS} epochs: it is memorising "
        "the training set",
        "add images, lower D filters or the D learning rate, or stop here and keep the best "
        "checkpoint by SWD")


def stalled_warning(evals: list[dict]) -> dict | None:
    if len(evals) <= STALL_EVALS:
        return None
    before = min(r["swd"] for r in evals[:-STALL_EVALS])
    recent = min(r["swd"] for r in evals[-STALL_EVALS:])
    floor = evals[-1].get("swd_floor")
    if recent < before * (1 - STALL_GAIN) or (floor and recent <= STALL_FLOOR_FACTOR * floor):
        return None
    return _warning(
        "stalled",
        f"SWD has not improved over the last {STALL_EVALS} evaluations (best {recent:.1f} vs "
        f"{before:.1f} before" + (f"; real-vs-real floor {floor:.1f})" if floor else ")"),
        "halve both learning rates and resume, try another preset, or stop here and keep the "
        "best checkpoint: more epochs of the same are unlikely to help")


def run_warnings(records: list[dict], loss: str, augment: str = "off",
                 images: int | None = None) -> list[dict]:
    """Current warnings from a run's metric records (any order of kinds, oldest first).

    `augment` is the run's augmentation mode: the overfit warning reads adaptive p, so it is
    for "adaptive" runs only (a fixed p = 1 says nothing about D). `images` is the number of
    training images (None: unknown, no small-data warning).
    """
    evals = [r for r in records if r.get("kind") == "eval" and "swd" in r]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    found = (small_data_warning(images, augment), collapse_warning(evals),
             d_wins_warning(epochs, loss),
             overfit_warning(epochs) if augment == "adaptive" else None,
             stalled_warning(evals))
    return [w for w in found if w is not None]
