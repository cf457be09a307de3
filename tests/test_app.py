"""AppTest of app.py (navigation) and the home page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dcgan.runs.folder import create_run
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[1]


def run_page(name: str, timeout: float = 60) -> AppTest:
    return AppTest.from_file(str(ROOT / name), default_timeout=timeout).run()


def test_app_opens_on_home_with_navigation(ws):
    at = run_page("app.py")
    assert not at.exception
    assert at.title[0].value == "DCGAN Portrait Studio"


def test_home_on_an_empty_workspace(ws):
    at = run_page("pages/home.py")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Datasets"] == "0" and metrics["Runs"] == "0"
    assert metrics["Device"].startswith("CPU") or "NVIDIA" in metrics["Device"]
    labels = [b.label for b in at.button]
    assert "Use the built-in synthetic portraits" in labels and "Train" in labels
    assert str(ws.root) in at.caption[-1].value


def test_home_shows_datasets_and_runs(ws, tiny_dataset):
    create_run(ws, tiny_config())
    at = run_page("pages/home.py")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Datasets"], metrics["Prepared images"], metrics["Runs"]) == ("1", "32", "1")
    tables = [t.value for t in at.dataframe]
    assert list(tables[0]["dataset"]) == ["tiny"]
    assert list(tables[1]["run"]) == ["00001-tiny-dcgan"]


def test_builtin_quick_start_creates_the_dataset(ws, monkeypatch):
    monkeypatch.setattr("dcgan.data.builtin.BUILTIN_COUNT", 64)
    at = run_page("app.py")
    at.button(key="home_builtin").click().run()
    assert not at.exception
    assert at.title[0].value == "Dataset"  # switched to the Dataset page
    info = {d.name: d for d in ws.list_datasets()}["synthetic-portraits"]
    assert (info.source_files, info.prepared_images) == (64, 64)


@pytest.mark.parametrize("page", ["pages/dataset.py", "pages/train.py"])
def test_pages_load_without_tensorflow(page, ws):
    """The pages' imports stay light: TensorFlow is never imported to draw them."""
    import subprocess
    import sys

    code = (f"import runpy, sys; sys.path.insert(0, {str(ROOT)!r});"
            "from streamlit.testing.v1 import AppTest;"
            f"at = AppTest.from_file({str(ROOT / page)!r}).run(timeout=60);"
            "assert not at.exception, at.exception;"
            "print('TF' if 'tensorflow' in sys.modules else 'NO-TF')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip().endswith("NO-TF"), out.stderr[-2000:]
