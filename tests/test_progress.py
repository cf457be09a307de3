"""dcgan.train.progress.StepMeter: counters, epoch means, images/s and ETA."""

from __future__ import annotations

import json

import pytest

from dcgan.train.progress import StepMeter


def meter(**kw) -> StepMeter:
    return StepMeter(**{"batch_size": 8, "steps_per_epoch": 3, "epochs": 2, "log_every": 2,
                        **kw})


def test_counts_steps_and_logs_every_k_and_at_the_epoch_end():
    m = meter()
    m.start_window(100.0)
    due = [m.count({"d_loss": 1.0}, 100.0 + i) for i in (1, 2, 3)]
    assert (m.step, m.batch_in_epoch, m.in_epoch) == (3, 3, False)
    assert due[0] is None  # step 1: neither the 2nd nor the epoch's last
    assert due[1]["images_per_s"] == pytest.approx(16 / 2.0)  # 2 steps of 8 in 2 s
    assert due[2]["images_per_s"] == pytest.approx(8 / 1.0)  # since the last log
    assert due[2]["eta_s"] == pytest.approx(3 * 8 / 8.0)  # 3 steps left in epoch 2


def test_epoch_means_count_each_key_over_the_steps_that_had_it():
    m = meter()
    m.count({"d_loss": 1.0, "r1": 4.0}, 1.0)
    m.count({"d_loss": 2.0}, 2.0)
    m.count({"d_loss": 6.0, "r1": 2.0}, 3.0)
    assert m.end_epoch() == {"d_loss": 3.0, "r1": 3.0}
    assert (m.epoch, m.batch_in_epoch, m.sums, m.finished) == (1, 0, {}, False)


def test_a_position_resumes_the_epoch_sums_exactly():
    straight, stopped = meter(), meter()
    for value in (1.0, 2.0):
        straight.count({"d_loss": value}, 1.0)
        stopped.count({"d_loss": value}, 1.0)
    header = json.loads(json.dumps(stopped.position()))  # as a checkpoint stores it
    resumed = StepMeter.from_position(header, batch_size=8, steps_per_epoch=3, epochs=2,
                                      log_every=2)
    assert (resumed.step, resumed.batch_in_epoch) == (2, 2)
    for m in (straight, resumed):
        m.count({"d_loss": 6.0}, 2.0)
    assert resumed.end_epoch() == straight.end_epoch() == {"d_loss": 3.0}


def test_a_position_from_an_older_checkpoint_has_no_sums():
    m = StepMeter.from_position({"epoch": 1, "step": 5, "batch_in_epoch": 2}, batch_size=8,
                                steps_per_epoch=3, epochs=2, log_every=1)
    assert (m.epoch, m.step, m.batch_in_epoch, m.sums) == (1, 5, 2, {})
    assert m.steps_left_in_epoch() == 1
