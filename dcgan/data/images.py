"""Decode one untrusted image safely into upright 8-bit RGB, and crop + resize it.

Policy (documented in the README, "Import rules"):
- formats: JPEG, PNG, WebP, BMP, GIF, TIFF (checked from the content, not the file name);
- more than MAX_PIXELS pixels: rejected before decoding (decompression bombs);
- truncated, corrupt, empty or mislabelled files: rejected with a reason, never padded;
- EXIF orientation applied; animated files and multi-page TIFFs give their first frame;
- alpha composited on white; 16-bit and float images scaled (not clipped) to 8 bits;
- shorter side below `min_side` or aspect ratio above `max_aspect`: rejected;
  everything else is centre-cropped to a square when it is prepared.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dcgan.errors import ImageRejected

FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF"})
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
)
MAX_PIXELS = 50_000_000  # ~7000x7000: far above any portrait, far below a bomb
MIN_SIDE = 32
MAX_ASPECT = 3.0
BACKGROUND = (255, 255, 255)  # alpha is composited on this colour

# Pillow's own guard: warn above MAX_PIXELS (we turn the warning into an error), fail above 2x.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _scale_to_uint8(array: np.ndarray, full_scale: float) -> np.ndarray:
    return np.clip(np.rint(array.astype(np.float64) * (255.0 / full_scale)), 0, 255).astype(
        np.uint8
    )


def _wide_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit int and float greyscale modes, scaled into 0..255."""
    array = np.asarray(img)
    if img.mode.startswith("I;16"):
        out = _scale_to_uint8(array, 65535.0)
    elif img.mode == "I":
        # Pillow stores 16-bit PNG/TIFF greyscale as "I"; 8-bit data passes through.
        out = _scale_to_uint8(array, 65535.0 if array.max(initial=0) > 255 else 255.0)
    else:  # "F"
        lo, hi = float(np.nanmin(array)), float(np.nanmax(array))
        if lo >= 0.0 and hi <= 1.0:
            out = _scale_to_uint8(array, 1.0)
        else:
            span = (hi - lo) or 1.0
            out = _scale_to_uint8(array - lo, span)
    return Image.fromarray(out).convert("RGB")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB (alpha over BACKGROUND, wide modes scaled)."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I") or mode == "F":
        return _wide_to_rgb(img)
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # 1, L, P, CMYK, YCbCr, LAB, HSV, RGBX


def _open(source: bytes | str | os.PathLike[str]) -> Image.Image:
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise ImageRejected("empty-file", "the file has zero bytes")
        return Image.open(io.BytesIO(source))
    if os.path.getsize(source) == 0:
        raise ImageRejected("empty-file", "the file has zero bytes")
    return Image.open(Path(source))


def decode_image(
    source: bytes | str | os.PathLike[str],
    *,
    min_side: int = MIN_SIDE,
    max_aspect: float = MAX_ASPECT,
    draft_to: int | None = None,
) -> Image.Image:
    """Decode `source` (bytes or a path) into an upright, fully loaded RGB image.

    `draft_to` lets JPEG decode at a reduced scale whose shorter side stays >= draft_to
    (much faster for large photos). Raises ImageRejected with a reason code.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = _open(source)
            if img.format not in FORMATS:
                raise ImageRejected("unsupported-format", f"{img.format} is not accepted")
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageRejected(
                    "too-many-pixels", f"{width}x{height} is above the {MAX_PIXELS:,} pixel cap"
                )
            if draft_to and img.format in ("JPEG", "MPO"):
                short = min(width, height)
                if short > draft_to:
                    factor = draft_to / short
                    img.draft("RGB", (max(1, int(width * factor)), max(1, int(height * factor))))
            img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img)
            img = to_rgb(img)
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("too-many-pixels", str(exc)) from None
        except UnidentifiedImageError:
            raise ImageRejected("not-an-image", "the content is not a readable image") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
            raise ImageRejected("corrupt", str(exc) or type(exc).__name__) from None
    width, height = img.size
    if min(width, height) < min_side:
        raise ImageRejected(
            "too-small", f"{width}x{height}; the shorter side must be >= {min_side}"
        )
    if max(width, height) / min(width, height) > max_aspect:
        raise ImageRejected(
            "extreme-aspect", f"{width}x{height}; the aspect ratio must be <= {max_aspect:g}"
        )
    return img


def center_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square inside a width x height image, as a Pillow box."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


@functools.lru_cache(maxsize=128)
def lanczos_weights(src: int, dst: int) -> np.ndarray:
    """(dst, src) float32 matrix resampling a line of `src` pixels to `dst` (Lanczos-3).

    The same kernel as Pillow's LANCZOS (stretched by the scale when shrinking, so it
    anti-aliases); each row sums to 1. Only pixels inside the line are read.
    """
    scale = src / dst
    stretch = max(scale, 1.0)
    support = 3.0 * stretch
    weights = np.zeros((dst, src), np.float64)
    for i in range(dst):
        centre = (i + 0.5) * scale
        lo, hi = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), src)
        x = (np.arange(lo, hi) + 0.5 - centre) / stretch
        kernel = np.where(np.abs(x) < 3.0, np.sinc(x) * np.sinc(x / 3.0), 0.0)
        weights[i, lo:hi] = kernel / kernel.sum()
    return weights.astype(np.float32)


def resize_lanczos(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (height, width, 3) uint8 as two plain matrix products.

    Faster than Pillow's resize at portrait sizes, and without its rounding to 8 bits
    between the vertical and the horizontal pass.
    """
    h, w = pixels.shape[:2]
    # Vertical pass: (height, h) @ (h, w*3).
    rows = lanczos_weights(h, height) @ pixels.reshape(h, w * 3).astype(np.float32)
    # Horizontal pass on the transposed rows: (width, w) @ (w, height*3).
    cols = rows.reshape(height, w, 3).transpose(1, 0, 2).reshape(w, height * 3)
    out = (lanczos_weights(w, width) @ cols).reshape(width, height, 3).transpose(1, 0, 2)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def crop_resize(img: Image.Image, size: int) -> np.ndarray:
    """Centre-crop to a square and resample with Lanczos-3: (size, size, 3) uint8."""
    left, top, right, bottom = center_crop_box(*img.size)
    square = np.asarray(img)[top:bottom, left:right]
    return resize_lanczos(square, size, size)


def fit_short_side(img: Image.Image, max_short_side: int) -> Image.Image:
    """Downscale so the shorter side is at most `max_short_side` (aspect kept)."""
    width, height = img.size
    short = min(width, height)
    if short <= max_short_side:
        return img
    factor = max_short_side / short
    new_size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return img.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def to_uint8(pixels, value_range: tuple[float, float]) -> np.ndarray:
    """Generator output in `value_range` ((-1, 1) tanh or (0, 1) sigmoid) -> uint8 0-255."""
    lo, hi = value_range
    x = (np.asarray(pixels, np.float32) - lo) / (hi - lo)
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> Image.Image:
    """Tile (N, H, W, 3) uint8 images into one RGB picture, `columns` wide (default ~sqrt N)."""
    count, height, width = images.shape[:3]
    columns = columns or max(1, int(np.ceil(np.sqrt(count))))
    rows = max(1, int(np.ceil(count / columns)))
    canvas = np.full(
        (rows * (height + pad) + pad, columns * (width + pad) + pad, 3), 24, dtype=np.uint8
    )
    for i in range(count):
        r, c = divmod(i, columns)
        y, x = pad + r * (height + pad), pad + c * (width + pad)
        canvas[y : y + height, x : x + width] = images[i]
    return Image.fromarray(canvas)
