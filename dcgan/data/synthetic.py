"""Procedural portraits: the built-in dataset, so the app and the tests work offline.

Each portrait is drawn with Pillow at 2x the output size and downsampled (anti-aliasing):
background, shoulders and clothing, neck, hair (several styles), a shaded face whose shape,
skin tone and features vary, eyes with coloured irises, brows, nose, a mouth that smiles or
not, optional glasses and beard, then a small pose jitter and a directional light.
Portrait `i` of seed `s` depends only on (s, i), so any split across processes gives the
same images.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from dcgan.errors import DatasetError
from dcgan.parallel import map_in_processes

SKIN_TONES = [
    (255, 224, 196), (241, 194, 167), (224, 172, 138), (198, 134, 96),
    (161, 102, 70), (121, 76, 52), (87, 55, 39), (234, 192, 134),
]
HAIR_COLOURS = [
    (25, 20, 18), (52, 36, 28), (92, 60, 38), (140, 90, 50), (176, 120, 60),
    (218, 180, 110), (160, 60, 35), (190, 190, 190), (235, 235, 230), (110, 60, 140),
]
EYE_COLOURS = [(70, 45, 25), (100, 70, 40), (60, 110, 160), (80, 130, 80), (120, 120, 110)]
HAIR_STYLES = ("short", "long", "bob", "bald", "curly", "bun", "sidepart")


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def _jitter(rng: np.random.Generator, colour, amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def _background(rng: np.random.Generator, side: int) -> Image.Image:
    hue = rng.uniform(0, 2 * math.pi)
    base = np.array([math.cos(hue), math.cos(hue + 2.1), math.cos(hue + 4.2)])
    top = np.clip(150 + 70 * base * rng.uniform(0.2, 0.8) + rng.uniform(-40, 40), 20, 245)
    bottom = np.clip(top * rng.uniform(0.45, 0.9), 10, 240)
    t = np.linspace(0.0, 1.0, side)[:, None, None]
    column = (top[None, None, :] * (1 - t) + bottom[None, None, :] * t).astype(np.uint8)
    return Image.fromarray(column).resize((side, side), Image.Resampling.NEAREST)


def _face_polygon(cx, cy, a, b, taper, steps=48):
    points = []
    for k in range(steps):
        t = 2 * math.pi * k / steps
        lower = max(0.0, math.sin(t))
        points.append((cx + a * math.cos(t) * (1 - taper * lower**2), cy + b * math.sin(t)))
    return points


def _hair_cap(cx, cy, a, b, fringe, part, steps=24):
    """Upper hair outline over the head, closed along a fringe line above the eyes."""
    outer = [
        (cx + 1.1 * a * math.cos(t), cy - 0.05 * b + 1.12 * b * math.sin(t))
        for t in np.linspace(math.pi, 2 * math.pi, steps)
    ]
    fringe_y = cy - fringe * b
    inner = [
        (cx + 0.92 * a, cy - 0.05 * b),
        (cx + 0.75 * a, fringe_y + part * b * 0.25),
        (cx + part * a, fringe_y - 0.08 * b),
        (cx - 0.75 * a, fringe_y - part * b * 0.25),
        (cx - 0.92 * a, cy - 0.05 * b),
    ]
    return outer + inner


def _draw_back_hair(draw, rng, style, cx, cy, a, b, hair, s):
    if style in ("long", "bob"):
        bottom = cy + b * (1.6 if style == "long" else 0.75)
        draw.rounded_rectangle(
            (cx - 1.25 * a, cy - 1.1 * b, cx + 1.25 * a, bottom), radius=int(0.6 * a), fill=hair
        )
    elif style == "curly":
        for _ in range(14):
            ang = rng.uniform(math.pi * 0.9, math.pi * 2.1)
            r = rng.uniform(0.25, 0.4) * a
            px, py = cx + 1.05 * a * math.cos(ang), cy - 0.1 * b + 1.05 * b * math.sin(ang)
            draw.ellipse((px - r, py - r, px + r, py + r), fill=hair)
    elif style == "bun":
        r = 0.45 * a
        draw.ellipse((cx - r, cy - 1.35 * b - r, cx + r, cy - 1.35 * b + r), fill=hair)


def _draw_eyes(draw, rng, cx, cy, a, b, skin, hair, s):
    eye_y = cy - b * rng.uniform(0.02, 0.1)
    spacing = a * rng.uniform(0.38, 0.46)
    ew, eh = a * rng.uniform(0.24, 0.3), b * rng.uniform(0.07, 0.1)
    iris = _jitter(rng, EYE_COLOURS[rng.integers(len(EYE_COLOURS))], 15)
    look = rng.uniform(-0.25, 0.25) * ew
    brow_lift = b * rng.uniform(0.12, 0.2)
    brow_tilt = rng.uniform(-0.05, 0.06) * b
    brow_w = max(2, int(s * rng.uniform(0.018, 0.035)))
    brow_colour = _mix(hair, (30, 25, 20), 0.4)
    for side in (-1, 1):
        ex = cx + side * spacing
        draw.ellipse((ex - ew, eye_y - eh, ex + ew, eye_y + eh), fill=(245, 245, 240))
        r = eh * 0.95
        ix = ex + look
        draw.ellipse((ix - r, eye_y - r, ix + r, eye_y + r), fill=iris)
        draw.ellipse((ix - r * 0.45, eye_y - r * 0.45, ix + r * 0.45, eye_y + r * 0.45),
                     fill=(15, 12, 12))
        draw.ellipse((ix - r * 0.5, eye_y - r * 0.6, ix - r * 0.15, eye_y - r * 0.25),
                     fill=(255, 255, 255))
        draw.arc((ex - ew, eye_y - eh, ex + ew, eye_y + eh), 190, 350,
                 fill=_mix(skin, (20, 15, 15), 0.7), width=max(1, int(s * 0.01)))
        by = eye_y - brow_lift
        inner, outer = ex - side * ew * 0.9, ex + side * ew * 1.1
        draw.line([(inner, by + brow_tilt), (ex, by - b * 0.03), (outer, by + b * 0.02)],
                  fill=brow_colour, width=brow_w, joint="curve")
    return eye_y


def _draw_mouth(draw, rng, cx, cy, a, b, skin, s):
    my = cy + b * rng.uniform(0.45, 0.55)
    mw = a * rng.uniform(0.32, 0.48)
    smile = rng.uniform(-0.2, 1.0)
    lip = _mix(skin, (170, 50, 60), rng.uniform(0.35, 0.6))
    if smile > 0.55:  # open smile with teeth
        h = b * 0.16 * smile
        draw.chord((cx - mw, my - h, cx + mw, my + h), 0, 180, fill=lip)
        draw.chord((cx - mw * 0.85, my - h * 0.7, cx + mw * 0.85, my + h * 0.55), 0, 180,
                   fill=(250, 248, 240))
    else:
        curve = b * 0.1 * smile
        width = max(2, int(s * 0.022))
        draw.line([(cx - mw, my - curve), (cx, my + curve), (cx + mw, my - curve)],
                  fill=lip, width=width, joint="curve")
        draw.ellipse((cx - mw * 0.55, my + curve * 0.5, cx + mw * 0.55, my + b * 0.08 + curve),
                     fill=_mix(lip, skin, 0.35))
    return my


def render_portrait(seed: int, index: int, size: int = 128) -> Image.Image:
    """Draw portrait `index` of `seed` as a size x size RGB image."""
    rng = np.random.default_rng([seed, index])
    s = size * 2
    img = _background(rng, s)
    draw = ImageDraw.Draw(img)

    skin = _jitter(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))], 12)
    hair = _jitter(rng, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], 12)
    style = HAIR_STYLES[rng.integers(len(HAIR_STYLES))]
    cx, cy = s * (0.5 + rng.uniform(-0.04, 0.04)), s * (0.43 + rng.uniform(-0.03, 0.03))
    a, b = s * rng.uniform(0.15, 0.19), s * rng.uniform(0.2, 0.24)
    shade = _mix(skin, (40, 20, 20), 0.25)

    _draw_back_hair(draw, rng, style, cx, cy, a, b, hair, s)
    clothes = tuple(int(c) for c in rng.integers(20, 235, 3))
    draw.ellipse((cx - 0.5 * s, cy + 1.4 * b, cx + 0.5 * s, cy + 1.4 * b + 0.7 * s), fill=clothes)
    neck_w = a * rng.uniform(0.45, 0.6)
    draw.rectangle((cx - neck_w, cy + 0.6 * b, cx + neck_w, cy + 1.6 * b), fill=shade)
    draw.chord((cx - neck_w, cy + 1.3 * b, cx + neck_w, cy + 1.85 * b), 0, 180, fill=shade)
    for side in (-1, 1):  # ears
        ex = cx + side * a * 0.97
        draw.ellipse((ex - 0.14 * a, cy - 0.15 * b, ex + 0.14 * a, cy + 0.25 * b), fill=shade)

    taper = rng.uniform(0.05, 0.35)
    draw.polygon(_face_polygon(cx, cy, a, b, taper), fill=shade)
    light = rng.uniform(-0.5, 0.5)
    draw.polygon(_face_polygon(cx + light * a * 0.12, cy - b * 0.04, a * 0.9, b * 0.92, taper),
                 fill=skin)
    if rng.random() < 0.4:  # blush
        blush = _mix(skin, (220, 90, 90), 0.18)
        for side in (-1, 1):
            bx, by = cx + side * a * 0.5, cy + b * 0.25
            draw.ellipse((bx - a * 0.2, by - b * 0.08, bx + a * 0.2, by + b * 0.08), fill=blush)

    eye_y = _draw_eyes(draw, rng, cx, cy, a, b, skin, hair, s)
    nose_y = cy + b * rng.uniform(0.22, 0.3)
    nose_colour = _mix(skin, (60, 30, 20), 0.3)
    draw.line([(cx + light * 3, eye_y + b * 0.1), (cx + a * 0.06, nose_y)], fill=nose_colour,
              width=max(1, int(s * 0.01)))
    draw.arc((cx - a * 0.16, nose_y - b * 0.06, cx + a * 0.16, nose_y + b * 0.05), 20, 160,
             fill=nose_colour, width=max(1, int(s * 0.012)))
    mouth_y = _draw_mouth(draw, rng, cx, cy, a, b, skin, s)

    if rng.random() < 0.18:  # beard and moustache
        beard = _mix(hair, skin, 0.15)
        jaw = _face_polygon(cx, cy, a, b, taper)[4:21]
        draw.polygon(
            [(cx - a * 0.95, cy + b * 0.1), (cx - a * 0.55, mouth_y - b * 0.05),
             (cx + a * 0.55, mouth_y - b * 0.05), (cx + a * 0.95, cy + b * 0.1), *jaw],
            fill=beard,
        )
        draw.line([(cx - a * 0.4, mouth_y - b * 0.09), (cx + a * 0.4, mouth_y - b * 0.09)],
                  fill=beard, width=max(2, int(s * 0.03)))
    if style not in ("bald",):
        fringe = rng.uniform(0.45, 0.7)
        part = rng.uniform(-0.5, 0.5) if style == "sidepart" else rng.uniform(-0.1, 0.1)
        draw.polygon(_hair_cap(cx, cy, a, b, fringe, part), fill=hair)
    if rng.random() < 0.25:  # glasses
        frame = _jitter(rng, (30, 30, 35) if rng.random() < 0.7 else (120, 40, 40), 20)
        dark = rng.random() < 0.25
        gw, gh = a * 0.36, b * 0.16
        spacing = a * 0.43
        for side in (-1, 1):
            gx = cx + side * spacing
            box = (gx - gw, eye_y - gh, gx + gw, eye_y + gh)
            draw.rounded_rectangle(box, radius=int(gh * 0.6), outline=frame,
                                   fill=(35, 35, 45) if dark else None,
                                   width=max(2, int(s * 0.014)))
        draw.line([(cx - spacing + gw, eye_y), (cx + spacing - gw, eye_y)], fill=frame,
                  width=max(2, int(s * 0.012)))

    # Pose jitter: a small rotation about the face centre plus a slight zoom, one resample.
    angle = math.radians(rng.uniform(-5, 5))
    zoom = rng.uniform(1.1, 1.22)  # >= cos + sin of the angle: no corner ever shows
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    ox, oy = s / 2, s / 2
    img = img.transform(
        (s, s), Image.Transform.AFFINE,
        (cos, sin, ox - cos * ox - sin * oy, -sin, cos, oy + sin * ox - cos * oy),
        resample=Image.Resampling.BILINEAR, fillcolor=img.getpixel((1, 1)),
    )
    img = img.reduce(2).filter(ImageFilter.GaussianBlur(radius=size / 200))

    # Directional light and exposure.
    pixels = np.asarray(img, dtype=np.float32)
    ramp = 1.0 + rng.uniform(0.05, 0.22) * np.linspace(-1, 1, size)[None, :, None] * np.sign(light)
    pixels = pixels * ramp * rng.uniform(0.85, 1.1)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _render_chunk(args: tuple[str, int, int, int, int]) -> int:
    folder, seed, start, stop, size = args
    for i in range(start, stop):
        render_portrait(seed, i, size).save(
            os.path.join(folder, f"synth_{i:06d}.png"), compress_level=1
        )
    return stop - start


def generate_dataset(
    folder: str | os.PathLike[str],
    count: int,
    seed: int = 0,
    *,
    size: int = 128,
    workers: int | None = None,
    progress_fn: Callable[[int, int], None] | None = None,
) -> Path:
    """Write `count` portraits as PNG files (synth_000000.png ...) plus import_report.json."""
    if count < 1:
        raise DatasetError(f"count must be >= 1, got {count}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers or os.cpu_count() or 1, math.ceil(count / 200)))
    step = 250
    chunks = [(str(folder), seed, i, min(i + step, count), size) for i in range(0, count, step)]
    done = 0
    results = map(_render_chunk, chunks) if workers == 1 else \
        map_in_processes(_render_chunk, chunks, workers)
    for n in results:
        done += n
        if progress_fn:
            progress_fn(done, count)
    report = {
        "source": "synthetic",
        "seed": seed,
        "imported": count,
        "size": size,
        "skipped": [],
        "duplicates": [],
        "junk": 0,
    }
    (folder / "import_report.json").write_text(json.dumps(report, indent=2))
    return folder
