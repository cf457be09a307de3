"""Generators (from runs, the demo or an upload) and portraits out of them: PNG, ZIP, GIF, MP4.

TensorFlow is imported only when a generator is built, so pages can import this module.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from dcgan.config import Config
from dcgan.data.images import image_grid, to_uint8
from dcgan.errors import DcganError
from dcgan.explore.latent import z_from_seeds
from dcgan.train.checkpoints import CheckpointError, load_checkpoint, load_latest

MAX_MODEL_BYTES = 200 * 1024 * 1024
DEMO_DIR = Path(__file__).resolve().parents[2] / "assets" / "demo"
DEMO_GENERATOR = DEMO_DIR / "generator.keras"
DEMO_DIRECTIONS = DEMO_DIR / "directions.json"  # named latent directions of the demo


class GeneratorError(DcganError):
    """A generator file could not be used; the message says why."""


class RunGenerator:
    """A generator with a compiled sampler: seeds or z -> (N, 64, 64, 3) uint8 portraits.

    Inference goes through one cached `tf.function` (a few ms per portrait on a CPU), never
    `model.predict`, whose per-call set-up costs ~10x more.
    """

    def __init__(self, model, value_range: tuple[float, float], label: str,
                 config: Config | None = None, data_crop: dict | None = None):
        import tensorflow as tf

        self.model, self.value_range, self.label, self.config = model, value_range, label, config
        # How its training images were cropped (a cache's settings): a photo to project is
        # cropped the same way. None: centre crops (the demo, unknown uploads).
        self.data_crop = data_crop
        self.latent_dim = int(model.inputs[0].shape[-1])
        self._forward = tf.function(lambda z: model(z, training=False), reduce_retracing=True)
        self._tf = tf
        self._features = tf.function(_submodel(model, _early_layer(model)),
                                     reduce_retracing=True)

    def images(self, z: np.ndarray) -> np.ndarray:
        """(N, latent) float -> (N, 64, 64, 3) uint8."""
        out = self._forward(self._tf.constant(np.atleast_2d(z), self._tf.float32)).numpy()
        return to_uint8(out, self.value_range)

    def from_seeds(self, seeds: list[int]) -> np.ndarray:
        return self.images(z_from_seeds(seeds, self.latent_dim))

    def features(self, z: np.ndarray) -> np.ndarray:
        """Early activations (N, ...) for GANSpace directions."""
        return self._features(self._tf.constant(z, self._tf.float32)).numpy()


def _early_layer(model):
    """The first layer that turns z into a 3-D tensor (or the first hidden layer)."""
    for layer in model.layers[1:]:
        if len(layer.output.shape) == 4:
            return layer
    return model.layers[1]


def _submodel(model, layer):
    import keras

    sub = keras.Model(model.inputs, layer.output)
    return lambda z: sub(z, training=False)


def generator_from_config(config: Config, g_weights: list[np.ndarray],
                          label: str) -> RunGenerator:
    from dcgan.train.models import build_generator

    model = build_generator(config.model, seed=config.train.seed)
    model.set_weights(g_weights)
    return RunGenerator(model, config.value_range, label, config)


def load_generator_file(data: bytes, filename: str) -> RunGenerator:
    """A generator from uploaded .keras / .h5 bytes, in Keras safe mode, checked.

    The user's file name only picks the format; it is never passed to Keras (which treats
    some prefixes as remote locations). Lambda layers and other code are refused. The output
    must be (N, 64, 64, 3); its range ([0, 1] or [-1, 1]) is detected from samples.
    """
    import keras

    suffix = Path(filename).suffix.lower()
    if suffix not in (".keras", ".h5"):
        raise GeneratorError("upload a Keras generator saved as .keras or .h5")
    if len(data) > MAX_MODEL_BYTES:
        raise GeneratorError(f"the file is larger than {MAX_MODEL_BYTES // 2**20} MiB")
    with tempfile.TemporaryDirectory(prefix="dcgan-upload-") as tmp:
        path = Path(tmp) / f"generator{suffix}"
        path.write_bytes(data)
        try:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises many types for bad files; all mean "unusable"
            raise GeneratorError(f"not a loadable Keras model ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") \
                from None
    return checked_generator(model, f"upload: {Path(filename).name}")


def demo_available() -> bool:
    return DEMO_GENERATOR.is_file()


def load_demo_generator() -> RunGenerator:
    """The generator bundled in assets/demo (trained by this project; see its model card)."""
    import keras

    if not demo_available():
        raise GeneratorError(f"the bundled demo generator is missing: {DEMO_GENERATOR}")
    model = keras.saving.load_model(DEMO_GENERATOR, compile=False, safe_mode=True)
    return checked_generator(model, "bundled demo generator")


def load_demo_directions(latent_dim: int, path: Path = DEMO_DIRECTIONS) -> dict[str, np.ndarray]:
    """The demo's named directions, {name: unit vector}, in the file's order.

    The file is {"name": [latent_dim floats], ...} (the format of a run's directions.json).
    A missing file gives {}; a malformed one raises GeneratorError naming what is wrong.
    """
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GeneratorError(f"{path.name}: not readable JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise GeneratorError(f"{path.name}: expected an object of name -> vector")
    directions = {}
    for name, vector in raw.items():
        v = np.asarray(vector, np.float32) if isinstance(vector, list) else np.zeros(0)
        if v.shape != (latent_dim,) or not np.isfinite(v).all() or not np.linalg.norm(v):
            raise GeneratorError(f"{path.name}: direction {name!r} is not {latent_dim} finite "
                                 "numbers with a nonzero norm")
        directions[str(name)] = v / np.linalg.norm(v)
    return directions


def checked_generator(model, label: str) -> RunGenerator:
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1 or len(inputs[0].shape) != 2:
        raise GeneratorError("the model must take one latent vector (N, latent_dim)")
    latent = int(inputs[0].shape[-1])
    probe = np.random.default_rng(0).standard_normal((16, latent)).astype(np.float32)
    try:
        out = np.asarray(model(probe, training=False))
    except Exception as exc:  # any failure to run is a bad model for us
        raise GeneratorError(f"the model failed on a latent batch: {exc}") from None
    if out.shape[1:] != (64, 64, 3):
        raise GeneratorError(f"the model outputs {tuple(out.shape[1:])}, not (64, 64, 3) "
                             "portraits")
    if out.min() < -1.01 or out.max() > 1.01:
        raise GeneratorError("outputs outside [-1, 1]: end the model with tanh or sigmoid")
    last = getattr(model.layers[-1], "activation", None)
    name = getattr(last, "__name__", "")
    if name in ("tanh", "sigmoid"):  # the final activation says it
        value_range = (-1.0, 1.0) if name == "tanh" else (0.0, 1.0)
    else:  # otherwise the samples do: any clearly negative pixel means [-1, 1]
        value_range = (-1.0, 1.0) if out.min() < -0.02 else (0.0, 1.0)
    return RunGenerator(model, value_range, label)


def load_run_generator(run_dir: Path, checkpoint: Path | None = None) -> RunGenerator:
    """The generator of a run at its latest (or the given) checkpoint."""
    config = Config.from_json((run_dir / "config.json").read_text())
    if checkpoint is not None:
        state, _meta = load_checkpoint(checkpoint, groups=("g", "ema"))
        name = checkpoint.name
    else:
        found = load_latest(run_dir)
        if found is None:
            raise CheckpointError(f"run {run_dir.name} has no checkpoint yet: train it first "
                                  "(a checkpoint is written every --checkpoint-every epochs)")
        state, _meta, path = found
        name = path.name
    # The EMA copy is the run's generator to show when it keeps one (dcgan.train.ema).
    weights = state.get("ema") or state["g"]
    generator = generator_from_config(config, weights, f"{run_dir.name} @ {name}")
    generator.data_crop = run_data_crop(run_dir)
    return generator


def run_data_crop(run_dir: Path) -> dict | None:
    """The crop settings of a run's training images: recorded in status.json when it
    started (dcgan.train.loop), else those of its dataset's cache now, else None."""
    import json

    from dcgan.data.cache import cache_settings
    from dcgan.workspace import Workspace

    try:
        status = json.loads((run_dir / "status.json").read_text())
        if isinstance(status.get("data_crop"), dict):
            return status["data_crop"]
        dataset = json.loads((run_dir / "config.json").read_text())["data"]["dataset"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # a run folder lives in <workspace>/GAN_MODEL/<run>
    return cache_settings(Workspace(run_dir.resolve().parents[1]).cache_dir(dataset))


def generator_keras_bytes(run_dir: Path, checkpoint: Path) -> bytes:
    """The .keras file of a checkpoint's generator (its EMA copy when kept), for download."""
    generator = load_run_generator(run_dir, checkpoint)
    with tempfile.TemporaryDirectory(prefix="dcgan-export-") as tmp:
        path = Path(tmp) / "generator.keras"
        generator.model.save(path)
        return path.read_bytes()


def progress_gif(run_dir: Path, frame_ms: int = 400, max_frames: int = 200) -> bytes | None:
    """An animated GIF of the run's per-epoch sample grids (None when there are none)."""
    import io

    paths = sorted((run_dir / "samples").glob("epoch_*.png"))
    if not paths:
        return None
    step = max(1, -(-len(paths) // max_frames))
    chosen = paths[::step]
    if chosen[-1] != paths[-1]:
        chosen.append(paths[-1])
    frames = []
    for path in chosen:
        with Image.open(path) as img:
            frames.append(img.convert("RGB").quantize(colors=255, method=Image.Quantize.MEDIANCUT))
    buf = io.BytesIO()
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 4]  # linger on the last epoch
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:],
                   duration=durations, loop=0)
    return buf.getvalue()


def save_grid(generator: RunGenerator, seeds: list[int], out: str | os.PathLike[str],
              columns: int = 8, scale: int = 1) -> Path:
    """Write a PNG grid of the portraits of `seeds`, upscaled by `scale` (nearest)."""
    grid = image_grid(generator.from_seeds(seeds), columns=min(columns, len(seeds)))
    if scale > 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out, format="PNG")
    return out


# --- files for people -------------------------------------------------------------------------
def upscale(image: np.ndarray, size: int, method: str = "nearest") -> Image.Image:
    """(64, 64, 3) uint8 -> size x size PIL image ('nearest' keeps pixels, 'lanczos' smooths)."""
    resample = Image.Resampling.LANCZOS if method == "lanczos" else Image.Resampling.NEAREST
    return Image.fromarray(image).resize((size, size), resample)


def png_bytes(image: Image.Image | np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes; level 1 keeps a 512x512 grid near 15 ms (Pillow's default costs ~100)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def grid_png(images: np.ndarray, columns: int = 8, scale: int = 1) -> bytes:
    grid = image_grid(images, columns=min(columns, len(images)))
    if scale > 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
    return png_bytes(grid)


def latent_json(z: np.ndarray, **meta) -> bytes:
    """The latent vectors (N, latent) with metadata, as JSON to reload later."""
    return json.dumps({**meta, "z": np.atleast_2d(z).astype(float).tolist()}).encode()


def latent_npy(z: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.atleast_2d(z).astype(np.float32))
    return buf.getvalue()


def load_latent(data: bytes, latent_dim: int) -> np.ndarray:
    """(N, latent_dim) from .npy or .json bytes made by latent_npy / latent_json."""
    try:
        if data[:6] == b"\x93NUMPY":
            z = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            z = np.asarray(json.loads(data)["z"], dtype=np.float32)
    except (ValueError, KeyError, TypeError) as exc:
        raise GeneratorError(f"not a saved latent vector: {exc}") from None
    z = np.atleast_2d(z).astype(np.float32)
    if z.shape[1] != latent_dim or not np.all(np.isfinite(z)):
        raise GeneratorError(f"the vector has {z.shape[1]} dimensions; this generator "
                             f"takes {latent_dim}")
    return z


def portraits_zip(images: np.ndarray, seeds: list[int], z: np.ndarray, size: int = 256,
                  method: str = "nearest") -> bytes:
    """A ZIP of one PNG per portrait (seed in the name) and latents.json."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for image, seed in zip(images, seeds, strict=True):
            zf.writestr(f"portrait_seed{seed:06d}.png", png_bytes(upscale(image, size, method)))
        zf.writestr("latents.json", latent_json(z, seeds=list(map(int, seeds))))
    return buf.getvalue()


def gif_bytes(frames: np.ndarray, fps: float = 12.0, size: int = 256,
              boomerang: bool = True) -> bytes:
    """An animated GIF of (N, 64, 64, 3) frames, upscaled, looping (there and back)."""
    sequence = list(frames) + (list(frames[-2:0:-1]) if boomerang else [])
    images = [upscale(f, size).quantize(colors=255, method=Image.Quantize.MEDIANCUT)
              for f in sequence]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(1000 / fps), loop=0)
    return buf.getvalue()


def mp4_bytes(frames: np.ndarray, fps: float = 24.0, size: int = 256) -> bytes:
    """An H.264 MP4 of the frames (imageio with the ffmpeg that imageio-ffmpeg ships)."""
    import imageio.v2 as imageio

    with tempfile.TemporaryDirectory(prefix="dcgan-mp4-") as tmp:
        path = os.path.join(tmp, "interpolation.mp4")
        with imageio.get_writer(path, fps=fps, codec="libx264", quality=8,
                                macro_block_size=16, ffmpeg_log_level="error") as writer:
            for frame in frames:
                writer.append_data(np.asarray(upscale(frame, size, "lanczos")))
        return Path(path).read_bytes()
