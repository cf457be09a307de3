"""dcgan.runs.folder: numbering, resolving run references safely, status and metrics files."""

from __future__ import annotations

import json

import pytest

from dcgan.config import preset
from dcgan.runs.folder import (
    MetricsLog,
    MetricsTail,
    RunError,
    create_run,
    list_runs,
    read_metrics,
    read_status,
    resolve_run,
    update_status,
)


def test_create_run_numbers_and_layout(ws):
    config = preset("ml241").with_overrides(dataset="faces")
    first = create_run(ws, config)
    second = create_run(ws, config, run_name="mine")
    assert (first.name, second.name) == ("00001-faces-ml241", "00002-mine")
    assert (first / "samples").is_dir() and (first / "checkpoints").is_dir()
    assert read_status(first)["state"] == "queued"
    assert '"preset": "ml241"' in (first / "config.json").read_text()
    with pytest.raises(Exception, match="invalid run name"):
        create_run(ws, config, run_name="../escape")


def test_resolve_run_by_id_number_and_path(ws, tmp_path):
    run = create_run(ws, preset("dcgan"))
    assert resolve_run(ws, run.name) == run
    assert resolve_run(ws, "1") == run
    assert resolve_run(ws, str(run)) == run
    assert resolve_run(ws, "00001") == run
    for bad in ("2", "../DATA", str(tmp_path), "/etc", "GAN_MODEL", "00001-x"):
        with pytest.raises(RunError, match="no run"):
            resolve_run(ws, bad)


def test_status_updates_merge(ws):
    run = create_run(ws, preset("dcgan"))
    update_status(run, state="running", epoch=3)
    update_status(run, step=40)
    assert {k: read_status(run)[k] for k in ("state", "epoch", "step")} == \
        {"state": "running", "epoch": 3, "step": 40}


def test_metrics_append_truncate_and_half_lines(ws):
    run = create_run(ws, preset("dcgan"))
    log = MetricsLog(run)
    for step in (1, 2, 3, 4):
        log.append({"kind": "step", "step": step, "d_loss": step / 10})
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"kind": "step", "st')  # a line cut by a crash
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3, 4]
    log.truncate_after(2)
    assert [r["step"] for r in read_metrics(run)] == [1, 2]


def test_metrics_tail_reads_only_new_lines_and_follows_a_truncation(ws, monkeypatch):
    run = create_run(ws, preset("dcgan"))
    tail, log = MetricsTail(run), MetricsLog(run)
    assert tail.read() == []  # no file yet
    for step in (1, 2, 3):
        log.append({"kind": "step", "step": step})
    assert [r["step"] for r in tail.read()] == [1, 2, 3]
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"kind": "step", "step": 4')  # being written
    assert [r["step"] for r in tail.read()] == [1, 2, 3]
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write("}\n")
    parsed = []
    real_loads = json.loads
    monkeypatch.setattr(json, "loads", lambda line: parsed.append(line) or real_loads(line))
    assert [r["step"] for r in tail.read()] == [1, 2, 3, 4]
    assert [r["step"] for r in tail.read()] == [1, 2, 3, 4]
    assert len(parsed) == 1  # only the new line was parsed, once
    monkeypatch.setattr(json, "loads", real_loads)
    assert tail.read() == read_metrics(run)
    log.truncate_after(2)  # a resume: the file is replaced by a shorter one
    log.append({"kind": "step", "step": 3, "again": True})
    assert [(r["step"], r.get("again")) for r in tail.read()] == [(1, None), (2, None),
                                                                  (3, True)]


def test_list_runs_newest_first(ws):
    create_run(ws, preset("dcgan").with_overrides(dataset="a"))
    second = create_run(ws, preset("wgan-gp").with_overrides(dataset="b", epochs=9))
    update_status(second, state="done", epoch=9)
    infos = list_runs(ws)
    assert [(i.run_id, i.state, i.dataset, i.preset, i.epoch, i.epochs) for i in infos] == [
        ("00002-b-wgan-gp", "done", "b", "wgan-gp", 9, 9),
        ("00001-a-dcgan", "queued", "a", "dcgan", 0, 25)]
