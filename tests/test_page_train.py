"""AppTest of the Train page: form validation, Start through the job API, the dashboard."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dcgan.runs.folder import create_run
from dcgan.runs.jobs import hold_job_lock
from dcgan.train.step import cpu_has_bf16

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "train.py")


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60).run()


def series(value) -> list[float]:
    """A trace's x or y as a list: Plotly sends numpy arrays as base64 typed arrays."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), value["dtype"]).tolist()
    return list(value)


def chart_specs(at: AppTest) -> dict[str, dict]:
    """Every Plotly chart of the page by its title."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def progress_text(at: AppTest) -> str:
    return " ".join(p.proto.text for p in at.get("progress"))


def runs_table(at: AppTest):
    """The All runs table (the checkpoints table has no "state" column)."""
    return next(t.value for t in at.table if "state" in t.value.columns)


def test_empty_workspace(ws):
    at = page()
    assert not at.exception
    assert "No prepared dataset" in texts(at.info) and "No run yet" in texts(at.info)
    assert at.button(key="train_start").disabled


def test_form_validation_names_the_field(ws, tiny_dataset):
    at = page()
    at.button(key="train_start").click().run()  # studio preset: batch 64 > 32 images
    assert not at.exception
    assert "batch_size: 64 is larger than the dataset (32 images)" in texts(at.error)
    at.number_input(key="train_studio_batch").set_value(8)
    at.number_input(key="train_studio_glr").set_value(0.0)
    at.button(key="train_start").click().run()
    assert "g_lr: 0.0 is out of range; allowed: 1e-07 to 1" in texts(at.error)


def test_preset_switch_resets_the_defaults(ws, tiny_dataset):
    at = page()
    assert at.selectbox(key="train_preset").value == "studio"  # the default
    assert at.number_input(key="train_studio_batch").value == 64
    assert at.selectbox(key="train_studio_aug").value == "fixed"
    assert at.number_input(key="train_studio_ema").value == 10_000
    at.selectbox(key="train_preset").set_value("ml241").run()
    assert at.selectbox(key="train_ml241_aug").value == "off"
    assert at.selectbox(key="train_ml241_dnorm").value == "none"
    assert at.number_input(key="train_ml241_dlr").value == pytest.approx(5e-5)
    assert at.number_input(key="train_ml241_epochs").value == 100


def test_start_calls_the_job_api_once_then_disables_itself(ws, tiny_dataset, monkeypatch):
    calls, locks = [], []

    configs = []

    def fake_start(workspace, config, run_name=None):
        calls.append((config.preset, config.train.batch_size, config.train.epochs, run_name))
        configs.append(config)
        run = create_run(workspace, config, run_name)
        lock = hold_job_lock(run)  # the "job" is alive while the test holds its lock
        lock.__enter__()
        locks.append(lock)
        return run

    monkeypatch.setattr("dcgan.runs.jobs.start_job", fake_start)
    at = page()
    at.number_input(key="train_studio_batch").set_value(8)
    at.number_input(key="train_studio_epochs").set_value(3)
    at.selectbox(key="train_studio_aug").set_value("adaptive")
    at.number_input(key="train_studio_adat").set_value(0.5)
    at.number_input(key="train_studio_r1").set_value(2.0)
    at.number_input(key="train_studio_mbstd").set_value(2)
    at.selectbox(key="train_studio_loss").set_value("bce")
    at.text_input(key="train_run_name").set_value("first")
    at.button(key="train_start").click().run()
    assert not at.exception
    assert calls == [("studio", 8, 3, "first")]
    config = configs[0]
    assert (config.data.augment, config.data.ada_target, config.train.r1_gamma) == \
        ("adaptive", 0.5, 2.0)
    assert config.model.d_mbstd == 2
    assert (config.train.loss, config.model.d_norm, config.train.ema_half_life) == \
        ("bce", "spectral", 10_000)
    assert at.button(key="train_start").disabled  # one job at a time
    assert at.selectbox(key="train_selected").value == "00001-first"
    assert not at.button(key="train_stop").disabled
    for lock in locks:
        lock.__exit__(None, None, None)


def test_dashboard_shows_the_runs_numbers(ws, finished_run):
    at = page()
    assert not at.exception
    assert "done · epoch 2/2 · step 6" in progress_text(at)
    # losses, D outputs, epoch means, and SWD + MS-SSIM from the evaluation at the last epoch
    assert len(at.get("plotly_chart")) == 5
    assert "Quality at epoch 2: SWD " in texts(at.caption)
    assert len(at.get("image")) == 1  # the latest sample grid
    assert at.slider(key="train_epoch_slider").value == 2
    checkpoints = next(t.value for t in at.table if "MB" in t.value.columns)
    assert list(checkpoints.index) == ["ckpt-00002-000000006.npz", "ckpt-00001-000000003.npz"]
    assert list(checkpoints["epoch"]) == [2, 1] and list(checkpoints["step"]) == [6, 3]
    assert float(checkpoints["SWD"].iloc[0]) > 0 and float(checkpoints["MB"].iloc[0]) > 0
    assert checkpoints["SWD"].iloc[1] == "—"  # evaluated at epoch 2 only
    size = sum(p.stat().st_size for p in finished_run.rglob("*") if p.is_file())
    assert f"This run uses {size / 1e6:,.1f} MB on disk" in texts(at.caption)
    assert at.button(key="train_stop").disabled and at.button(key="train_resume").disabled
    device = next(str(c.value) for c in at.caption if str(c.value).startswith("Device: CPU"))
    assert "XLA off · images in memory (0.4 MB) · " in device  # the precision before it
    assert ("mixed precision" in device) == cpu_has_bf16()
    assert "per compiled call (chosen from the step time)" in device
    table = runs_table(at)
    assert list(table.index) == [finished_run.name] and list(table["epoch"]) == ["2/2"]
    assert list(table["state"]) == ["done"]
    at.button(key="train_gif").click().run()
    assert not at.exception
    assert at.get("download_button")


def test_crashed_run_offers_resume(ws, finished_run):
    from dcgan.runs.folder import update_status

    update_status(finished_run, state="running", queued_at=0)
    at = page()
    assert "crashed" in progress_text(at)
    assert "Resume continues from its last checkpoint" in texts(at.warning)
    assert not at.button(key="train_resume").disabled


def test_epoch_time_from_the_start_up_measurement(ws, tiny_dataset):
    (ws.root / "speed.json").write_text(json.dumps(
        {"device": "CPU (2 cores); 1 replica(s)", "seconds_per_step": 1.5,
         "images_per_s": 85.3, "gpus": 0}))
    at = page()
    assert not at.exception
    # 32 images // batch 64 = 0 steps for tiny; the caption still names the device and minutes
    assert "with the studio preset's defaults an epoch of tiny takes about" in texts(at.caption)


def test_quality_charts_and_warnings_from_the_metrics(ws, finished_run):
    from dcgan.runs.folder import read_metrics

    records = [r for r in read_metrics(finished_run) if r["kind"] != "eval"]
    for i, r in enumerate(r for r in records if r["kind"] == "step"):
        r.update(augment_p=0.01 * i, d_real_sign=0.5)
    for epoch, swd in ((2, 90.0), (4, 60.0)):
        records.append({"kind": "eval", "epoch": epoch, "step": 3 * epoch, "swd": swd,
                        "swd_floor": 12.5, "color_dist": 9.0 - epoch, "color_dist_floor": 1.5,
                        "ms_ssim": 0.71, "ms_ssim_real": 0.2})
    (finished_run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    at = page()
    assert not at.exception
    assert "possible mode collapse" in texts(at.warning)
    assert "32 training images and no augmentation" in texts(at.warning)  # status.json's count
    assert "Advice: raise label smoothing" in texts(at.warning)
    assert "Quality at epoch 4: SWD 60.0 (floor 12.5), colour 5.0 (floor 1.5), MS-SSIM 0.710 " \
        "(real 0.200)" in texts(at.caption)
    charts = chart_specs(at)
    swd = charts["Quality: SWD x1e3 and colour distance (lower is better)"]["data"]
    assert swd[0]["y"] == [90.0, 60.0] and swd[1]["y"] == [12.5, 12.5]
    assert swd[1]["name"] == "real vs real floor"
    assert swd[2]["y"] == [7.0, 5.0] and swd[3]["y"] == [1.5, 1.5]
    aug = charts["Augmentation p and r_t = E[sign D(x)]"]["data"]
    assert [t["name"] for t in aug if t.get("showlegend", True)] == ["augment_p",
                                                                         "d_real_sign"]
    assert series(aug[0]["y"]) == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04, 0.05])
    ssim = charts["Diversity: MS-SSIM (higher = more alike)"]["data"]
    assert ssim[0]["y"] == [0.71, 0.71] and ssim[1]["y"] == [0.2, 0.2]


def test_a_long_history_is_drawn_from_at_most_600_points_smoothed_over_all(ws, finished_run):
    lines = [json.dumps({"kind": "step", "epoch": 0, "step": i, "d_loss": float(i % 7),
                         "g_loss": 1.0, "d_real": 0.5, "d_fake": 0.5}) for i in range(1, 5001)]
    (finished_run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    at = page()
    assert not at.exception
    raw, smooth = chart_specs(at)["Losses per step"]["data"][:2]
    xs = series(raw["x"])
    assert len(xs) == 600 and (xs[0], xs[-1]) == (1, 5000)  # the ends are always drawn
    ema = 0.0
    for i in range(1, 5001):
        ema = float(i % 7) if i == 1 else 0.9 * ema + 0.1 * (i % 7)
    assert series(smooth["y"])[-1] == pytest.approx(ema)  # smoothed over all 5,000
    assert series(raw["y"]) == [float(x % 7) for x in xs]  # raw points are the logged ones


def test_second_click_on_start_leaves_start_disabled(ws, tiny_dataset, monkeypatch):
    """A double click: the page drew Start enabled, and by the time the second click's code
    runs, the first click's job holds the lock (a real start_job then refuses)."""
    from contextlib import ExitStack

    from dcgan.runs import jobs
    from tests.conftest import tiny_config

    real_start, held = jobs.start_job, ExitStack()

    def first_job_just_started(workspace, config, run_name=None):
        first = create_run(workspace, tiny_config(), "first-click")
        held.enter_context(hold_job_lock(first))
        return real_start(workspace, config, run_name)

    monkeypatch.setattr("dcgan.runs.jobs.start_job", first_job_just_started)
    at = page()
    at.number_input(key="train_studio_batch").set_value(8).run()
    assert not at.button(key="train_start").disabled
    with held:
        at.button(key="train_start").click().run()
        assert not at.exception
        assert "run 00001-first-click is training: stop it first" in texts(at.warning)
        assert at.button(key="train_start").disabled  # read after the refusal
        assert at.selectbox(key="train_selected").value == "00001-first-click"
        assert len(list(ws.runs_dir.glob("0*"))) == 1


def test_stop_then_resume_while_the_job_is_still_exiting(ws, finished_run):
    from dcgan.runs.folder import update_status

    update_status(finished_run, state="stopped")
    with hold_job_lock(finished_run):  # the job wrote "stopped" and has not exited yet
        at = page()
        assert not at.exception
        assert "stopping · epoch 2/2" in progress_text(at)
        assert at.button(key="train_resume").disabled and at.button(key="train_stop").disabled
        assert "Resume is enabled once it has" in texts(at.info)
        assert list(runs_table(at)["state"]) == ["stopping"]
    at.run()  # the job has let go of the lock
    assert "stopped · epoch 2/2" in progress_text(at)
    assert not at.button(key="train_resume").disabled
    assert list(runs_table(at)["state"]) == ["stopped"]


def test_download_the_generator_of_a_checkpoint(ws, finished_run):
    import keras

    at = page()
    at.selectbox(key="train_ckpt_choice").set_value("ckpt-00001-000000003.npz").run()
    at.button(key="train_ckpt_prepare").click().run()
    assert not at.exception
    button = next(b for b in at.get("download_button") if b.label == "Download generator")
    assert button.proto.label == "Download generator"
    data = at.session_state["train_ckpt_file"][2]
    path = ws.root / "downloaded.keras"
    path.write_bytes(data)
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    assert model.output_shape == (None, 64, 64, 3) and model.input_shape == (None, 16)
