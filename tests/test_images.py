"""dcgan.data.images: every decoding rule of RELIABILITY.md, checked on real encoded files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dcgan.data.images import (
    MAX_PIXELS,
    center_crop_box,
    crop_resize,
    decode_image,
    fit_short_side,
    image_grid,
    to_rgb,
)
from dcgan.errors import ImageRejected
from tests.conftest import image_bytes, portrait_array


def encode(img: Image.Image, fmt: str = "PNG", **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"])
def test_accepted_formats_decode_to_rgb(fmt):
    img = decode_image(image_bytes(3, fmt))
    assert img.mode == "RGB"
    assert img.size == (80, 96)


def test_decodes_from_a_path(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(image_bytes(1))
    expected = portrait_array(1)
    assert np.array_equal(np.asarray(decode_image(path)), expected)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty-file"),
        (b"this is a text file, not a jpeg\n" * 10, "not-an-image"),
        (image_bytes(0, "PNG")[:300], "corrupt"),
        (image_bytes(0, "JPEG")[:400], "corrupt"),
    ],
    ids=["zero-bytes", "text-named-jpg", "truncated-png", "truncated-jpeg"],
)
def test_bad_files_are_rejected_with_a_reason(data, reason):
    with pytest.raises(ImageRejected) as info:
        decode_image(data)
    assert info.value.reason == reason


def test_truncated_file_is_never_filled_with_grey():
    # Pillow can pad truncated JPEGs when LOAD_TRUNCATED_IMAGES is on; ours must refuse.
    data = image_bytes(5, "JPEG", size=(200, 200), quality=95)
    with pytest.raises(ImageRejected):
        decode_image(data[: len(data) // 2])


def test_decompression_bomb_is_rejected_before_decoding():
    side = int(MAX_PIXELS**0.5) + 200
    data = encode(Image.new("1", (side, side)), "PNG")  # small file, huge pixel count
    assert len(data) < 2_000_000
    with pytest.raises(ImageRejected) as info:
        decode_image(data)
    assert info.value.reason == "too-many-pixels"


def test_exif_orientation_is_applied():
    # A 60x40 landscape picture with a red left half, stored with "rotate 90 CW" (6).
    array = np.zeros((40, 60, 3), np.uint8)
    array[:, :30] = (255, 0, 0)
    img = Image.fromarray(array)
    exif = img.getexif()
    exif[0x0112] = 6
    decoded = decode_image(encode(img, "JPEG", exif=exif, quality=95), min_side=8)
    assert decoded.size == (40, 60)  # upright: portrait
    top = np.asarray(decoded)[:10].mean(axis=(0, 1))
    assert top[0] > 200 and top[1] < 60  # the red half is now on top


def test_palette_with_transparency_composites_on_white():
    img = Image.new("P", (40, 40), 0)
    img.putpalette([0, 0, 0] + [200, 10, 10] * 255)
    img.paste(1, (0, 0, 20, 40))
    img.info["transparency"] = 0
    rgb = np.asarray(decode_image(encode(img, "PNG", transparency=0), min_side=8))
    assert tuple(rgb[5, 5]) == (200, 10, 10)
    assert tuple(rgb[5, 35]) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(mode):
    img = Image.new(mode, (40, 40), (0, 0) if mode == "LA" else (0, 0, 0, 0))
    rgb = np.asarray(decode_image(encode(img, "PNG"), min_side=8))
    assert rgb.min() == 255


def test_half_transparent_pixels_blend():
    img = Image.new("RGBA", (40, 40), (0, 0, 0, 128))
    rgb = np.asarray(decode_image(encode(img, "PNG"), min_side=8))
    assert abs(int(rgb[0, 0, 0]) - 127) <= 1


def test_cmyk_jpeg_converts():
    img = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red in CMYK
    rgb = np.asarray(decode_image(encode(img, "JPEG", quality=95), min_side=8)).astype(int)
    assert rgb[20, 20, 0] > 200 and rgb[20, 20, 1] < 60 and rgb[20, 20, 2] < 60


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16)[None, :].repeat(40, 0)
    img = Image.fromarray(ramp)
    rgb = np.asarray(decode_image(encode(img, "PNG"), min_side=8))
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255
    assert 120 <= rgb[0, 32, 0] <= 135  # mid-scale stays mid-grey (clipping would give 255)


def test_one_bit_image():
    img = Image.new("1", (40, 40), 0)
    img.paste(1, (0, 0, 20, 40))
    rgb = np.asarray(decode_image(encode(img, "PNG"), min_side=8))
    assert tuple(rgb[0, 0]) == (255, 255, 255) and tuple(rgb[0, 39]) == (0, 0, 0)


def test_float_images_scale():
    unit = Image.fromarray(np.full((40, 40), 0.5, np.float32))
    assert abs(int(np.asarray(to_rgb(unit))[0, 0, 0]) - 128) <= 1
    wide = Image.fromarray(np.linspace(-10, 10, 1600, dtype=np.float32).reshape(40, 40))
    out = np.asarray(to_rgb(wide))
    assert out.min() == 0 and out.max() == 255


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (40, 40), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    rgb = np.asarray(decode_image(buf.getvalue(), min_side=8))
    assert rgb[0, 0, 0] > 200 and rgb[0, 0, 2] < 50


def test_multipage_tiff_gives_its_first_page():
    pages = [Image.new("RGB", (40, 40), c) for c in [(0, 255, 0), (255, 0, 0)]]
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    rgb = np.asarray(decode_image(buf.getvalue(), min_side=8))
    assert tuple(rgb[0, 0]) == (0, 255, 0)


def test_small_and_extreme_aspect_images_are_rejected():
    with pytest.raises(ImageRejected) as small:
        decode_image(image_bytes(0, size=(20, 20)))
    assert small.value.reason == "too-small"
    with pytest.raises(ImageRejected) as wide:
        decode_image(image_bytes(0, size=(400, 100)))
    assert wide.value.reason == "extreme-aspect"


def test_unsupported_format_is_rejected():
    data = encode(Image.new("RGB", (40, 40)), "PPM")
    with pytest.raises(ImageRejected) as info:
        decode_image(data, min_side=8)
    assert info.value.reason == "unsupported-format"


def test_jpeg_draft_decodes_near_the_target_size():
    data = image_bytes(2, "JPEG", size=(800, 1000), quality=90)
    img = decode_image(data, draft_to=64)
    assert 64 <= min(img.size) < 200


def test_center_crop_box_and_resize():
    assert center_crop_box(100, 60) == (20, 0, 80, 60)
    assert center_crop_box(60, 101) == (0, 20, 60, 80)
    array = np.zeros((60, 100, 3), np.uint8)
    array[:, 20:80] = 255  # only the centred square is white
    out = crop_resize(Image.fromarray(array), 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert out.min() >= 250


def test_fit_short_side():
    img = Image.new("RGB", (1000, 2000))
    assert fit_short_side(img, 512).size == (512, 1024)
    assert fit_short_side(img, 4000) is img


def test_image_grid_layout():
    tiles = np.stack([np.full((4, 4, 3), i * 20, np.uint8) for i in range(5)])
    grid = np.asarray(image_grid(tiles, columns=3, pad=1))
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    assert grid[1, 1, 0] == 0 and grid[1, 6, 0] == 20 and grid[6, 1, 0] == 60


def test_lanczos_weights_rows_sum_to_one_and_stay_inside():
    from dcgan.data.images import lanczos_weights

    for src, dst in [(89, 64), (178, 64), (40, 64), (64, 64)]:
        weights = lanczos_weights(src, dst)
        assert weights.shape == (dst, src)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    identity = lanczos_weights(64, 64)
    np.testing.assert_allclose(identity, np.eye(64), atol=1e-6)


def test_resize_lanczos_matches_pillow_within_one_level():
    from dcgan.data.images import resize_lanczos

    array = portrait_array(4, size=(89, 89))
    ours = resize_lanczos(array, 64, 64).astype(int)
    pillow = np.asarray(Image.fromarray(array).resize((64, 64), Image.Resampling.LANCZOS))
    assert np.abs(ours - pillow.astype(int)).max() <= 1
    tall = resize_lanczos(portrait_array(5, size=(50, 120)), 30, 20)
    assert tall.shape == (30, 20, 3) and tall.dtype == np.uint8
