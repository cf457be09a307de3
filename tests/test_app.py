"""AppTest of the home page on an empty workspace and on one with a prepared dataset."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dcgan.prepare import prepare_dataset
from tests.conftest import write_images

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_home_on_an_empty_workspace(ws):
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "DCGAN Portrait Studio"
    assert "No dataset yet" in at.info[0].value
    assert str(ws.root) in at.caption[0].value


def test_home_lists_a_prepared_dataset(ws):
    write_images(ws.dataset_dir("faces"), 3)
    prepare_dataset(ws, "faces", workers=1)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "**faces**: 3 source files, 3 images prepared" in text
    assert len(at.get("image")) == 1
