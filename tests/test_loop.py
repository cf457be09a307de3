"""dcgan.train.loop.run_training: run folders, exact resume, divergence, failures."""

from __future__ import annotations

import json
from collections import namedtuple

import numpy as np
import pytest
from PIL import Image

from dcgan.errors import DcganError
from dcgan.runs.folder import create_run, read_metrics, read_status
from dcgan.train import checkpoints, samples
from dcgan.train.checkpoints import list_checkpoints, load_latest
from dcgan.train.loop import run_training
from dcgan.train.samples import grid_kept
from tests.conftest import tiny_config


def final_state(run_dir):
    state, meta, _ = load_latest(run_dir)
    return state, meta


def test_a_run_fills_its_folder(ws, tiny_dataset):
    config = tiny_config("ml241", epochs=2)
    run = create_run(ws, config)
    seen = []
    assert run_training(config, run, progress_fn=seen.append) == "done"
    status = read_status(run)
    assert (status["state"], status["epoch"], status["step"]) == ("done", 2, 6)
    assert "CPU" in status["device"] and status["error"] is None
    assert status["train_images"] == 32  # ml241 augments nothing: 32 images are few
    assert [w["code"] for w in status["warnings"]] == ["small_data"]
    records = read_metrics(run)
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "images_per_s", "g_lr"} <= set(steps[0])
    assert all(r["images_per_s"] > 0 for r in steps)
    for epoch in (1, 2):
        with Image.open(run / "samples" / f"epoch_{epoch:04d}.png") as grid:
            assert grid.size == (8 * 66 + 2, 8 * 66 + 2)
    assert len(list_checkpoints(run)) == 2
    assert (run / "generator.keras").is_file() and (run / "fixed_noise.npy").is_file()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert seen[-1]["epoch"] == 1 and seen[-1]["batch"] == 3 and len(seen) == 6


RECIPE = dict(ema_half_life=64, augment="adaptive", ada_images=200, d_norm="spectral",
              loss="hinge", r1_gamma=1.0, r1_every=2)


# The straight run holds its images in memory and sizes its calls itself (K grows from 1);
# the stopped-and-resumed one streams them (paper) or holds them (recipe) with a fixed K: the
# weights must agree, so batches and steps depend neither on K nor on where images come from.
@pytest.mark.parametrize("recipe, k, calls_before_stop, resident", [
    ({}, 1, 5, "off"), (RECIPE, 2, 3, "on")], ids=["paper-k1-streamed", "recipe-k2-resident"])
def test_stop_mid_epoch_then_resume_matches_a_straight_run(ws, tiny_dataset, recipe, k,
                                                           calls_before_stop, resident):
    config = tiny_config("dcgan", epochs=4, deterministic=True, label_noise=0.05, **recipe)
    straight = create_run(ws, config)
    assert run_training(config, straight) == "done"
    assert read_status(straight)["input"].startswith("in memory")

    config = config.with_overrides(steps_per_call=k, resident_data=resident)
    resumed = create_run(ws, config)
    calls = {"n": 0}

    def abort_after_five_steps():  # asked once per call: K = 2 runs steps 0-1, 2, 3-4
        calls["n"] += 1
        return calls["n"] > calls_before_stop  # stop before the 6th step: epoch 2, batch 2

    assert run_training(config, resumed, abort_fn=abort_after_five_steps) == "stopped"
    status = read_status(resumed)
    assert (status["state"], status["step"], status["steps_per_call"]) == ("stopped", 5, k)
    assert status["input"] == ("streamed from disk" if resident == "off" else
                               "in memory (0.4 MB)")
    assert run_training(config, resumed) == "done"
    assert read_status(resumed)["resumed_from"].startswith("ckpt-00001-000000005")

    a, meta_a = final_state(straight)
    b, meta_b = final_state(resumed)
    assert meta_a["step"] == meta_b["step"] == 12 and meta_a["epoch"] == meta_b["epoch"] == 4
    assert int(a["g_opt"][0]) == int(b["g_opt"][0]) == 12  # optimizer iterations
    groups = ("g", "d", "g_opt", "d_opt") + (("ema", "aug") if recipe else ())
    assert set(a) == set(b) and set(groups) <= set(a)
    for group in groups:
        for x, y in zip(a[group], b[group], strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=group)
    if recipe:  # p moved from 0 by ADA's rule and was restored, not restarted
        assert a["aug"][0][0] > 0 and not np.array_equal(a["ema"][0], a["g"][0])
        steps = [r for r in read_metrics(resumed) if r["kind"] == "step"]
        assert steps[5]["augment_p"] == pytest.approx(
            [r for r in read_metrics(straight) if r["kind"] == "step"][5]["augment_p"])
        assert {"augment_p", "d_real_sign"} <= set(steps[0]) and "r1" in steps[0]
    assert np.array_equal(np.load(straight / "fixed_noise.npy"),
                          np.load(resumed / "fixed_noise.npy"))
    steps = [r["step"] for r in read_metrics(resumed) if r["kind"] == "step"]
    assert steps == list(range(1, 13))
    # the epoch stopped mid-way reports the mean of all its steps (sums in the checkpoint)
    means = [{r["epoch"]: r["d_loss"] for r in read_metrics(run) if r["kind"] == "epoch"}
             for run in (straight, resumed)]
    assert sorted(means[1]) == [1, 2, 3, 4]
    for epoch, d_loss in means[0].items():
        assert means[1][epoch] == pytest.approx(d_loss, rel=1e-4), epoch


def test_nan_inside_a_call_stops_at_its_step_and_saves_nothing(ws, tiny_dataset, monkeypatch):
    """A NaN made on the device at step 4, the middle of the call running steps 3-5."""
    import tensorflow as tf

    from dcgan.train.step import GanTrainer

    replica_step, train_steps = GanTrainer._replica_step, GanTrainer.train_steps
    returned = []

    def poisoned(self, real, step, aug_p, do_g, do_r1):
        out = replica_step(self, real, step, aug_p, do_g, do_r1)
        return {**out, "d_loss": out["d_loss"] + tf.where(step == 4, np.nan, 0.0)}

    def counted(self, source, args, first_step, count):
        values = train_steps(self, source, args, first_step, count)
        returned.append((first_step, count, len(values)))
        return values

    monkeypatch.setattr(GanTrainer, "_replica_step", poisoned)
    monkeypatch.setattr(GanTrainer, "train_steps", counted)
    config = tiny_config("dcgan", epochs=3, steps_per_call=3)
    run = create_run(ws, config)
    assert run_training(config, run) == "diverged"
    assert returned == [(0, 3, 3), (3, 3, 2)]  # the loop left after step 4, not after 5
    status = read_status(run)
    assert status["state"] == "diverged" and status["step"] == 4
    assert "epoch 2, step 5" in status["error"] and "d_loss" in status["error"]
    assert "lower both learning rates" in status["error"]
    assert [p.name[:10] for p in list_checkpoints(run)] == ["ckpt-00001"]
    assert [r["step"] for r in read_metrics(run) if r["kind"] == "step"] == [1, 2, 3, 4]


def test_a_stop_whose_checkpoint_is_not_finite_says_diverged(ws, tiny_dataset, monkeypatch):
    from dcgan.train.step import GanTrainer

    get_state = GanTrainer.get_state

    def poisoned(self):
        state = get_state(self)
        state["g"][0] = np.full_like(state["g"][0], np.nan)
        return state

    monkeypatch.setattr(GanTrainer, "get_state", poisoned)
    config = tiny_config("dcgan", epochs=2, steps_per_call=1)
    run = create_run(ws, config)
    asked = iter([False, True])  # one step, then Stop
    assert run_training(config, run, abort_fn=lambda: next(asked)) == "diverged"
    status = read_status(run)
    assert status["state"] == "diverged" and status["step"] == 1
    assert "weights not finite" in status["error"] and not list_checkpoints(run)


def test_missing_dataset_and_full_disk_fail_with_a_message(ws, tiny_dataset, monkeypatch):
    config = tiny_config("dcgan").with_overrides(dataset="absent")
    run = create_run(ws, config)
    with pytest.raises(DcganError, match="not prepared"):
        run_training(config, run)
    assert read_status(run)["state"] == "failed"

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(checkpoints.shutil, "disk_usage", lambda _: usage(10, 9, 1000))
    config = tiny_config("dcgan")
    run = create_run(ws, config)
    with pytest.raises(DcganError, match="disk full"):
        run_training(config, run)
    status = read_status(run)
    assert status["state"] == "failed" and "ENOSPC" in status["error"]
    assert "Traceback" in (run / "train.log").read_text()


def test_out_of_memory_advises_a_smaller_batch(ws, tiny_dataset, monkeypatch):
    import tensorflow as tf

    from dcgan.train.step import GanTrainer

    def oom(self, source, args, first_step, count):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    monkeypatch.setattr(GanTrainer, "train_steps", oom)
    config = tiny_config("dcgan")
    run = create_run(ws, config)
    with pytest.raises(DcganError, match="out of memory at batch size 8: reduce the batch"):
        run_training(config, run)
    assert "reduce the batch size" in json.loads((run / "status.json").read_text())["error"]


def test_quality_is_evaluated_every_k_epochs_and_at_the_end(ws, tiny_dataset):
    config = tiny_config("dcgan", epochs=3, eval_every=2, eval_images=12)
    run = create_run(ws, config)
    assert run_training(config, run) == "done"
    evals = [r for r in read_metrics(run) if r["kind"] == "eval"]
    assert [r["epoch"] for r in evals] == [2, 3]
    assert [r["step"] for r in evals] == [6, 9]
    for record in evals:
        assert record["swd"] > 0 and record["swd_floor"] > 0
        assert 0 <= record["ms_ssim"] <= 1 and 0 < record["ms_ssim_real"] < 1
        assert record["eval_images"] == 12 and record["held_out"] is False
    assert evals[0]["swd_floor"] == evals[1]["swd_floor"]  # computed once, kept on disk
    assert json.loads((run / "eval_baseline.json").read_text())["key"]["n"] == 12
    status = read_status(run)
    assert isinstance(status["warnings"], list) and status["evaluating"] is False


def test_the_checkpoint_of_the_best_swd_is_kept(ws, tiny_dataset):
    config = tiny_config("dcgan", epochs=5, eval_every=1, eval_images=12, keep_checkpoints=1)
    run = create_run(ws, config)
    assert run_training(config, run) == "done"
    evals = [r for r in read_metrics(run) if r["kind"] == "eval"]
    best = min(evals, key=lambda r: r["swd"])["epoch"]
    kept = [checkpoints.checkpoint_epoch(p) for p in list_checkpoints(run)]
    assert kept == sorted({best, 5})  # the newest one, and the best by SWD


def test_a_long_run_keeps_every_kth_grid_and_tensorboard_image(ws, tiny_dataset, monkeypatch):
    import functools

    import tensorflow as tf

    monkeypatch.setattr(samples, "grid_kept",
                        functools.partial(grid_kept, first=2, later=2))
    config = tiny_config("ml241", epochs=7)
    run = create_run(ws, config)
    assert run_training(config, run) == "done"
    grids = sorted(p.name for p in (run / "samples").iterdir())
    assert grids == [f"epoch_{e:04d}.png" for e in (1, 2, 5, 7)]  # k = 3 after epoch 2
    images = [v.tag for f in (run / "tensorboard").glob("events.out.tfevents.*")
              for e in tf.compat.v1.train.summary_iterator(str(f))
              for v in e.summary.value if v.tag == "samples"]
    assert len(images) == 4


@pytest.mark.parametrize("resident", ["on", "off"])
def test_evaluation_off_and_held_out_rows_never_trained_on(ws, tiny_dataset, monkeypatch,
                                                           resident):
    config = tiny_config("dcgan", epochs=1, eval_every=0, resident_data=resident)
    run = create_run(ws, config)
    assert run_training(config, run) == "done"
    assert not [r for r in read_metrics(run) if r["kind"] == "eval"]
    assert not (run / "eval_baseline.json").exists()

    # 32 images, 3 evaluation images: 32 >= 10 x 3, so the reference rows are held out
    from dcgan.data import cache

    seen = []
    original = cache.CacheReader.read
    monkeypatch.setattr(cache.CacheReader, "read",
                        lambda self, rows: seen.extend(rows) or original(self, rows))
    config = tiny_config("dcgan", epochs=2, eval_every=1, eval_images=3, steps_per_epoch=0,
                         resident_data=resident)
    run = create_run(ws, config)
    assert run_training(config, run) == "done"
    from dcgan.quality.evaluator import eval_split

    split = eval_split(32, 3, config.train.seed)
    evals = [r for r in read_metrics(run) if r["kind"] == "eval"]
    assert split.held_out and all(r["held_out"] for r in evals)
    assert read_status(run)["steps_per_epoch"] == 29 // 8
    if resident == "on":  # reference, floor, then the 29 training rows once, into memory
        assert len(seen) == 3 + 3 + 29
    else:  # reference, floor, 2 epochs of 3 batches read from disk
        assert len(seen) >= 3 + 3 + 2 * 3 * 8
    # each reference row is read once, by the evaluator; training never draws it
    assert [seen.count(row) for row in split.reference] == [1, 1, 1]
    assert all(seen.count(row) >= 2 for row in split.floor)  # floor rows are trained on
