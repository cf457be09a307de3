"""dcgan.train.health: collapse, a discriminator that wins, and stalled SWD, from metric records."""

from __future__ import annotations

import json
from pathlib import Path

from dcgan.train import health


def evals(*swds, ms_ssim=0.2, real=0.2, floor=10.0):
    return [{"kind": "eval", "epoch": 5 * (i + 1), "swd": s, "swd_floor": floor,
             "ms_ssim": ms_ssim, "ms_ssim_real": real} for i, s in enumerate(swds)]


def epochs(n, d_real=0.99, d_fake=0.01):
    return [{"kind": "epoch", "epoch": i + 1, "d_real": d_real, "d_fake": d_fake}
            for i in range(n)]


def codes(records, loss="bce"):
    return [w["code"] for w in health.run_warnings(records, loss)]


def test_a_healthy_run_has_no_warnings():
    assert codes(evals(90, 60, 40, 30, 25, 22) + epochs(30, 0.7, 0.3)) == []
    assert codes([]) == []


def test_collapse_when_fakes_are_far_more_alike_than_real_pairs():
    found = health.run_warnings(evals(50, 45, ms_ssim=0.55, real=0.2), "bce")
    assert [w["code"] for w in found] == ["collapse"]
    assert "0.55 vs 0.20 at epoch 10" in found[0]["message"]
    assert "label smoothing" in found[0]["advice"]
    assert codes(evals(50, 45, ms_ssim=0.34, real=0.2)) == []  # within the margin
    # one evaluation is not enough: an untrained generator draws near-identical images too
    assert codes(evals(900, ms_ssim=0.99, real=0.2)) == []
    recovered = evals(90, ms_ssim=0.9) + evals(60, ms_ssim=0.25)
    assert codes(recovered) == []
    # still diversifying fast (0.71 -> 0.53, as a demo run at epochs 6-7): not yet a warning
    assert codes(evals(237, ms_ssim=0.71) + evals(215, ms_ssim=0.53)) == []
    assert codes(evals(215, ms_ssim=0.53) + evals(178, ms_ssim=0.54)) == ["collapse"]


def test_d_wins_needs_consecutive_epochs_and_bce():
    assert codes(epochs(health.D_WINS_EPOCHS)) == ["d_wins"]
    assert codes(epochs(health.D_WINS_EPOCHS - 1)) == []
    assert codes(epochs(health.D_WINS_EPOCHS) + epochs(1, 0.8, 0.3)) == ["d_wins"]  # a wobble
    recovered = epochs(health.D_WINS_EPOCHS) + epochs(3, 0.8, 0.3)
    assert codes(recovered) == []  # means over the last 5: D(G(z)) 0.18
    assert codes(epochs(10), loss="wgan-gp") == []  # critic outputs are not probabilities
    message = health.run_warnings(epochs(6), "bce")[0]["message"]
    assert "mean D(x) 0.99" in message and "D(G(z)) 0.010" in message
    # label smoothing 0.1 trains D(x) towards 0.9: a D that has won sits at 0.84-0.88
    assert codes(epochs(5, 0.84, 0.07)) == ["d_wins"]
    assert codes(epochs(5, 0.88, 0.12)) == []  # D(G(z)) not near 0
    assert codes(epochs(5, 0.75, 0.08)) == []  # a gap of 0.67: D ahead, not winning


def test_few_images_without_augmentation_is_said_from_the_start():
    found = health.run_warnings([], "hinge", "off", images=180)
    assert [w["code"] for w in found] == ["small_data"]
    assert found[0]["message"].startswith("180 training images and no augmentation")
    assert "studio preset" in found[0]["advice"]
    assert health.run_warnings([], "bce", "off", images=health.SMALL_DATA) == []
    assert health.run_warnings([], "bce", "fixed", images=180) == []
    assert health.run_warnings([], "bce", "off", images=None) == []  # unknown: say nothing


def test_stalled_swd_well_above_the_floor():
    assert codes(evals(80, 50, 49, 50, 51, 49.5)) == ["stalled"]
    assert codes(evals(80, 50, 49, 45, 51, 49.5)) == []  # 10% better within the window
    assert codes(evals(80, 50, 51, 52, 50)) == []  # too few evaluations to judge
    assert codes(evals(30, 18, 19, 18, 19, 18.5)) == []  # already near the floor (10)
    stalled = health.run_warnings(evals(80, 50, 49, 50, 51, 49.5), "bce")[0]
    assert "best 49.0 vs 50.0 before; real-vs-real floor 10.0" in stalled["message"]


def test_overfit_when_adaptive_p_stays_near_its_maximum():
    held = [{**r, "augment_p": 0.95} for r in epochs(health.D_WINS_EPOCHS, 0.6, 0.4)]
    found = health.run_warnings(held, "hinge", "adaptive")
    assert [w["code"] for w in found] == ["overfit"]
    # fixed p = 1 (the studio default) is not a sign of anything: no warning
    assert health.run_warnings(held, "hinge", "fixed") == []
    assert "p = 0.95 for 5 epochs" in found[0]["message"] and "add images" in found[0]["advice"]
    rising = [{**r, "augment_p": 0.5 + 0.1 * i} for i, r in enumerate(epochs(5, 0.6, 0.4))]
    assert health.run_warnings(rising, "hinge", "adaptive") == []  # p was below 0.9
    assert health.run_warnings(held[:-1], "hinge", "adaptive") == []


# --- recorded histories: docs/small_data_experiment.py, 180 images ---------------------------
FIXTURES = Path(__file__).parent / "data" / "small-data"


def replay(name: str):
    """(meta, warnings codes after epoch e) of a recorded run."""
    meta = json.loads((FIXTURES / f"{name}.meta.json").read_text())
    records = [json.loads(line) for line in (FIXTURES / f"{name}.jsonl").read_text().splitlines()]

    def after(epoch: int) -> list[str]:
        return [w["code"] for w in health.run_warnings(
            [r for r in records if r["epoch"] <= epoch], meta["loss"], meta["augment"],
            meta["train_images"])]

    return meta, after


def test_demo_on_180_photo_like_images_is_warned_about_from_start_to_end():
    meta, after = replay("demo-photo")
    assert (meta["preset"], meta["loss"], meta["augment"]) == ("demo", "bce", "off")
    assert after(0) == ["small_data"]  # said before the first epoch
    # D(x) 0.81-0.88 with D(G(z)) 0.02-0.10 (label smoothing 0.1): the old rule never fired
    assert all("d_wins" in after(e) for e in range(6, 151))
    assert "collapse" in after(10)  # MS-SSIM 0.91 vs real 0.23 at the first evaluations


def test_demo_on_180_synthetic_portraits_fails_the_same_way_and_is_warned_about():
    meta, after = replay("demo-synth")
    assert meta["dataset"] == "small-synth" and after(0) == ["small_data"]
    assert all("d_wins" in after(e) for e in range(6, 101))
    assert "collapse" in after(10)


def test_the_advice_studio_on_the_same_photos_raises_no_false_alarm_at_its_end():
    meta, after = replay("studio-photo")  # the advice taken: studio, 250 epochs
    assert (meta["preset"], meta["augment"]) == ("studio", "fixed")
    assert not any(code in after(e) for e in range(251) for code in ("small_data", "d_wins"))
    assert after(250) == []  # SWD 47 (floor 32), MS-SSIM 0.30 vs 0.22: nothing to warn about
    records = [json.loads(line) for line in
               (FIXTURES / "studio-photo.jsonl").read_text().splitlines()]
    demo = [json.loads(line) for line in
            (FIXTURES / "demo-photo.jsonl").read_text().splitlines()]
    best = {name: min(r["swd"] for r in rs if r["kind"] == "eval")
            for name, rs in (("studio", records), ("demo", demo))}
    assert best["studio"] < 0.7 * best["demo"]  # 47 vs 74: the advice helps
