"""dcgan.train.evaluation.EvalSchedule: which epochs are judged, which rows are trained."""

from __future__ import annotations

import numpy as np

from dcgan.train.evaluation import EvalSchedule
from tests.conftest import tiny_config


def test_every_k_epochs_and_the_last_with_the_reference_held_out(ws, tiny_dataset, tmp_path):
    config = tiny_config("dcgan", epochs=5, eval_every=2, eval_images=3)
    schedule = EvalSchedule(config, ws.prepared_cache("tiny"), 32, tmp_path)
    assert [e for e in range(1, 6) if schedule.due(e)] == [2, 4, 5]
    rows = schedule.train_rows
    held = schedule.evaluator.split.reference
    assert len(rows) == 29 and not set(rows.tolist()) & set(held.tolist())
    record = schedule(lambda z: np.full((len(z), 64, 64, 3), 0.5, np.float32))
    assert record["swd"] > 0 and record["eval_images"] == 3


def test_off_means_no_evaluator_and_every_row_trained(ws, tiny_dataset, tmp_path):
    config = tiny_config("dcgan", epochs=5, eval_every=0)
    schedule = EvalSchedule(config, ws.prepared_cache("tiny"), 32, tmp_path)
    assert schedule.evaluator is None and schedule.train_rows is None
    assert not any(schedule.due(e) for e in range(1, 6))
