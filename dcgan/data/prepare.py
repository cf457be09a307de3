"""DATA/DATASET/<name> -> DATA/DATA_SCALE/<name>: the 64x64 uint8 cache the trainer reads.

Outputs, each replaced atomically:
- images.npy     (N, size, size, 3) uint8, memory-mappable (np.load(mmap_mode="r"));
- manifest.json  settings, one entry per image (file, sha256, bytes, mtime, source size),
                 skipped files with reasons, duplicates dropped;
- preview.png    a grid of the first 64 images.
Incremental: files whose size and mtime are unchanged reuse their cached row, so a re-run
on an unchanged dataset reads no image and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dcgan.data.images import crop_resize, decode_image, image_grid
from dcgan.data.ingest import is_junk
from dcgan.errors import DatasetError, ImageRejected
from dcgan.parallel import map_in_processes, one_blas_thread
from dcgan.workspace import Workspace

CACHE_VERSION = 1
PARALLEL_MIN_FILES = 400  # below this a process pool costs more than it saves
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class PrepareResult:
    """What one `prepare` did: counts, and whether anything was (re)computed."""

    count: int
    processed: int
    reused: int
    skipped: int
    duplicates: int
    up_to_date: bool
    cache_dir: Path


def _process_one(path: str, size: int) -> dict:
    """Read, hash, decode and crop one file; runs in a worker process."""
    data = Path(path).read_bytes()
    entry = {"sha256": hashlib.sha256(data).hexdigest()}
    try:
        img = decode_image(data, draft_to=size)
    except ImageRejected as exc:
        entry.update(reason=exc.reason, detail=exc.detail)
        return entry
    entry["source_size"] = list(img.size)
    entry["pixels"] = crop_resize(img, size)
    return entry


def _process_chunk(args: tuple[list[str], int]) -> tuple[list[dict], np.ndarray]:
    """Process files in a worker; pixels come back as one array (one pickle, not many)."""
    paths, size = args
    with one_blas_thread():
        entries = [_process_one(p, size) for p in paths]
    pixels = [e.pop("pixels") for e in entries if "pixels" in e]
    block = np.stack(pixels) if pixels else np.empty((0, size, size, 3), np.uint8)
    return entries, block


def _scan(source_dir: Path) -> list[tuple[str, int, int]]:
    """(relative path, bytes, mtime_ns) of every candidate image, sorted, links not followed."""
    found = []
    stack = [(str(source_dir), "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        stack.append((entry.path, rel + "/"))
                elif entry.is_file(follow_symlinks=False) and not is_junk(rel):
                    st = entry.stat(follow_symlinks=False)
                    found.append((rel, st.st_size, st.st_mtime_ns))
    return sorted(found)


def _load_previous(cache_dir: Path, settings: dict) -> tuple[dict, np.ndarray | None]:
    try:
        manifest = json.loads((cache_dir / "manifest.json").read_text())
        if manifest.get("settings") != settings:
            return {}, None
        images = np.load(cache_dir / "images.npy", mmap_mode="r")
        if images.shape[0] != manifest["count"]:
            return {}, None
    except (OSError, ValueError, KeyError):
        return {}, None
    return manifest, images


def _compute(paths: list[str], size: int, workers: int,
             progress_fn: ProgressFn | None, total: int, done: int) -> list[dict]:
    if workers <= 1 or len(paths) < PARALLEL_MIN_FILES:
        results = []
        with one_blas_thread():
            for p in paths:
                results.append(_process_one(p, size))
                done += 1
                if progress_fn and (done % 64 == 0 or done == total):
                    progress_fn(done, total)
        return results
    chunk = max(16, min(256, len(paths) // (workers * 8)))
    jobs = [(paths[i:i + chunk], size) for i in range(0, len(paths), chunk)]
    results = []
    for entries, block in map_in_processes(_process_chunk, jobs, workers):
        rows = iter(block)
        for entry in entries:
            if "reason" not in entry:
                entry["pixels"] = next(rows)
        results.extend(entries)
        done += len(entries)
        if progress_fn:
            progress_fn(done, total)
    return results


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary file, then rename: readers see the old or the new file, whole.

    No fsync: the cache is derived data, and a file torn by a power cut fails the shape
    checks of load_cache / CacheReader, which makes the next prepare rebuild it.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def prepare_dataset(workspace: Workspace, name: str, *, size: int = 64,
                    workers: int | None = None,
                    progress_fn: ProgressFn | None = None) -> PrepareResult:
    """Build or refresh the cache of dataset `name`; see the module docstring."""
    if not 8 <= size <= 512:
        raise DatasetError(f"size must be between 8 and 512, got {size}")
    source_dir = workspace.dataset_dir(name)
    if not source_dir.is_dir():
        raise DatasetError(f"no dataset named {name!r} in {workspace.datasets_dir}")
    cache_dir = workspace.cache_dir(name)
    settings = {"size": size, "crop": "center", "version": CACHE_VERSION}
    files = _scan(source_dir)
    previous, old_images = _load_previous(cache_dir, settings)
    old_entries = {e["file"]: (i, e) for i, e in enumerate(previous.get("images", []))}
    old_skipped = {s["file"]: s for s in previous.get("skipped", [])}

    reuse: dict[str, tuple[int, dict]] = {}
    todo: list[str] = []
    for rel, nbytes, mtime in files:
        hit = old_entries.get(rel) or (None, old_skipped.get(rel))
        entry = hit[1]
        if entry and entry["bytes"] == nbytes and entry["mtime_ns"] == mtime:
            reuse[rel] = hit
        else:
            todo.append(rel)
    listed = {e["file"] for e in previous.get("images", [])} | set(old_skipped) | {
        d["file"] for d in previous.get("duplicates", [])}
    if previous and not todo and listed == {rel for rel, _, _ in files}:
        return PrepareResult(previous["count"], 0, previous["count"], len(old_skipped),
                             len(previous.get("duplicates", [])), True, cache_dir)

    workers = workers or os.cpu_count() or 1
    computed = _compute([str(source_dir / rel) for rel in todo], size, workers, progress_fn,
                        len(files), len(files) - len(todo))
    fresh = dict(zip(todo, computed, strict=True))

    entries, skipped, duplicates, rows = [], [], [], []
    seen: dict[str, str] = {}
    for rel, nbytes, mtime in files:
        meta = {"file": rel, "bytes": nbytes, "mtime_ns": mtime}
        if rel in fresh:
            result = fresh[rel]
            pixels = result.pop("pixels", None)
        else:
            index, old = reuse[rel]
            result = {k: v for k, v in old.items() if k not in meta}
            pixels = None if index is None else old_images[index]
        if pixels is None:
            skipped.append({**meta, **result})
            continue
        if result["sha256"] in seen:
            duplicates.append({"file": rel, "duplicate_of": seen[result["sha256"]]})
            continue
        seen[result["sha256"]] = rel
        entries.append({**meta, "sha256": result["sha256"], "source_size": result["source_size"]})
        rows.append(pixels)
    if not rows:
        reasons = sorted({s["reason"] for s in skipped})
        raise DatasetError(
            f"dataset {name!r} has no usable images ({len(files)} files; "
            f"skipped: {', '.join(reasons) or 'none found'})"
        )

    cache_dir.mkdir(parents=True, exist_ok=True)
    shape = (len(rows), size, size, 3)

    def write_npy(tmp: Path) -> None:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        for start in range(0, len(rows), 4096):  # in blocks: no second full copy in memory
            block = rows[start:start + 4096]
            np.stack(block, out=out[start:start + len(block)])
        out.flush()
        del out

    _write_atomic(cache_dir / "images.npy", write_npy)
    manifest = {"dataset": name, "settings": settings, "count": len(entries), "images": entries,
                "skipped": skipped, "duplicates": duplicates}
    _write_atomic(cache_dir / "manifest.json",
                  lambda tmp: tmp.write_text(json.dumps(manifest, separators=(",", ":"))))
    _write_atomic(cache_dir / "preview.png",
                  lambda tmp: image_grid(np.stack(rows[:64])).save(tmp, format="PNG"))
    return PrepareResult(len(entries), len(todo), len(files) - len(todo), len(skipped),
                         len(duplicates), False, cache_dir)


def cached_count(workspace: Workspace, name: str) -> int:
    """How many images the prepared cache of `name` holds (DatasetError if not prepared)."""
    from dcgan.data.cache import CacheReader

    return len(CacheReader(workspace.prepared_cache(name)))


def load_cache(workspace: Workspace, name: str) -> tuple[np.ndarray, dict]:
    """The prepared images (memory-mapped, read-only) and the manifest of dataset `name`."""
    cache_dir = workspace.cache_dir(name)
    try:
        manifest = json.loads((cache_dir / "manifest.json").read_text())
        images = np.load(cache_dir / "images.npy", mmap_mode="r")
    except FileNotFoundError:
        raise DatasetError(
            f"dataset {name!r} is not prepared yet: run `python -m dcgan prepare {name}`"
        ) from None
    return images, manifest
