"""Shared fixtures: a temporary workspace, image factories and a local HTTP server."""

from __future__ import annotations

import http.server
import io
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from dcgan.testing import CHROMIUM, chromium_available
from dcgan.workspace import Workspace

# The slow part of the suite (`pytest -m "not slow"` leaves it out while developing): the
# benchmarks' smoke runs and the browser tests, and the tests that start training jobs.
SLOW_FILES = ("test_bench.py", "test_browser.py", "test_class.py", "test_jobs.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


def require_chromium() -> None:
    """A test that drives Chromium skips without it, unless CI is set: there it fails."""
    if not chromium_available():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI: {CHROMIUM} not found")
        pytest.skip(f"no Chromium at {CHROMIUM}")


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Workspace:
    """An empty workspace under tmp_path, also exported as DCGAN_HOME for subprocesses."""
    root = tmp_path / "home"
    monkeypatch.setenv("DCGAN_HOME", str(root))
    monkeypatch.delenv("DCGAN_ALLOWED_ROOTS", raising=False)
    return Workspace(root.resolve()).ensure()


# scikit-image's astronaut (Eileen Collins, NASA: public domain), a 256 px crop: the face
# the face-crop tests find, turn, scale and move.
ASTRONAUT = Path(__file__).parent / "data" / "astronaut.jpg"


def astronaut() -> Image.Image:
    with Image.open(ASTRONAUT) as img:
        return img.convert("RGB")


def jpeg_bytes(picture: Image.Image, **save) -> bytes:
    """A picture encoded as JPEG (quality 92)."""
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=92, **save)
    return buf.getvalue()


def portrait_array(seed: int, size: tuple[int, int] = (80, 96)) -> np.ndarray:
    """A distinct smooth RGB test picture (W, H = size) for seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.uniform(40, 200, 3)
    wave = 40 * np.sin(xx / rng.uniform(5, 15) + rng.uniform(0, 6))[..., None]
    return np.clip(base + wave + yy[..., None] * 0.3, 0, 255).astype(np.uint8)


def image_bytes(seed: int = 0, fmt: str = "PNG", size=(80, 96), **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(portrait_array(seed, size)).save(buf, format=fmt, **save)
    return buf.getvalue()


@pytest.fixture
def http_server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; '/slow/<name>' trickles bytes to test time limits."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/slow/"):
                data = (root / self.path[len("/slow/"):]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for i in range(0, len(data), 1024):
                    self.wfile.write(data[i:i + 1024])
                    self.wfile.flush()
                    time.sleep(0.05)
                return
            if self.path == "/redirect-file":
                self.send_response(302)
                self.send_header("Location", "file:///etc/passwd")
                self.end_headers()
                return
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def write_images(folder: Path, count: int, start: int = 0, fmt: str = "PNG") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        path = folder / f"face_{i:03d}.{fmt.lower()}"
        path.write_bytes(image_bytes(i, fmt))
        paths.append(path)
    return paths


TINY = dict(batch_size=8, g_filters=8, d_filters=8, latent_dim=16, steps_per_epoch=3,
            log_every=1, checkpoint_every=1)


@pytest.fixture(scope="session")
def _templates(tmp_path_factory):
    """Made once per test process: the tiny dataset, prepared, and a run trained on it.

    Tests get copies (tiny_dataset, finished_run), so each may change its own freely; the
    2-epoch run is trained once instead of once per test that only reads a run.
    """
    from dcgan.data.prepare import prepare_dataset
    from dcgan.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("templates")
    with pytest.MonkeyPatch.context() as mp:
        data = Workspace((root / "data").resolve()).ensure()
        mp.setenv("DCGAN_HOME", str(data.root))
        generate_dataset(data.dataset_dir("tiny"), 32, seed=1, size=64, workers=1)
        prepare_dataset(data, "tiny", workers=1)
    return {"data": data.root, "trained": None}


def _copy_workspace(source: Path, ws: Workspace) -> None:
    shutil.copytree(source, ws.root, dirs_exist_ok=True, symlinks=True)


@pytest.fixture
def tiny_dataset(ws, _templates):
    """A prepared 32-image synthetic dataset named 'tiny' in the test workspace."""
    _copy_workspace(_templates["data"], ws)
    return "tiny"


def tiny_config(preset_name: str = "dcgan", **overrides):
    from dcgan.config import preset

    return preset(preset_name).with_overrides(**{"dataset": "tiny", "epochs": 2, **TINY,
                                                 **overrides})


@pytest.fixture
def finished_run(ws, tiny_dataset, _templates):
    """A tiny dcgan run trained for 2 epochs (6 steps) in the test workspace (a copy of one
    trained once per test process)."""
    if _templates["trained"] is None:
        from dcgan.runs.folder import create_run
        from dcgan.train.loop import run_training

        config = tiny_config("dcgan", epochs=2)
        run = create_run(ws, config)
        assert run_training(config, run) == "done"
        template = _templates["data"].parent / "trained"
        shutil.copytree(ws.root, template, symlinks=True)
        _templates["trained"] = (template, run.name)
        return run
    template, name = _templates["trained"]
    _copy_workspace(template, ws)
    return ws.runs_dir / name


def odd_generator(seed: int = 4):
    """A member of the family with everything the demo lacks: odd kernels and channel
    counts (not multiples of 4), 'valid' padding, leaky ReLU, batch norm after a
    convolution with trained-looking statistics, a sigmoid output. The browser test runs it
    in the page too."""
    import keras

    keras.utils.set_random_seed(seed)
    z = keras.Input((10,))
    x = keras.layers.Dense(4 * 4 * 10)(z)
    x = keras.layers.Reshape((4, 4, 10))(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Conv2DTranspose(6, 5, strides=2, padding="same")(x)  # 8
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2DTranspose(5, 2, strides=2, padding="valid")(x)  # 16
    x = keras.layers.Activation("tanh")(x)
    x = keras.layers.Conv2DTranspose(7, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same",
                                     activation="sigmoid")(x)  # 64
    model = keras.Model(z, x)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if i in (0, 3) else
                               rng.normal(0, 0.3, w.shape) for i, w in
                               enumerate(layer.get_weights())])
    return model


@pytest.fixture(scope="session")
def portraits() -> np.ndarray:
    """192 synthetic 64x64 portraits: three disjoint samples of one distribution."""
    from dcgan.data.synthetic import render_portrait

    return np.stack([np.asarray(render_portrait(7, i, size=64)) for i in range(192)])


def blurred(images: np.ndarray, radius: float = 1.0) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(i).filter(ImageFilter.GaussianBlur(radius)))
                     for i in images])


def write_cache(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", images)
    return folder / "images.npy"


@pytest.fixture
def cache(tmp_path):
    """A small (10, 8, 8, 3) uint8 cache file of random pixels: (its path, the pixels)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    path = tmp_path / "images.npy"
    np.save(path, images)
    return path, images
