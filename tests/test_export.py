"""dcgan.export: generators from run checkpoints, PNG grids."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dcgan.checkpoints import CheckpointError, list_checkpoints
from dcgan.export import load_run_generator, save_grid
from dcgan.runs import create_run
from dcgan.training import run_training
from tests.conftest import tiny_config


def test_generator_from_a_run(ws, tiny_dataset, tmp_path):
    config = tiny_config("dcgan", epochs=2)
    run = create_run(ws, config)
    with pytest.raises(CheckpointError, match="no checkpoint yet"):
        load_run_generator(run)
    run_training(config, run)
    generator = load_run_generator(run)
    assert generator.label.startswith(run.name) and "ckpt-00002" in generator.label
    images = generator.from_seeds([1, 2, 1])
    assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8
    assert np.array_equal(images[0], images[2]) and not np.array_equal(images[0], images[1])
    older = load_run_generator(run, list_checkpoints(run)[0])
    assert not np.array_equal(older.from_seeds([1])[0], images[0])
    path = save_grid(generator, [1, 2, 3, 4], tmp_path / "sub" / "g.png", columns=2, scale=3)
    with Image.open(path) as grid:
        assert grid.size == ((2 * 66 + 2) * 3, (2 * 66 + 2) * 3)
