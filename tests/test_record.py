"""dcgan.train.record.RunRecorder: status, metrics and TensorBoard, written by the chief."""

from __future__ import annotations

import pytest

from dcgan.runs.folder import read_metrics, read_status
from dcgan.train.progress import StepMeter


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "status.json").write_text('{"state": "queued"}')
    return tmp_path


def test_the_chief_writes_status_metrics_and_history(run_dir):
    from dcgan.train.record import RunRecorder

    recorder = RunRecorder(run_dir, is_chief=True, resume_step=0)
    meter = StepMeter(batch_size=8, steps_per_epoch=3, epochs=2, log_every=1, step=4)
    recorder.status(meter, state="running")
    status = read_status(run_dir)
    assert (status["state"], status["step"], status["epochs"]) == ("running", 4, 2)
    recorder.log({"kind": "step", "epoch": 1, "step": 4, "d_loss": 0.5})
    recorder.log({"kind": "eval", "epoch": 1, "step": 3, "swd": 9.0})
    recorder.log({"kind": "eval", "epoch": 2, "step": 6, "swd": 7.0})
    assert [r["kind"] for r in read_metrics(run_dir)] == ["step", "eval", "eval"]
    assert [r["kind"] for r in recorder.history] == ["eval", "eval"]
    assert recorder.best_epoch() == 2
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_a_resume_drops_records_past_its_checkpoint(run_dir):
    from dcgan.train.record import RunRecorder

    first = RunRecorder(run_dir, is_chief=True, resume_step=0)
    for step in (1, 2, 3):
        first.log({"kind": "step", "epoch": 0, "step": step, "d_loss": 1.0})
    first.log({"kind": "epoch", "epoch": 1, "step": 3, "d_loss": 1.0})
    again = RunRecorder(run_dir, is_chief=True, resume_step=2)
    assert [r["step"] for r in read_metrics(run_dir)] == [1, 2]
    assert again.history == [] and again.best_epoch() is None


def test_other_workers_write_nothing(run_dir):
    from dcgan.train.record import RunRecorder

    recorder = RunRecorder(run_dir, is_chief=False, resume_step=0)
    meter = StepMeter(batch_size=8, steps_per_epoch=3, epochs=2, log_every=1)
    recorder.status(meter, state="running")
    recorder.log({"kind": "epoch", "epoch": 1, "step": 3})
    assert read_status(run_dir)["state"] == "queued" and read_metrics(run_dir) == []
    assert not (run_dir / "tensorboard").exists()
