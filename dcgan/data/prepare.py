"""DATA/DATASET/<name> -> DATA/DATA_SCALE/<name>: the 64x64 uint8 cache the trainer reads.

Outputs, each replaced atomically:
- images.npy     (N, size, size, 3) uint8, memory-mappable (np.load(mmap_mode="r"));
- manifest.json  settings, one entry per image (file, sha256, bytes, mtime, source size;
                 with face crops also the face's index, box, landmarks, confidence and
                 padded share), skipped files and faces with reasons, duplicates dropped;
- preview.png    a grid of the first 64 images.
Two crops: "center" (the largest centred square) and "face" (every face found and aligned,
dcgan.data.faces); "auto" picks centre for the built-in synthetic portraits and faces for
anything imported. Incremental: files whose size and mtime are unchanged reuse their cached
rows, so a re-run on an unchanged dataset reads no image and writes nothing; the crop and
its settings are part of the cache's key, so changing them rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dcgan.data.faces import FaceCrop
from dcgan.data.images import crop_resize, decode_image, image_grid
from dcgan.data.ingest import is_junk
from dcgan.errors import DatasetError, ImageRejected
from dcgan.parallel import map_in_processes, one_blas_thread
from dcgan.workspace import Workspace

CACHE_VERSION = 2  # 2: an entry per image (a photo may give several faces)
# From this many files on, worker processes (each importing what it needs once) beat
# threads: for face crops ~5 s of TensorFlow and MTCNN per worker, paid back after a few
# hundred photos (docs/DECISIONS.md, "Face crops"); below it faces run in threads.
PARALLEL_MIN_FILES = 400
CROPS = ("auto", "center", "face")
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
    crop: str = "center"


def _process_one(path: str, size: int, face: FaceCrop | None) -> dict:
    """Read, hash, decode and crop one file; runs in a worker process.

    Returns {"sha256", "source_size", "pixels": (k, size, size, 3), "faces": [records] or
    None, "faces_skipped": [records]} or, for a file that gives no image, {"sha256",
    "reason", "detail"}.
    """
    data = Path(path).read_bytes()
    entry = {"sha256": hashlib.sha256(data).hexdigest()}
    try:
        img = decode_image(data, draft_to=None if face else size)
    except ImageRejected as exc:
        entry.update(reason=exc.reason, detail=exc.detail)
        return entry
    entry["source_size"] = list(img.size)
    if face is None:
        entry.update(pixels=crop_resize(img, size)[None], faces=None, faces_skipped=[])
        return entry
    from dcgan.data.faces import crop_faces, shared_finder

    kept, pixels, rejected = crop_faces(img, shared_finder(), face, size)
    if not kept:
        first = rejected[0] if rejected else {"reason": "no-face",
                                              "detail": "no face was found in the photo"}
        entry.update(reason=first["reason"], detail=first["detail"], faces_skipped=rejected)
        return entry
    entry.update(pixels=pixels, faces=kept, faces_skipped=rejected)
    return entry


def _process_chunk(args: tuple[list[str], int, FaceCrop | None]
                   ) -> tuple[list[dict], np.ndarray]:
    """Process files in a worker; pixels come back as one array (one pickle, not many)."""
    paths, size, face = args
    if face is not None:
        from dcgan.data.faces import limit_threads

        limit_threads(1)  # one worker per core
    with one_blas_thread():
        entries = [_process_one(p, size, face) for p in paths]
    pixels = [e.pop("pixels") for e in entries if "pixels" in e]
    block = np.concatenate(pixels) if pixels else np.empty((0, size, size, 3), np.uint8)
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


def _compute(paths: list[str], size: int, face: FaceCrop | None, workers: int,
             progress_fn: ProgressFn | None, total: int, done: int) -> list[dict]:
    """Every file's _process_one result, in order.

    Large datasets (PARALLEL_MIN_FILES and more) go to a pool of worker processes. Fewer
    face photos run in `workers` threads of this process sharing one face finder: MTCNN's
    compiled networks, JPEG decoding and resampling release the GIL, and no worker has to
    import TensorFlow and build the networks first (~5 s, a third of preparing 120
    photos); docs/DECISIONS.md, "Face crops".
    """
    parallel = workers > 1 and len(paths) >= PARALLEL_MIN_FILES
    if face is not None and workers > 1 and len(paths) > 1 and not parallel:
        from concurrent.futures import ThreadPoolExecutor

        from dcgan.data.faces import shared_finder

        shared_finder()  # built once, before the threads share it
        results = []
        with one_blas_thread(), ThreadPoolExecutor(workers) as pool:
            for entry in pool.map(lambda p: _process_one(p, size, face), paths):
                results.append(entry)
                done += 1
                if progress_fn and (done % 4 == 0 or done == total):
                    progress_fn(done, total)
        return results
    if not parallel:
        results = []
        with one_blas_thread():
            for p in paths:
                results.append(_process_one(p, size, face))
                done += 1
                if progress_fn and (done % (4 if face else 64) == 0 or done == total):
                    progress_fn(done, total)
        return results
    chunk = max(4 if face else 16, min(256, len(paths) // (workers * 8)))
    jobs = [(paths[i:i + chunk], size, face) for i in range(0, len(paths), chunk)]
    results = []
    for entries, block in map_in_processes(_process_chunk, jobs, workers):
        start = 0
        for entry in entries:
            if "reason" not in entry:
                count = 1 if entry["faces"] is None else len(entry["faces"])
                entry["pixels"] = block[start:start + count]
                start += count
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


def resolve_crop(workspace: Workspace, name: str, crop: str) -> str:
    """"auto" -> "center" for the built-in synthetic portraits (drawn centred; the detector
    is for photographs), "face" for everything imported; other values unchanged."""
    if crop not in CROPS:
        raise DatasetError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
    if crop != "auto":
        return crop
    try:
        report = json.loads((workspace.dataset_dir(name) / "import_report.json").read_text())
    except (OSError, ValueError):
        report = {}
    return "center" if report.get("source") == "synthetic" else "face"


def prepare_dataset(workspace: Workspace, name: str, *, size: int = 64, crop: str = "auto",
                    face: FaceCrop | None = None, workers: int | None = None,
                    progress_fn: ProgressFn | None = None) -> PrepareResult:
    """Build or refresh the cache of dataset `name`; see the module docstring.

    `crop` is "auto", "center" or "face"; `face` holds the face crop's settings (defaults
    when None).
    """
    if not 8 <= size <= 512:
        raise DatasetError(f"size must be between 8 and 512, got {size}")
    source_dir = workspace.dataset_dir(name)
    if not source_dir.is_dir():
        raise DatasetError(f"no dataset named {name!r} in {workspace.datasets_dir}")
    crop = resolve_crop(workspace, name, crop)
    face = (face or FaceCrop()) if crop == "face" else None
    cache_dir = workspace.cache_dir(name)
    settings = {"size": size, "crop": crop, "version": CACHE_VERSION,
                **(face.key() if face else {})}
    files = _scan(source_dir)
    previous, old_images = _load_previous(cache_dir, settings)
    old_rows: dict[str, list[tuple[int, dict]]] = {}
    for i, e in enumerate(previous.get("images", [])):
        old_rows.setdefault(e["file"], []).append((i, e))
    old_skipped = {s["file"]: s for s in previous.get("skipped", [])}
    old_faces_skipped: dict[str, list[dict]] = {}
    for item in previous.get("faces_skipped", []):
        old_faces_skipped.setdefault(item["file"], []).append(item)

    todo: list[str] = []
    for rel, nbytes, mtime in files:
        first = old_rows[rel][0][1] if rel in old_rows else old_skipped.get(rel)
        if not (first and first["bytes"] == nbytes and first["mtime_ns"] == mtime):
            todo.append(rel)
    listed = set(old_rows) | set(old_skipped) | {d["file"] for d in
                                                 previous.get("duplicates", [])}
    if previous and not todo and listed == {rel for rel, _, _ in files}:
        return PrepareResult(previous["count"], 0, previous["count"], len(old_skipped),
                             len(previous.get("duplicates", [])), True, cache_dir, crop)

    if workspace.is_shared(name):
        raise DatasetError(f"dataset {name!r} is shared by the whole class and kept as it "
                           "is: import your own copy to prepare it another way")
    workers = workers or os.cpu_count() or 1
    computed = _compute([str(source_dir / rel) for rel in todo], size, face, workers,
                        progress_fn, len(files), len(files) - len(todo))
    fresh = dict(zip(todo, computed, strict=True))
    entries, rows, skipped, faces_skipped, duplicates = _assemble(
        files, fresh, old_rows, old_skipped, old_faces_skipped, old_images)
    if not rows:
        reasons = sorted({s["reason"] for s in skipped})
        raise DatasetError(
            f"dataset {name!r} has no usable images ({len(files)} files; "
            f"skipped: {', '.join(reasons) or 'none found'})"
            + ("; try the centre crop (--crop center) if these are not photos of faces"
               if crop == "face" else ""))
    _write_cache(cache_dir, size, rows, {
        "dataset": name, "settings": settings, "count": len(entries), "images": entries,
        "skipped": skipped, "faces_skipped": faces_skipped, "duplicates": duplicates})
    return PrepareResult(len(entries), len(todo), len(files) - len(todo), len(skipped),
                         len(duplicates), False, cache_dir, crop)


def _file_result(rel: str, fresh: dict, old_rows: dict, old_skipped: dict,
                 old_faces_skipped: dict, old_images) -> dict:
    """One file's outcome, fresh or reused: {"sha256", "skip": {"reason", "detail"} or None,
    "images": [(manifest fields of one image, its pixels)], "faces_skipped": [records]}."""
    if rel in fresh:
        result = fresh[rel]
        skip = {"reason": result["reason"], "detail": result["detail"]} \
            if "reason" in result else None
        faces = result.get("faces") or [{}]  # a centre crop: one image, no face fields
        images = [] if skip else [({"source_size": result["source_size"], **face}, row)
                                  for face, row in zip(faces, result["pixels"], strict=True)]
        return {"sha256": result["sha256"], "skip": skip, "images": images,
                "faces_skipped": result.get("faces_skipped", [])}
    rejected = old_faces_skipped.get(rel, [])
    if rel in old_skipped:
        old = old_skipped[rel]
        return {"sha256": old["sha256"], "skip": {"reason": old["reason"],
                                                  "detail": old.get("detail", "")},
                "images": [], "faces_skipped": rejected}
    drop = ("file", "bytes", "mtime_ns", "sha256")
    kept = old_rows[rel]
    return {"sha256": kept[0][1]["sha256"], "skip": None, "faces_skipped": rejected,
            "images": [({k: v for k, v in e.items() if k not in drop}, old_images[i])
                       for i, e in kept]}


def _assemble(files, fresh, old_rows, old_skipped, old_faces_skipped, old_images):
    """The new manifest's lists and the cache's rows, file by file in order, from the fresh
    results and the reused ones; a file whose bytes were seen before is a duplicate."""
    entries, rows, skipped, faces_skipped, duplicates = [], [], [], [], []
    seen: dict[str, str] = {}
    for rel, nbytes, mtime in files:
        meta = {"file": rel, "bytes": nbytes, "mtime_ns": mtime}
        out = _file_result(rel, fresh, old_rows, old_skipped, old_faces_skipped, old_images)
        faces_skipped += [{**f, "file": rel} for f in out["faces_skipped"]]
        if out["skip"]:
            skipped.append({**meta, "sha256": out["sha256"], **out["skip"]})
            continue
        if out["sha256"] in seen:
            duplicates.append({"file": rel, "duplicate_of": seen[out["sha256"]]})
            continue
        seen[out["sha256"]] = rel
        for fields, pixels in out["images"]:
            entries.append({**meta, "sha256": out["sha256"], **fields})
            rows.append(pixels)
    return entries, rows, skipped, faces_skipped, duplicates


def _write_cache(cache_dir: Path, size: int, rows: list[np.ndarray], manifest: dict) -> None:
    """images.npy, manifest.json and preview.png, each replaced atomically."""
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
    _write_atomic(cache_dir / "manifest.json",
                  lambda tmp: tmp.write_text(json.dumps(manifest, separators=(",", ":"))))
    _write_atomic(cache_dir / "preview.png",
                  lambda tmp: image_grid(np.stack(rows[:64])).save(tmp, format="PNG"))


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
