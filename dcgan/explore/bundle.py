"""A portable generator bundle: one zip that another Studio (or person) can open and trust.

Members (no others are accepted on the way back in):

    generator.keras    the generator (a run's EMA copy when it keeps one), Keras format
    card.json          what it is: latent size, output range, preset and config, training
                       data name and size, epoch, SWD / MS-SSIM with their real floors, date
    directions.json    labelled directions {"name": [latent floats]} (may be {})
    pca.json           the PCA directions {"directions": [[...]], "explained": [...]}, optional

Reading checks every member before anything is loaded: names, the declared and the real
sizes, the JSON shapes and types, and that every vector has the generator's latent size; the
generator itself is loaded in Keras safe mode (Lambda layers and other code refused) and
checked as any uploaded generator. Every failure is a BundleError saying what was wrong.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from dcgan.explore.export import MAX_MODEL_BYTES, GeneratorError, RunGenerator, load_generator_file

FORMAT = 1
GENERATOR, CARD, DIRECTIONS, PCA = "generator.keras", "card.json", "directions.json", "pca.json"
MEMBERS = frozenset({GENERATOR, CARD, DIRECTIONS, PCA})
MAX_JSON_BYTES = 2 * 1024 * 1024
MAX_DIRECTIONS = 256


class BundleError(GeneratorError):
    """A bundle could not be used; the message names the member and the problem."""


@dataclass
class Bundle:
    generator: RunGenerator
    card: dict
    directions: dict[str, np.ndarray] = field(default_factory=dict)
    pca: tuple[np.ndarray, np.ndarray] | None = None


def run_card(run_dir: Path, checkpoint: Path, generator: RunGenerator) -> dict:
    """card.json for a run's checkpoint: its config, data, epoch and the last evaluation
    at or before that epoch (SWD, MS-SSIM and the real data's floors)."""
    from dcgan.runs.folder import read_metrics, read_status
    from dcgan.train.checkpoints import checkpoint_epoch

    config = generator.config
    epoch = checkpoint_epoch(checkpoint)
    evals = [r for r in read_metrics(run_dir)
             if r.get("kind") == "eval" and "swd" in r and r.get("epoch", 0) <= epoch]
    quality = None
    if evals:
        last = evals[-1]
        quality = {key: last.get(key) for key in (
            "epoch", "swd", "swd_floor", "ms_ssim", "ms_ssim_real", "eval_images", "held_out")}
    return card(generator, source=f"{run_dir.name} @ {checkpoint.name}", epoch=epoch,
                quality=quality, train_images=read_status(run_dir).get("train_images"),
                config=config.to_dict() if config else None)


def demo_card(generator: RunGenerator) -> dict:
    """card.json of the bundled demo: its config and the figures of its model card."""
    from dcgan.explore.export import DEMO_DIR

    config = json.loads((DEMO_DIR / "config.json").read_text())
    measured = json.loads((DEMO_DIR / "card.json").read_text())
    return card(generator, source="bundled demo generator", epoch=measured["epoch"],
                quality=measured["quality"], train_images=measured["train_images"],
                config=config)


def card_for(generator: RunGenerator, run_dir: Path | None, checkpoint: Path | None,
             demo: bool = False) -> dict:
    """The card of a run's checkpoint, of the demo, or (an upload) of what is known."""
    if run_dir is not None and checkpoint is not None:
        return run_card(run_dir, checkpoint, generator)
    return demo_card(generator) if demo else card(generator, source=generator.label)


def bundle_of(ws, generator: RunGenerator, run_dir: Path | None = None,
              checkpoint: Path | None = None) -> bytes:
    """The bundle of a run's checkpoint (or, without one, the demo), with its labelled
    directions and its PCA directions (from the workspace's cache, else computed now)."""
    from dcgan.explore.export import DEMO_GENERATOR, load_demo_directions
    from dcgan.explore.latent import (
        PCA_COMPONENTS,
        PCA_SAMPLES,
        load_pca,
        pca_cache_file,
        pca_directions,
        save_pca,
    )
    from dcgan.runs.folder import load_directions

    latent = generator.latent_dim
    if run_dir is None:
        directions, source = load_demo_directions(latent), DEMO_GENERATOR
    else:
        directions = {name: np.asarray(v, np.float32)
                      for name, v in load_directions(run_dir).items() if len(v) == latent}
        source = checkpoint
    cache = pca_cache_file(ws.pca_dir, source, PCA_SAMPLES, PCA_COMPONENTS)
    pca = load_pca(cache)
    if pca is None:
        pca = pca_directions(generator.features, latent, PCA_SAMPLES, PCA_COMPONENTS)
        save_pca(cache, *pca)
    return write_bundle(generator, card_for(generator, run_dir, checkpoint, demo=run_dir is None),
                        directions, pca)


def card_summary(card_data: dict) -> str:
    """One line about a card: data, epoch and quality where known."""
    parts = []
    if card_data.get("dataset"):
        size = card_data.get("train_images")
        parts.append(f"trained on {card_data['dataset']}"
                     + (f" ({size:,} images)" if isinstance(size, int) else ""))
    if card_data.get("epoch") is not None:
        parts.append(f"epoch {card_data['epoch']}")
    q = card_data.get("quality") or {}
    if isinstance(q.get("swd"), int | float) and isinstance(q.get("swd_floor"), int | float):
        parts.append(f"SWD {q['swd']:.1f} ({q['swd'] / q['swd_floor']:.1f}x the real floor)")
    if isinstance(q.get("ms_ssim"), int | float):
        real = q.get("ms_ssim_real")
        parts.append(f"MS-SSIM {q['ms_ssim']:.3f}"
                     + (f" (real {real:.3f})" if isinstance(real, int | float) else ""))
    return ", ".join(parts) or "no training record"


def card(generator: RunGenerator, *, source: str, epoch: int | None = None,
         quality: dict | None = None, train_images: int | None = None,
         config: dict | None = None) -> dict:
    """The card of any generator; the run-specific fields are None when unknown."""
    return {
        "format": FORMAT,
        "latent_dim": generator.latent_dim,
        "value_range": list(generator.value_range),
        "source": source,
        "preset": (config or {}).get("preset"),
        "dataset": (config or {}).get("data", {}).get("dataset"),
        "train_images": train_images,
        "epoch": epoch,
        "quality": quality,
        "config": config,
        "data_crop": generator.data_crop,  # how its training photos were cropped
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_bundle(generator: RunGenerator, card_data: dict,
                 directions: dict[str, np.ndarray] | None = None,
                 pca: tuple[np.ndarray, np.ndarray] | None = None) -> bytes:
    """The bundle's zip bytes (the generator saved afresh as .keras)."""
    with tempfile.TemporaryDirectory(prefix="dcgan-bundle-") as tmp:
        path = Path(tmp) / GENERATOR
        generator.model.save(path)
        model_bytes = path.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(GENERATOR, model_bytes)
        zf.writestr(CARD, json.dumps(card_data, indent=2))
        zf.writestr(DIRECTIONS, json.dumps(
            {name: np.asarray(v, float).tolist() for name, v in (directions or {}).items()}))
        if pca is not None:
            zf.writestr(PCA, json.dumps({"directions": np.asarray(pca[0], float).tolist(),
                                         "explained": np.asarray(pca[1], float).tolist()}))
    return buf.getvalue()


def read_bundle(data: bytes) -> Bundle:
    """Check and open a bundle's bytes; BundleError on anything unexpected."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise BundleError("not a zip file: a bundle is the zip that Export writes") from None
    with archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        unknown = sorted(set(names) - MEMBERS)
        if unknown or len(names) != len(set(names)):
            raise BundleError(f"unexpected members {unknown or 'repeated names'}; a bundle "
                              f"holds only {', '.join(sorted(MEMBERS))}")
        for required in (GENERATOR, CARD):
            if required not in names:
                raise BundleError(f"{required} is missing")
        members = {i.filename: _read(archive, i) for i in infos}
    card_data = _json(members[CARD], CARD)
    latent = _card_latent(card_data)
    generator = load_generator_file(members[GENERATOR], GENERATOR)
    if generator.latent_dim != latent:
        raise BundleError(f"{CARD} says latent size {latent}, but the generator takes "
                          f"{generator.latent_dim}")
    generator.label = f"bundle: {card_data.get('source') or 'uploaded'}"
    crop = card_data.get("data_crop")
    generator.data_crop = crop if isinstance(crop, dict) else None
    directions = _directions(_json(members[DIRECTIONS], DIRECTIONS), latent) \
        if DIRECTIONS in members else {}
    pca = _pca(_json(members[PCA], PCA), latent) if PCA in members else None
    return Bundle(generator, card_data, directions, pca)


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, refusing declared or real sizes above its cap (zip bombs)."""
    cap = MAX_MODEL_BYTES if info.filename == GENERATOR else MAX_JSON_BYTES
    if info.flag_bits & 0x1:
        raise BundleError(f"{info.filename} is encrypted")
    if info.file_size > cap:
        raise BundleError(f"{info.filename} is {info.file_size:,} bytes; at most {cap:,}")
    try:
        with archive.open(info) as fh:
            out = fh.read(cap + 1)
    except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as exc:
        raise BundleError(f"{info.filename} is unreadable ({exc})") from None
    if len(out) > cap:
        raise BundleError(f"{info.filename} is larger than {cap:,} bytes")
    return out


def _json(data: bytes, name: str):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{name} is not valid JSON ({exc})") from None


def _card_latent(card_data) -> int:
    if not isinstance(card_data, dict):
        raise BundleError(f"{CARD} must be a JSON object")
    latent = card_data.get("latent_dim")
    if not isinstance(latent, int) or isinstance(latent, bool) or not 1 <= latent <= 4096:
        raise BundleError(f"{CARD}: latent_dim must be a whole number in 1..4096")
    value_range = card_data.get("value_range")
    if value_range not in ([0, 1], [-1, 1], [0.0, 1.0], [-1.0, 1.0]):
        raise BundleError(f"{CARD}: value_range must be [0, 1] or [-1, 1]")
    return latent


def _vector(raw, latent: int, what: str) -> np.ndarray:
    if not (isinstance(raw, list) and len(raw) == latent
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw)):
        raise BundleError(f"{what} must be a list of {latent} numbers")
    v = np.asarray(raw, np.float64)
    if not np.isfinite(v).all() or not np.linalg.norm(v):
        raise BundleError(f"{what} must be finite and not all zero")
    return (v / np.linalg.norm(v)).astype(np.float32)


def _directions(raw, latent: int) -> dict[str, np.ndarray]:
    if not isinstance(raw, dict) or len(raw) > MAX_DIRECTIONS:
        raise BundleError(f"{DIRECTIONS} must be an object of at most {MAX_DIRECTIONS} "
                          "name -> vector")
    out = {}
    for name, vector in raw.items():
        if not 1 <= len(name) <= 64:
            raise BundleError(f"{DIRECTIONS}: names must be 1-64 characters")
        out[name] = _vector(vector, latent, f"{DIRECTIONS}: {name!r}")
    return out


def _pca(raw, latent: int) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(raw, dict) or set(raw) != {"directions", "explained"}:
        raise BundleError(f"{PCA} must be an object with directions and explained")
    rows, explained = raw["directions"], raw["explained"]
    if not isinstance(rows, list) or not isinstance(explained, list) \
            or len(rows) != len(explained) or not 1 <= len(rows) <= MAX_DIRECTIONS:
        raise BundleError(f"{PCA}: directions and explained must be lists of equal length")
    dirs = np.stack([_vector(r, latent, f"{PCA}: direction {i + 1}")
                     for i, r in enumerate(rows)])
    if not all(isinstance(x, int | float) and math.isfinite(x) and 0 <= x <= 1
               for x in explained):
        raise BundleError(f"{PCA}: explained must be fractions in [0, 1]")
    return dirs, np.asarray(explained, np.float32)
