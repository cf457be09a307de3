"""What a prepared cache's crop did, for people: counts by outcome, a warning when few photos
had a face, and a contact sheet of source photos with what was found drawn on them beside
the images made from them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

FACE_SKIPS = ("face-too-small", "low-confidence", "face-at-edge")
FEW_FACES = 0.5  # under this share of photos with a face, the page warns


def crop_summary(manifest: dict) -> dict:
    """Counts of a cache's manifest: photos, images, photos with no face, faces skipped by
    reason (in photos that gave no image and in those that did), the crop's settings."""
    settings = manifest.get("settings", {})
    images = manifest.get("images", [])
    skipped = manifest.get("skipped", [])
    photos_used = len({e["file"] for e in images})
    reasons = Counter(s["reason"] for s in skipped)
    # every face found and not used is in faces_skipped (those of photos skipped too)
    face_skips = Counter(s["reason"] for s in manifest.get("faces_skipped", []))
    photos = photos_used + len(skipped) + len(manifest.get("duplicates", []))
    return {"crop": settings.get("crop", "center"), "settings": settings, "photos": photos,
            "photos_used": photos_used, "images": len(images),
            "duplicates": len(manifest.get("duplicates", [])),
            "no_face": reasons.get("no-face", 0), "face_skips": dict(face_skips),
            "unreadable": sum(n for r, n in reasons.items()
                              if r != "no-face" and r not in FACE_SKIPS)}


def few_faces_advice(summary: dict) -> str | None:
    """A warning when a face crop found usable faces in under FEW_FACES of the photos."""
    readable = summary["photos"] - summary["unreadable"] - summary["duplicates"]
    if summary["crop"] != "face" or readable == 0 or \
            summary["photos_used"] >= FEW_FACES * readable:
        return None
    return (f"Faces were used from only {summary['photos_used']:,} of {readable:,} photos. "
            "If these are not photos of people, prepare them with the centre square instead; "
            "if they are, use photos where each face is at least "
            f"{summary['settings'].get('min_face', 40)} px wide, seen from the front and "
            "not cut off by the edge (group shots and distant faces give few).")


def crop_sheet(source_dir: Path, manifest: dict, images: np.ndarray, photos: int = 6,
               height: int = 160) -> Image.Image | None:
    """The first `photos` source photos that gave images, each scaled to `height` px with
    its faces' boxes and landmarks drawn (green: used, red: skipped), followed by the 64 px
    images made from it. None when the cache has no face crops."""
    if manifest.get("settings", {}).get("crop") != "face":
        return None
    by_file: dict[str, list[int]] = {}
    for row, entry in enumerate(manifest.get("images", [])):
        by_file.setdefault(entry["file"], []).append(row)
    skipped: dict[str, list[dict]] = {}
    for item in manifest.get("faces_skipped", []):
        skipped.setdefault(item["file"], []).append(item)
    strips = []
    for name in list(by_file)[:photos]:
        try:
            with Image.open(source_dir / name) as img:
                photo = ImageOps.exif_transpose(img).convert("RGB")
        except OSError:
            continue
        scale = height / photo.height
        photo = photo.resize((max(1, round(photo.width * scale)), height),
                             Image.Resampling.LANCZOS)
        draw = ImageDraw.Draw(photo)
        entries = [manifest["images"][r] for r in by_file[name]]
        for face, colour in [(e, (40, 220, 90)) for e in entries] + \
                [(s, (235, 60, 60)) for s in skipped.get(name, [])]:
            if "box" not in face:
                continue
            x, y, w, h = (v * scale for v in face["box"])
            draw.rectangle((x, y, x + w, y + h), outline=colour, width=2)
            for px, py in (np.asarray(list(face["landmarks"].values())) * scale):
                draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
        crops = [Image.fromarray(np.asarray(images[r])).resize((height // 2, height // 2),
                                                              Image.Resampling.NEAREST)
                 for r in by_file[name]]
        width = photo.width + 6 + sum(c.width + 4 for c in crops)
        strip = Image.new("RGB", (width, height), (24, 24, 24))
        strip.paste(photo, (0, 0))
        x = photo.width + 6
        for crop in crops:
            strip.paste(crop, (x, (height - crop.height) // 2))
            x += crop.width + 4
        strips.append(strip)
    if not strips:
        return None
    sheet = Image.new("RGB", (max(s.width for s in strips), sum(s.height + 4 for s in strips)),
                      (24, 24, 24))
    y = 0
    for strip in strips:
        sheet.paste(strip, (0, y))
        y += strip.height + 4
    return sheet


def not_used(manifest: dict) -> list[dict]:
    """Rows for a table: each photo that gave no image, with why, then each face not used
    from the photos that did give images."""
    skipped = manifest.get("skipped", [])
    photos = {s["file"] for s in skipped}
    rows = [{"file": s["file"], "face": None, "reason": s["reason"],
             "detail": s.get("detail", "")} for s in skipped]
    return rows + [{"file": f["file"], "face": f.get("face"), "reason": f["reason"],
                    "detail": f.get("detail", "")}
                   for f in manifest.get("faces_skipped", []) if f["file"] not in photos]
