"""The benchmark code itself (quick mode, into a temporary folder); timings are not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_prepare_bench_writes_markdown_and_results(tmp_path):
    (tmp_path / "BENCHMARKS.md").write_text("# Benchmarks\n\nintro kept\n")
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "prepare",
                          "--out-dir", str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "intro kept" in text and "<!-- bench:prepare -->" in text
    assert "naive loop" in text and "images/s" in text
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    names = {r["name"] for r in results}
    assert {"prepare.prepare_img_per_s", "prepare.naive_img_per_s",
            "prepare.speedup_vs_naive", "prepare.pipeline_img_per_s"} <= names
    assert all(r["value"] > 0 and r["unit"] and r["machine"] and r["date"] for r in results)


def test_quick_train_bench_writes_its_figures(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "train",
                          "--out-dir", str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "<!-- bench:train -->" in text and "| `dcgan` |" in text
    results = {r["name"]: r for r in json.loads((tmp_path / "bench/results.json").read_text())}
    for name in ("matmul_peak_gflops", "dcgan_step_img_per_s", "wgan-gp_step_pct_of_peak",
                 "dcgan_end_to_end_img_per_s", "peak_rss_mb_300_images"):
        assert results[f"train.{name}"]["value"] > 0


def test_quick_explore_bench(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "explore",
                          "--out-dir", str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    results = {r["name"]: r["value"] for r in
               json.loads((tmp_path / "bench/results.json").read_text())}
    assert results["explore.portrait_ms"] > 0 and results["explore.grid64_ms"] > 0
    assert "| one portrait" in (tmp_path / "BENCHMARKS.md").read_text()
