"""dcgan.train.samples: the run's fixed noise and the per-epoch grids it draws."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dcgan.train.samples import SampleWriter, fixed_noise, grid_kept
from tests.conftest import tiny_config


def test_grid_retention_is_bounded_however_long_the_run():
    assert [e for e in range(1, 11) if grid_kept(e, 10)] == list(range(1, 11))
    kept = [e for e in range(1, 1001) if grid_kept(e, 1000)]
    assert kept[:100] == list(range(1, 101)) and kept[100:103] == [109, 118, 127]
    assert len(kept) == 200 and kept[-1] == 1000
    assert len([e for e in range(1, 10**5 + 1) if grid_kept(e, 10**5)]) <= 201
    assert not grid_kept(0, 10)


def test_fixed_noise_is_made_once_from_the_seed_then_read(tmp_path):
    config = tiny_config("dcgan")
    noise = fixed_noise(tmp_path, config)
    assert noise.shape == (64, config.model.latent_dim) and noise.dtype == np.float32
    np.save(tmp_path / "fixed_noise.npy", noise * 2)  # what is on disk wins
    assert np.array_equal(fixed_noise(tmp_path, config), noise * 2)
    other = tmp_path / "other"
    other.mkdir()
    assert np.array_equal(fixed_noise(other, config), noise)  # same seed, same noise


def test_writer_draws_the_noise_and_drops_grids_not_kept(tmp_path, monkeypatch):
    from dcgan.train import samples

    noise = np.linspace(-1, 1, 64 * 4, dtype=np.float32).reshape(64, 4)
    seen = []

    def sample_fn(z):  # the writer hands over the run's noise itself
        seen.append(z)
        return np.full((len(z), 64, 64, 3), 0.5, np.float32)

    monkeypatch.setattr(samples, "grid_kept", lambda epoch, epochs: epoch in (1, 3))
    writer = SampleWriter(tmp_path, epochs=3, noise=noise)
    kept = [writer.write(sample_fn, epoch) is not None for epoch in (1, 2, 3)]
    assert kept == [True, False, True] and all(z is noise for z in seen)
    names = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert names == ["epoch_0001.png", "epoch_0003.png"]  # 2 was shown, then dropped
    with Image.open(tmp_path / "samples" / "epoch_0003.png") as grid:
        assert grid.size == (8 * 66 + 2, 8 * 66 + 2)
