"""Face crops on real photographs: `python -m bench --only faces` (needs ../shared/data).

1. Found: `import`, then `prepare --crop face` with the defaults, on CelebA-8k and
   UTKFace-7.8k (the shared sets, imported as a user would): the share of photos that gave a
   face, the reasons of the others, photos/s on this machine's cores.
2. Moved: faces of each set pasted onto 1024 px cluttered canvases (no other face on them)
   with a random rotation (+-30 degrees), size (face box 40-300 px wide, log-uniform) and
   position: the share found, among faces >= 60 px wide; and the alignment error, the eyes'
   positions in the 64 px crop against where the untransformed photo's crop puts them (the
   true eye positions are the untransformed landmarks carried through the known transform).
3. Speed: `prepare --crop face` of photos 512, 1024 and 2048 px wide (one face each).
4. A contact sheet of each set's first photos with what was found drawn on them, written to
   bench/out/ (never committed: the sets' terms forbid publishing their photos).

Without the shared data the benchmark says so and measures nothing of it; `--quick` runs a
few photos of each set (or, without the sets, the test photo of the astronaut) as a smoke run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from bench.common import ROOT, Report

SHARED = ROOT.parent / "shared" / "data"
SETS = {"celeba": ("celeba-8k.zip", "CelebA-8k (89x109 aligned photos)"),
        "utkface": ("utkface-7.8k.zip", "UTKFace-7.8k (200x200 face crops, all ages)")}
GOALS = {"celeba": 0.99, "utkface": 0.97}
ASTRONAUT = ROOT / "tests" / "data" / "astronaut.jpg"


def clutter(size: int, rng: np.random.Generator) -> Image.Image:
    """A busy background with no face: blurred noise, rectangles, ellipses and lines."""
    base = rng.uniform(30, 220, (size // 32, size // 32, 3)).astype(np.uint8)
    canvas = Image.fromarray(base).resize((size, size), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(canvas)
    for _ in range(60):
        x, y = rng.uniform(0, size, 2)
        w, h = rng.uniform(10, size / 5, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.rectangle((x, y, x + w, y + h), fill=colour)
        elif shape == 1:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        else:
            draw.line((x, y, x + w, y + h), fill=colour, width=int(rng.integers(2, 9)))
    return canvas.filter(ImageFilter.GaussianBlur(1.0))


def paste(photo: Image.Image, canvas: Image.Image, matrix: np.ndarray, offset: np.ndarray
          ) -> Image.Image:
    """`photo` drawn on `canvas` by canvas = matrix @ photo + offset (bicubic)."""
    inverse = np.linalg.inv(matrix)
    shift = -inverse @ offset
    data = (inverse[0, 0], inverse[0, 1], shift[0], inverse[1, 0], inverse[1, 1], shift[1])
    rgba = photo.convert("RGBA")
    layer = rgba.transform(canvas.size, Image.Transform.AFFINE, data,
                           resample=Image.Resampling.BICUBIC)
    out = canvas.convert("RGBA")
    out.alpha_composite(layer)
    return out.convert("RGB")


def moved(photos: list[Image.Image], count: int, seed: int = 0) -> dict:
    """Section 2 on `count` photos: detection rate by width and alignment error."""
    from dcgan.data.faces import FaceCrop, crop_faces, face_square, shared_finder

    finder, rng = shared_finder(), np.random.default_rng(seed)
    crop = FaceCrop()
    found, big, errors, skipped_ref = 0, 0, [], 0
    rows = []
    for photo in photos[:count]:
        reference = finder.find(photo)
        if not reference:
            skipped_ref += 1
            continue
        face = reference[0]
        eyes0 = np.array([face.landmarks["left_eye"], face.landmarks["right_eye"]])
        target0 = face_square(face.landmarks, crop.zoom).to_output(eyes0, 64)
        width = float(np.exp(rng.uniform(np.log(40), np.log(300))))
        scale = width / face.box[2]
        angle = np.radians(rng.uniform(-30, 30))
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        matrix = scale * rotation
        corners = np.array([[0, 0], [photo.width, 0], [0, photo.height],
                            [photo.width, photo.height]], float) @ matrix.T
        span = corners.max(axis=0) - corners.min(axis=0)
        room = np.maximum(1024 - span, 1)
        offset = rng.uniform(0, 1, 2) * room - corners.min(axis=0)
        canvas = paste(photo, clutter(1024, rng), matrix, offset)
        centre = matrix @ np.array([face.box[0] + face.box[2] / 2,
                                    face.box[1] + face.box[3] / 2]) + offset
        true_eyes = eyes0 @ matrix.T + offset
        kept, _, _ = crop_faces(canvas, finder, crop, 64)
        near = [r for r in kept if np.hypot(r["box"][0] + r["box"][2] / 2 - centre[0],
                                            r["box"][1] + r["box"][3] / 2 - centre[1])
                < 0.5 * width]
        hit = bool(near)
        if width >= 60:
            big += 1
            found += hit
        if hit:
            square = face_square(near[0]["landmarks"], crop.zoom)
            error = np.abs(square.to_output(true_eyes, 64) - target0).max()
            errors.append(float(error))
        rows.append((width, hit))
    errors = np.asarray(errors)
    return {"pasted": len(rows), "big": big, "found_big": found,
            "found_all": sum(h for _, h in rows),
            "error_median": float(np.median(errors)) if len(errors) else float("nan"),
            "error_p95": float(np.percentile(errors, 95)) if len(errors) else float("nan"),
            "no_reference": skipped_ref}


def _import(home: Path, name: str, source: Path, limit: int | None = None) -> None:
    """Import the zip `source` as dataset `name`, as a user would; with `limit`, only its
    first `limit` photos (copied out of the zip first: a smoke run)."""
    import tempfile
    import zipfile

    from dcgan.data.ingest import import_source
    from dcgan.workspace import Workspace

    ws = Workspace(home).ensure()
    if (ws.dataset_dir(name) / "import_report.json").is_file():
        return
    shutil.rmtree(ws.dataset_dir(name), ignore_errors=True)
    if limit is None:
        import_source(ws, [str(source)], name)
        return
    with zipfile.ZipFile(source) as archive, tempfile.TemporaryDirectory() as tmp:
        members = sorted(n for n in archive.namelist() if n.lower().endswith(".jpg"))
        for member in members[:limit]:
            (Path(tmp) / Path(member).name).write_bytes(archive.read(member))
        import_source(ws, [tmp], name)


def found_in_set(home: Path, name: str) -> dict:
    """Section 1: prepare --crop face from scratch; its counts and speed."""
    from dcgan.data.crop_report import crop_summary
    from dcgan.data.prepare import load_cache, prepare_dataset
    from dcgan.workspace import Workspace

    ws = Workspace(home)
    shutil.rmtree(ws.cache_dir(name), ignore_errors=True)
    start = time.perf_counter()
    result = prepare_dataset(ws, name, crop="face")
    seconds = time.perf_counter() - start
    _, manifest = load_cache(ws, name)
    summary = crop_summary(manifest)
    reasons: dict[str, int] = {}
    for item in manifest["skipped"]:
        reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
    return {**summary, "seconds": seconds, "reasons": reasons, "count": result.count}


def framing(manifest: dict, zoom: float, crop_side: float | None = None) -> dict:
    """Median eye distance (px at 64) of the face crops, and, for CelebA's aligned photos,
    of the CelebA-64 convention: a centre crop `crop_side` px square (108 at full size, 54
    at the shared set's half size), the eyes being the detected ones."""
    from dcgan.data.faces import face_square

    ours, theirs = [], []
    for entry in manifest["images"]:
        marks = entry["landmarks"]
        eyes = np.array([marks["left_eye"], marks["right_eye"]])
        out = face_square(marks, zoom).to_output(eyes, 64)
        ours.append(float(np.hypot(*(out[1] - out[0]))))
        if crop_side:
            theirs.append(float(np.hypot(*(eyes[1] - eyes[0]))) * 64 / crop_side)
    return {"ours": float(np.median(ours)),
            "celeba64": float(np.median(theirs)) if theirs else None}


def startup_seconds() -> float:
    """What a fresh process pays once before its first face: importing TensorFlow and
    building MTCNN's networks (the speed figures below are of a process past that)."""
    code = ("import time; t = time.perf_counter(); "
            "from dcgan.data.faces import shared_finder; shared_finder(); "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return float(out.stdout.strip().splitlines()[-1])


def speed(home: Path, photos: list[Image.Image], per_size: int) -> dict[int, float]:
    """Section 3: photos/s of prepare --crop face, by photo width (one face per photo), in
    this process (TensorFlow and the face finder loaded, as in the app)."""
    from dcgan.data.faces import shared_finder
    from dcgan.data.prepare import prepare_dataset
    from dcgan.workspace import Workspace

    shared_finder()

    ws = Workspace(home)
    rng = np.random.default_rng(7)
    rates = {}
    for side in (512, 1024, 2048):
        name = f"speed-{side}"
        folder = ws.dataset_dir(name)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(ws.cache_dir(name), ignore_errors=True)
        folder.mkdir(parents=True)
        for i in range(per_size):
            photo = photos[i % len(photos)]
            scale = side * rng.uniform(0.15, 0.3) / photo.width
            matrix = np.eye(2) * scale
            room = side - np.array(photo.size) * scale
            canvas = paste(photo, clutter(side, rng).resize((side, side * 3 // 4)),
                           matrix, rng.uniform(0, 1, 2) * np.maximum(room - [0, side / 4], 1))
            canvas.save(folder / f"photo_{i:04d}.jpg", quality=90)
        start = time.perf_counter()
        prepare_dataset(ws, name, crop="face")
        rates[side] = per_size / (time.perf_counter() - start)
    return rates


def sheet(home: Path, name: str, out: Path) -> Path:
    from dcgan.data.crop_report import crop_sheet
    from dcgan.data.prepare import load_cache
    from dcgan.workspace import Workspace

    ws = Workspace(home)
    images, manifest = load_cache(ws, name)
    picture = crop_sheet(ws.dataset_dir(name), manifest, images, photos=12, height=128)
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out)
    return out


def run(quick: bool = False, out_dir: Path = ROOT) -> Report:
    from dcgan.data.prepare import load_cache
    from dcgan.workspace import Workspace

    report = Report("faces", out_dir)
    home = out_dir / "bench" / "out" / "faces-workspace"
    available = {key: SHARED / zip_name for key, (zip_name, _) in SETS.items()
                 if (SHARED / zip_name).is_file()}
    if not available:
        report.lines.append(f"Not measured on real faces: the shared sets are not in "
                            f"{SHARED} (see the README's Real faces).")
    count, pasted, per_size = (12, 4, 2) if quick else (None, 300, 120)
    all_photos: list[Image.Image] = []
    lines = []
    for key, source in available.items():
        name = f"{key}-{count}" if count else key
        _import(home, name, source, count)
        result = found_in_set(home, name)
        share = result["photos_used"] / max(1, result["photos"] - result["unreadable"]
                                            - result["duplicates"])
        report.figure(f"{key}_share_found", share, "share")
        report.figure(f"{key}_photos_per_s", result["photos"] / result["seconds"], "photos/s")
        report.figure(f"{key}_seconds", result["seconds"], "s")
        ws = Workspace(home)
        _, manifest = load_cache(ws, name)
        photos = []
        for entry in manifest["images"][:pasted]:
            with Image.open(ws.dataset_dir(name) / entry["file"]) as img:
                photos.append(img.convert("RGB"))
        all_photos += photos
        frame = framing(manifest, manifest["settings"]["face_zoom"],
                        54.0 if key == "celeba" else None)
        report.figure(f"{key}_eye_distance_px", frame["ours"], "px at 64")
        movement = moved(photos, pasted, seed=1)
        big_rate = movement["found_big"] / max(1, movement["big"])
        report.figure(f"{key}_pasted_found_60px", big_rate, "share")
        report.figure(f"{key}_eye_error_median_px", movement["error_median"], "px at 64")
        report.figure(f"{key}_eye_error_p95_px", movement["error_p95"], "px at 64")
        picture = sheet(home, name, out_dir / "bench" / "out" / f"faces-{key}.png")
        lines += [
            f"**{SETS[key][1]}**: {result['photos']:,} photos, faces used from "
            f"**{share:.1%}** (goal {GOALS[key]:.0%}; "
            + ", ".join(f"{n} {r}" for r, n in sorted(result["reasons"].items()))
            + f") in {result['seconds']:.0f} s (**{result['photos'] / result['seconds']:.1f} "
            f"photos/s**). Pasted onto 1024 px canvases ({movement['pasted']} faces): "
            f"**{big_rate:.1%}** of the {movement['big']} at least 60 px wide found "
            f"({movement['found_all']} of all {movement['pasted']}); eye error at 64 px: "
            f"median **{movement['error_median']:.2f} px**, 95th percentile "
            f"**{movement['error_p95']:.2f} px**. Eyes {frame['ours']:.1f} px apart in the "
            "64 px crops (median)"
            + (f"; CelebA-64's centre crop of the same photos puts them {frame['celeba64']:.1f} "
               "px apart" if frame["celeba64"] else "")
            + f". Contact sheet: `{picture.relative_to(out_dir)}` (not committed).", ""]
    if not all_photos:
        with Image.open(ASTRONAUT) as img:
            all_photos = [img.convert("RGB")]
        if quick:
            movement = moved(all_photos * pasted, pasted, seed=1)
            report.figure("astronaut_eye_error_median_px", movement["error_median"], "px at 64")
            lines.append(f"Smoke run on the test photo (astronaut): eye error median "
                         f"{movement['error_median']:.2f} px.")
    rates = speed(home, all_photos, per_size)
    for side, rate in rates.items():
        report.figure(f"prepare_face_photos_per_s_{side}px", rate, "photos/s")
    startup = startup_seconds()
    report.figure("face_finder_startup_s", startup, "s")
    report.lines += [
        *lines,
        f"`prepare --crop face` of photos with one face each ({per_size} per size, the "
        "machine's cores, in a process that has loaded TensorFlow and the face finder, as "
        "the app has after its first use): " + ", ".join(
            f"{side} px wide **{rate:.1f} photos/s**" for side, rate in rates.items())
        + f" (goal 10 at 1024). A fresh `python -m dcgan prepare` pays **{startup:.1f} s** "
        "once before its first face (importing TensorFlow, building the networks)."]
    report.write()
    return report
