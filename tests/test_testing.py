"""The app launcher the browser tests and page benchmarks share (dcgan.testing)."""

from __future__ import annotations

import pytest

from dcgan.testing import running_app


def test_an_app_that_cannot_start_fails_with_the_end_of_its_log(tmp_path):
    log = tmp_path / "app.log"
    with pytest.raises(RuntimeError, match="did not start") as failed, \
            running_app(tmp_path / "home", log=log, env={"PYTHONHOME": "/nonexistent"}):
        pytest.fail("the block must not run")
    assert "encodings" in str(failed.value)  # what Python printed before it exited
    assert "encodings" in log.read_text()
