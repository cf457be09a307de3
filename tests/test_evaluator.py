"""dcgan.quality.evaluator: held-out splits, the evaluator's cached floors, the shipping rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dcgan.quality import evaluator as evaluator_module
from dcgan.quality import metrics
from dcgan.quality.evaluator import choose_checkpoint, eval_split
from tests.conftest import blurred, write_cache


def test_eval_split_holds_out_only_a_small_share():
    small = eval_split(1000, 512, seed=0)
    assert small.size == 500 and not small.held_out and small.train_rows is None
    assert not set(small.reference) & set(small.floor)
    large = eval_split(20_000, 512, seed=0)
    assert large.held_out and large.size == 512
    assert len(large.train_rows) == 20_000 - 512
    assert not set(large.reference) & set(large.train_rows)
    assert set(large.floor) <= set(large.train_rows)
    again = eval_split(20_000, 512, seed=0)
    assert (again.reference == large.reference).all()
    with pytest.raises(ValueError, match="at least 4"):
        eval_split(3, 512, seed=0)


def test_evaluator_scores_and_caches_its_baseline(tmp_path, portraits):
    cache = write_cache(tmp_path / "data", portraits)
    baseline = tmp_path / "baseline.json"
    evaluator = evaluator_module.Evaluator(cache, 64, seed=0, baseline_path=baseline)
    copy_of_reference = evaluator.reference.copy()

    def memoriser(z):  # "generates" the reference images themselves
        start = memoriser.calls * len(z)
        memoriser.calls += 1
        return copy_of_reference[start:start + len(z)]

    memoriser.calls = 0
    record = evaluator(memoriser, latent_dim=8)
    assert record["swd"] == 0.0 and record["eval_images"] == 64 and not record["held_out"]
    assert 0 < record["swd_floor"] < 50 and 0 < record["ms_ssim_real"] < 0.6
    assert record["color_dist"] == 0.0 and 0 < record["color_dist_floor"] < 20
    assert record["ms_ssim"] == pytest.approx(record["ms_ssim_real"])
    assert json.loads(baseline.read_text())["values"]["swd_floor"] == record["swd_floor"]
    assert evaluator.latents(8).shape == (64, 8)
    np.testing.assert_array_equal(evaluator.latents(8), evaluator.latents(8))
    # a second evaluator reuses the stored baseline instead of recomputing it
    saved = json.loads(baseline.read_text())
    saved["values"]["swd_floor"] = 123.0
    baseline.write_text(json.dumps(saved))
    assert evaluator_module.Evaluator(cache, 64, 0, baseline).baseline()["swd_floor"] == 123.0
    assert evaluator_module.Evaluator(cache, 32, 0, baseline).baseline()["swd_floor"] != 123.0


@pytest.mark.parametrize("keep_sorted", [True, False])
def test_the_evaluators_cached_reference_gives_identical_values(tmp_path, portraits,
                                                                 monkeypatch, keep_sorted):
    """Kept sorted projections (or only descriptors, over the memory cap): same floats."""
    if not keep_sorted:
        monkeypatch.setattr(evaluator_module, "SWD_SORTED_MAX_BYTES", 0)
    cache = write_cache(tmp_path / "data", portraits)
    evaluator = evaluator_module.Evaluator(cache, 48, seed=3)
    for fake in (portraits[100:148], blurred(portraits[140:188], 1.5)):
        assert evaluator.quality(fake) == metrics.quality(fake, evaluator.reference, 3)
    assert evaluator._swd_reference.keep_sorted is keep_sorted
    with pytest.raises(ValueError, match="needs 48"):
        evaluator._swd_reference.distance(portraits[:10])


def test_choose_checkpoint_lowest_swd_within_the_ms_ssim_band():
    def rec(epoch, swd, ms):
        return {"epoch": epoch, "swd": swd, "ms_ssim": ms, "ms_ssim_real": 0.22}

    evals = [rec(5, 60.0, 0.24), rec(10, 30.0, 0.30), rec(15, 40.0, 0.26), rec(20, 40.0, 0.18),
             rec(25, 32.0, 0.29)]
    chosen, why = choose_checkpoint(evals)
    assert chosen["epoch"] == 15 and "within 0.05" in why  # 10 and 25: out of the band
    assert choose_checkpoint(evals, 0.1)[0]["epoch"] == 10
    # epoch 5 is in the band but untrained (SWD 2x the best): it never competes
    early = [rec(5, 60.0, 0.24), rec(10, 30.0, 0.30), rec(15, 32.0, 0.28), rec(20, 34.0, 0.31)]
    chosen, why = choose_checkpoint(early)
    assert chosen["epoch"] == 15 and "most varied within 1.1x" in why
    assert choose_checkpoint([]) is None
