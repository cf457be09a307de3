"""dcgan.explore.export: generators from run checkpoints, PNG grids."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dcgan.explore.export import load_run_generator, save_grid
from dcgan.runs.folder import create_run
from dcgan.train.checkpoints import CheckpointError, list_checkpoints
from dcgan.train.loop import run_training
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


def test_files_for_people(tmp_path):
    import io
    import json
    import zipfile

    from dcgan.explore.export import (
        gif_bytes,
        grid_png,
        latent_json,
        latent_npy,
        load_latent,
        mp4_bytes,
        portraits_zip,
        upscale,
    )

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    assert upscale(frames[0], 256).size == (256, 256)
    assert np.array_equal(np.asarray(upscale(frames[0], 128))[::2, ::2], frames[0])
    with Image.open(io.BytesIO(grid_png(frames, 3, 2))) as grid:
        assert grid.size == ((3 * 66 + 2) * 2, (2 * 66 + 2) * 2)
    z = rng.standard_normal((6, 16)).astype(np.float32)
    data = portraits_zip(frames, [10, 11, 12, 13, 14, 15], z, size=128)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert names[0] == "portrait_seed000010.png" and "latents.json" in names
        with Image.open(io.BytesIO(zf.read(names[0]))) as first:
            assert first.size == (128, 128)
        saved = json.loads(zf.read("latents.json"))
        assert saved["seeds"][0] == 10 and len(saved["z"]) == 6
    gif = gif_bytes(frames, fps=10, size=96)
    with Image.open(io.BytesIO(gif)) as anim:
        assert anim.n_frames == 6 + 4 and anim.size == (96, 96)  # there and back
    mp4 = mp4_bytes(frames, fps=12, size=128)
    assert mp4[4:8] == b"ftyp" and len(mp4) > 1000
    np.testing.assert_allclose(load_latent(latent_npy(z), 16), z)
    np.testing.assert_allclose(load_latent(latent_json(z[0], seed=3), 16)[0], z[0], rtol=1e-6)
    with pytest.raises(Exception, match="dimensions"):
        load_latent(latent_npy(z), 8)


def test_uploaded_generators_safe_mode_and_checks(tmp_path):
    import keras

    from dcgan.config import preset
    from dcgan.explore.export import GeneratorError, load_generator_file
    from dcgan.train.models import build_generator

    good = build_generator(preset("ml241").model)
    path = tmp_path / "g.keras"
    good.save(path)
    generator = load_generator_file(path.read_bytes(), "../../evil/../g.keras")
    assert generator.value_range == (0.0, 1.0) and generator.latent_dim == 100
    assert generator.from_seeds([1]).shape == (1, 64, 64, 3)

    tanh = build_generator(preset("dcgan").model)
    tanh.save(tmp_path / "t.keras")
    assert load_generator_file((tmp_path / "t.keras").read_bytes(), "t.keras").value_range \
        == (-1.0, 1.0)

    inp = keras.Input((8,))
    out = keras.layers.Lambda(lambda x: x * 2)(keras.layers.Dense(64 * 64 * 3)(inp))
    lam = keras.Model(inp, keras.layers.Reshape((64, 64, 3))(out))
    lam.save(tmp_path / "lambda.keras")
    with pytest.raises(GeneratorError, match="not a loadable"):
        load_generator_file((tmp_path / "lambda.keras").read_bytes(), "lambda.keras")

    small = keras.Model(inp, keras.layers.Reshape((8, 8, 3))(
        keras.layers.Dense(192, activation="sigmoid")(inp)))
    small.save(tmp_path / "small.keras")
    with pytest.raises(GeneratorError, match=r"not \(64, 64, 3\)"):
        load_generator_file((tmp_path / "small.keras").read_bytes(), "small.keras")
    data = path.read_bytes()
    with pytest.raises(GeneratorError, match="not a loadable"):
        load_generator_file(data[: len(data) // 2], "g.keras")
    with pytest.raises(GeneratorError, match=r"\.keras or \.h5"):
        load_generator_file(data, "g.pkl")


def test_named_directions_file(tmp_path):
    import json

    from dcgan.explore.export import GeneratorError, load_demo_directions

    path = tmp_path / "directions.json"
    assert load_demo_directions(4, path) == {}  # no file: no named sliders
    path.write_text(json.dumps({"hair": [3, 0, 0, 4], "skin": [0, 1, 0, 0]}))
    found = load_demo_directions(4, path)
    assert list(found) == ["hair", "skin"]  # the file's order is the sliders' order
    np.testing.assert_allclose(found["hair"], [0.6, 0, 0, 0.8])  # made unit length
    for bad, why in [("[1, 2]", "expected an object"), ("{", "not readable JSON"),
                     ('{"a": [1, 2, 3]}', "direction 'a' is not 4 finite"),
                     ('{"a": [0, 0, 0, 0]}', "nonzero norm"),
                     ('{"a": "up"}', "direction 'a'"),
                     ('{"a": [1, NaN, 0, 0]}', "finite")]:
        path.write_text(bad)
        with pytest.raises(GeneratorError, match=why):
            load_demo_directions(4, path)
