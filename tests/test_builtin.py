"""dcgan.data.builtin: the built-in synthetic portraits, drawn and prepared on first use."""

from __future__ import annotations

from dcgan.data import builtin
from dcgan.data.builtin import BUILTIN_DATASET, ensure_builtin_dataset


def test_first_use_draws_and_prepares_then_a_second_reads_nothing(ws, monkeypatch):
    monkeypatch.setattr(builtin, "BUILTIN_COUNT", 12)  # read at call time
    told = []
    first = ensure_builtin_dataset(ws, on_create=lambda: told.append("drawing"))
    assert told == ["drawing"] and first.count == 12 and first.crop == "center"
    assert len(list(ws.dataset_dir(BUILTIN_DATASET).glob("synth_*.png"))) == 12
    again = ensure_builtin_dataset(ws, on_create=lambda: told.append("again"))
    assert told == ["drawing"] and again.up_to_date and again.processed == 0


def test_an_explicit_count_wins(ws):
    assert ensure_builtin_dataset(ws, count=8).count == 8
