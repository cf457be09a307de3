"""Generator bundles (dcgan.explore.bundle): written, read back, and every bad member refused."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from dcgan.explore.bundle import (
    CARD,
    DIRECTIONS,
    GENERATOR,
    PCA,
    BundleError,
    card_summary,
    demo_card,
    read_bundle,
    run_card,
    write_bundle,
)
from dcgan.explore.export import GeneratorError, load_demo_directions, load_demo_generator
from dcgan.explore.latent import z_from_seeds


@pytest.fixture(scope="module")
def demo():
    return load_demo_generator()


@pytest.fixture(scope="module")
def demo_zip(demo) -> bytes:
    pca = (np.eye(3, 64, dtype=np.float32), np.array([0.3, 0.2, 0.1], np.float32))
    return write_bundle(demo, demo_card(demo), load_demo_directions(64), pca)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_bundle_round_trips(demo, demo_zip):
    bundle = read_bundle(demo_zip)
    z = z_from_seeds([0, 1, 2], 64)
    assert np.array_equal(bundle.generator.images(z), demo.images(z))
    assert bundle.generator.value_range == (-1.0, 1.0)
    assert bundle.card["latent_dim"] == 64 and bundle.card["epoch"] == 70
    assert bundle.card["quality"]["swd_floor"] == 9.9
    assert bundle.card["config"]["model"]["arch"] == "dcgan"
    assert bundle.card["dataset"] == "demo-portraits" and bundle.card["preset"] == "studio"
    for name, vector in load_demo_directions(64).items():
        np.testing.assert_allclose(bundle.directions[name], vector, rtol=1e-6)
    np.testing.assert_allclose(bundle.pca[0], np.eye(3, 64))
    np.testing.assert_allclose(bundle.pca[1], [0.3, 0.2, 0.1], rtol=1e-6)
    assert card_summary(bundle.card) == ("trained on demo-portraits (10,976 images), epoch 70, "
                                         "SWD 16.9 (1.7x the real floor), MS-SSIM 0.270 "
                                         "(real 0.221)")


def test_a_runs_card_has_its_config_epoch_and_last_evaluation(ws, finished_run):
    from dcgan.explore.export import load_run_generator
    from dcgan.runs.folder import read_metrics
    from dcgan.train.checkpoints import list_checkpoints

    checkpoint = list_checkpoints(finished_run)[-1]
    card = run_card(finished_run, checkpoint, load_run_generator(finished_run, checkpoint))
    assert card["epoch"] == 2 and card["latent_dim"] == 16 and card["dataset"] == "tiny"
    assert card["config"]["train"]["epochs"] == 2
    evals = [r for r in read_metrics(finished_run) if r.get("kind") == "eval"]
    assert evals and evals[-1]["epoch"] == 2  # the last epoch is always evaluated
    assert card["quality"]["swd"] == evals[-1]["swd"]
    assert card["quality"]["swd_floor"] == evals[-1]["swd_floor"]
    assert card["quality"]["held_out"] is False  # 32 images: too few to hold any out


@pytest.mark.parametrize("change, message", [
    (lambda m: {**m, "evil.py": b"print(1)"}, "unexpected members ['evil.py']"),
    (lambda m: {k: v for k, v in m.items() if k != CARD}, "card.json is missing"),
    (lambda m: {k: v for k, v in m.items() if k != GENERATOR}, "generator.keras is missing"),
    (lambda m: {**m, CARD: b"[" * 3_000_000}, "card.json is 3,000,000 bytes; at most"),
    (lambda m: {**m, CARD: b"{not json"}, "card.json is not valid JSON"),
    (lambda m: {**m, CARD: json.dumps({**json.loads(m[CARD]), "latent_dim": 32}).encode()},
     "card.json says latent size 32, but the generator takes 64"),
    (lambda m: {**m, CARD: json.dumps({**json.loads(m[CARD]), "latent_dim": "64"}).encode()},
     "latent_dim must be a whole number"),
    (lambda m: {**m, DIRECTIONS: json.dumps({"smile": [1.0] * 10}).encode()},
     "directions.json: 'smile' must be a list of 64 numbers"),
    (lambda m: {**m, DIRECTIONS: json.dumps({"zero": [0.0] * 64}).encode()},
     "must be finite and not all zero"),
    (lambda m: {**m, PCA: json.dumps({"directions": [[1.0] * 64], "explained": [2.0]}).encode()},
     "explained must be fractions"),
    (lambda m: {**m, PCA: json.dumps({"directions": [[1.0] * 63], "explained": [0.5]}).encode()},
     "pca.json: direction 1 must be a list of 64 numbers"),
    (lambda m: {**m, GENERATOR: b"PK\x03\x04 truncated"}, "not a loadable Keras model"),
])
def test_bad_bundles_are_refused_with_the_reason(demo_zip, change, message):
    with pytest.raises(GeneratorError) as info:
        read_bundle(rezip(change(members(demo_zip))))
    assert message in str(info.value)


def test_a_bundle_that_is_not_a_zip_is_refused():
    with pytest.raises(BundleError, match="not a zip file"):
        read_bundle(b"just bytes")


def test_a_generator_with_a_lambda_layer_is_refused(demo_zip, tmp_path):
    import keras

    z = keras.Input((64,))
    x = keras.layers.Dense(64 * 64 * 3)(z)
    x = keras.layers.Lambda(lambda t: keras.ops.tanh(t))(x)
    model = keras.Model(z, keras.layers.Reshape((64, 64, 3))(x))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(GeneratorError, match="not a loadable Keras model") as info:
        read_bundle(rezip({**members(demo_zip), GENERATOR: path.read_bytes()}))
    assert "Lambda" in str(info.value) or "safe_mode" in str(info.value)
