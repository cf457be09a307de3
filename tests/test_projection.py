"""Projection of photos into a generator's latent space (dcgan.explore.projection)."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.data.images import crop_resize, decode_image
from dcgan.errors import ImageRejected
from dcgan.explore.export import load_demo_generator, load_run_generator
from dcgan.explore.latent import z_from_seed
from dcgan.explore.projection import (
    Projector,
    Settings,
    _feature_model,
    keep_typical,
    norm_band,
    photo_pixels,
    rms_error,
    run_discriminator,
)
from tests.conftest import image_bytes

FAST = Settings(steps=120, restarts=4, candidates=64)


@pytest.fixture(scope="module")
def demo():
    return load_demo_generator()


@pytest.fixture(scope="module")
def projector(demo):
    return Projector(demo)


def test_a_generated_portrait_is_found_again(demo, projector):
    z_true = z_from_seed(12345, demo.latent_dim)
    target = demo.images(z_true[None])[0]
    start = projector.starts(target, FAST)[0]  # the best of 64 random seeds
    found = projector.project(target, FAST)
    start_rms = rms_error(demo.images(start[None])[0], target)
    assert found.steps == 120 and not found.stopped and len(found.losses) == 120
    assert found.rms < 0.35 * start_rms and found.rms < 8.0  # grey levels, of 255
    lo, hi = norm_band(demo.latent_dim)
    assert lo <= np.linalg.norm(found.z) <= hi
    assert np.array_equal(found.image, demo.images(found.z[None])[0])
    assert found.losses[-1] < found.losses[0]


def test_the_search_is_repeatable_and_stoppable(demo, projector):
    target = demo.images(z_from_seed(7, demo.latent_dim)[None])[0]
    settings = Settings(steps=30, restarts=2, candidates=16, seed=3)
    a, b = projector.project(target, settings), projector.project(target, settings)
    assert np.array_equal(a.z, b.z)
    seen = []

    def until_two_reports(progress) -> bool:
        seen.append(progress.steps)
        return len(seen) < 2

    stopped = projector.project(target, settings, until_two_reports, report_every=10)
    assert seen == [10, 20] and stopped.stopped and stopped.steps == 20
    search = projector.search(target, settings)  # what the app runs, slice by slice
    while not search.done:
        search.advance(7)
    assert search.step == 30 and np.array_equal(search.result().z, a.z)


def test_norms_are_kept_in_the_typical_band():
    lo, hi = norm_band(64)
    norms = np.linalg.norm(np.random.default_rng(1).standard_normal((100_000, 64)), axis=1)
    assert np.mean(norms < lo) == pytest.approx(0.01, abs=0.002)
    assert np.mean(norms > hi) == pytest.approx(0.01, abs=0.002)
    z = np.stack([np.full(64, 0.01), np.full(64, 5.0), z_from_seed(0, 64)]).astype(np.float32)
    kept = np.linalg.norm(keep_typical(z), axis=1)
    assert kept[0] == pytest.approx(lo, rel=1e-5) and kept[1] == pytest.approx(hi, rel=1e-5)
    assert kept[2] == pytest.approx(np.linalg.norm(z[2]), rel=1e-6)  # typical: untouched


def test_photos_are_decoded_and_cropped_like_an_import():
    data = image_bytes(4, "JPEG", size=(120, 90))
    assert np.array_equal(photo_pixels(data), crop_resize(decode_image(data, draft_to=64), 64))
    with pytest.raises(ImageRejected, match="not-an-image"):
        photo_pixels(b"this is text named photo.jpg")
    with pytest.raises(ImageRejected, match="too-small"):
        photo_pixels(image_bytes(1, size=(20, 20)))
    with pytest.raises(ImageRejected, match="empty-file"):
        photo_pixels(b"")
    with pytest.raises(ImageRejected, match="corrupt"):
        photo_pixels(image_bytes(2, "PNG", size=(80, 80))[:200])


def test_bad_settings_are_refused():
    for bad, message in ((Settings(steps=0), "steps"), (Settings(restarts=65), "restarts"),
                         (Settings(restarts=8, candidates=4), "candidates")):
        with pytest.raises(ValueError, match=message):
            bad.check()


def test_a_runs_discriminator_adds_its_features(ws, finished_run):
    from dcgan.train.checkpoints import list_checkpoints

    checkpoint = list_checkpoints(finished_run)[-1]
    generator = load_run_generator(finished_run, checkpoint)
    discriminator = run_discriminator(finished_run, checkpoint)
    features = _feature_model(discriminator)
    assert features is not None
    assert tuple(features(np.zeros((1, 64, 64, 3), np.float32)).shape)[1:3] == (4, 4)
    with_d = Projector(generator, discriminator)
    assert with_d.has_features and not Projector(generator).has_features
    target = generator.images(z_from_seed(5, generator.latent_dim)[None])[0]
    settings = Settings(steps=20, restarts=2, candidates=8)
    plain, featured = Projector(generator).project(target, settings), with_d.project(target,
                                                                                     settings)
    assert np.isfinite(featured.losses).all()
    assert featured.losses[0] > plain.losses[0]  # the feature term is part of the loss
