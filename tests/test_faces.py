"""dcgan.data.faces and prepare --crop face, on scikit-image's public-domain astronaut photo
(tests/data/astronaut.jpg, a 256 px crop): the same face, rotated, scaled, moved, mirrored,
doubled or EXIF-rotated, comes out aligned the same; skips say why."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from dcgan.data.faces import (
    LANDMARKS,
    FaceCrop,
    Square,
    align_face,
    crop_faces,
    face_square,
    padded_share,
    shared_finder,
)
from dcgan.data.prepare import load_cache, prepare_dataset
from tests.conftest import astronaut, image_bytes, jpeg_bytes

EYES_PX = 1.5  # eye positions agree within this at 64 px
PIXELS = 14.0  # mean absolute difference of the aligned 64 px images, grey levels


@pytest.fixture(scope="module")
def finder():
    return shared_finder()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return astronaut()


def aligned(finder, photo: Image.Image, count: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(aligned 64 px image, its two eye positions in it)] of each face, largest first."""
    kept, pixels, rejected = crop_faces(photo, finder, FaceCrop(min_face=20), 64)
    # a badge may look like a face to the detector, at low confidence: skipped as such
    assert len(kept) == count and all(r["reason"] == "low-confidence" for r in rejected), \
        (kept, rejected)
    out = []
    for record, image in zip(kept, pixels, strict=True):
        square = face_square(record["landmarks"])
        eyes = square.to_output(np.array([record["landmarks"]["left_eye"],
                                          record["landmarks"]["right_eye"]]), 64)
        out.append((image, eyes))
    return out


@pytest.fixture(scope="module")
def reference(finder, photo):
    return aligned(finder, photo)[0]


def agree(got, reference, mirrored: bool = False) -> None:
    image, eyes = got
    ref_image, ref_eyes = reference
    if mirrored:  # the mirror's left eye is the original's right one, x flipped
        ref_image = ref_image[:, ::-1]
        ref_eyes = np.array([[64 - ref_eyes[1, 0], ref_eyes[1, 1]],
                             [64 - ref_eyes[0, 0], ref_eyes[0, 1]]])
    assert np.abs(eyes - ref_eyes).max() <= EYES_PX, (eyes, ref_eyes)
    assert np.abs(image.astype(float) - ref_image).mean() <= PIXELS


def on_canvas(photo: Image.Image, size: int, at: tuple[int, int], seed: int = 0) -> Image.Image:
    """`photo` pasted at `at` on a size x size canvas of smooth noise (no faces)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(60, 200, (size // 16, size // 16, 3)).astype(np.uint8)
    canvas = Image.fromarray(noise).resize((size, size), Image.Resampling.BICUBIC)
    canvas.paste(photo, at)
    return canvas


def test_the_astronaut_is_found_with_five_landmarks_and_aligned_level(finder, photo, reference):
    faces = finder.find(photo)
    assert len(faces) == 1 and faces[0].confidence > 0.99
    assert set(faces[0].landmarks) == set(LANDMARKS) and faces[0].size > 60
    image, eyes = reference
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1.0  # level
    assert 18 < eyes[1, 0] - eyes[0, 0] < 27  # CelebA-64's eye distance, about 22 px
    assert abs((eyes[0, 0] + eyes[1, 0]) / 2 - 32) < 2  # centred


@pytest.mark.parametrize("angle", [-30, -12, 20, 30])
def test_rotated(finder, photo, reference, angle):
    turned = photo.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True,
                          fillcolor=(128, 128, 128))
    agree(aligned(finder, on_canvas(turned, 420, (40, 30)))[0], reference)


@pytest.mark.parametrize("scale", [0.5, 0.75, 1.5, 2.0])
def test_scaled(finder, photo, reference, scale):
    side = round(256 * scale)
    agree(aligned(finder, photo.resize((side, side), Image.Resampling.LANCZOS))[0], reference)


def test_off_centre_on_a_larger_canvas(finder, photo, reference):
    agree(aligned(finder, on_canvas(photo, 1024, (700, 60)))[0], reference)


def test_mirrored(finder, photo, reference):
    agree(aligned(finder, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT))[0], reference,
          mirrored=True)


def test_two_copies_in_one_photo_are_two_faces(finder, photo, reference):
    canvas = on_canvas(photo, 256, (0, 0)).resize((600, 300))
    canvas.paste(photo, (20, 20))
    canvas.paste(photo, (320, 30))
    for got in aligned(finder, canvas, count=2):
        agree(got, reference)


def test_an_exif_rotated_jpeg_is_aligned_upright(ws, finder, photo, reference):
    """Pixels stored turned a quarter, with the orientation tag that turns them back."""
    folder = ws.dataset_dir("exif")
    folder.mkdir(parents=True)
    stored = photo.transpose(Image.Transpose.ROTATE_90)  # what the camera wrote
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    stored.save(folder / "turned.jpg", quality=95, exif=exif)
    photo.save(folder / "upright.jpg", quality=95)
    prepare_dataset(ws, "exif", crop="face", workers=1)
    images, manifest = load_cache(ws, "exif")
    assert [e["file"] for e in manifest["images"]] == ["turned.jpg", "upright.jpg"]
    assert np.abs(images[0].astype(float) - images[1]).mean() <= PIXELS
    assert manifest["images"][0]["source_size"] == [256, 256]


def test_squares_geometry():
    square = face_square({"left_eye": (40, 50), "right_eye": (60, 50), "nose": (50, 60),
                          "mouth_left": (42, 72), "mouth_right": (58, 72)}, zoom=1.0)
    # FFHQ: half side = max(2 x 20, 1.8 x 22) = 40; centre 2.2 px below the eyes
    assert square.side == pytest.approx(80)
    np.testing.assert_allclose(square.centre, [50, 52.2])
    np.testing.assert_allclose(square.to_output(np.array([[10, 12.2], [90, 92.2]]), 64),
                               [[0, 0], [64, 64]])
    assert padded_share(square, 100, 100) == 0.0
    assert padded_share(Square(np.array([0.0, 50.0]), square.right, square.down), 100, 100) \
        == pytest.approx(0.5, abs=0.02)


def test_a_square_beyond_the_photo_is_mirrored_and_blurred_not_black(photo):
    square = face_square({"left_eye": (20, 40), "right_eye": (60, 40), "nose": (40, 55),
                          "mouth_left": (25, 70), "mouth_right": (55, 70)}, zoom=1.0)
    assert 0.2 < padded_share(square, *photo.size) < 0.5
    out = align_face(photo, square, 64)
    assert out.shape == (64, 64, 3) and out[:8, :8].mean() > 40  # no black corner


def test_prepare_records_each_face_and_every_skip_with_its_reason(ws, photo):
    folder = ws.dataset_dir("mine")
    folder.mkdir(parents=True)
    (folder / "astronaut.jpg").write_bytes(jpeg_bytes(photo))
    two = on_canvas(photo.resize((128, 128)), 600, (400, 100)).crop((0, 0, 600, 300))
    two.paste(photo, (20, 20))
    (folder / "group.jpg").write_bytes(jpeg_bytes(two))
    tiny = on_canvas(photo.resize((64, 64)), 320, (120, 100))
    (folder / "tiny.jpg").write_bytes(jpeg_bytes(tiny))
    (folder / "landscape.png").write_bytes(image_bytes(3, size=(300, 200)))  # no face
    (folder / "cmyk.jpg").write_bytes(jpeg_bytes(photo.convert("CMYK")))
    wide = (np.asarray(photo, np.uint16) * 257)[..., 0]  # 16-bit greyscale
    Image.fromarray(wide.astype(np.uint16)).save(folder / "grey16.png")
    result = prepare_dataset(ws, "mine", workers=1)
    assert result.crop == "face"  # imported photos get faces without asking
    images, manifest = load_cache(ws, "mine")
    files = [(e["file"], e["face"]) for e in manifest["images"]]
    assert files == [("astronaut.jpg", 0), ("cmyk.jpg", 0), ("grey16.png", 0),
                     ("group.jpg", 0), ("group.jpg", 1)]
    assert images.shape == (5, 64, 64, 3)
    entry = manifest["images"][0]
    assert {"box", "landmarks", "confidence", "padding", "face", "source_size"} <= set(entry)
    assert set(entry["landmarks"]) == set(LANDMARKS) and entry["padding"] == 0.0
    reasons = {s["file"]: s["reason"] for s in manifest["skipped"]}
    assert reasons == {"landscape.png": "no-face", "tiny.jpg": "face-too-small"}
    assert manifest["settings"]["crop"] == "face" and manifest["settings"]["faces"] == "all"
    # re-run: nothing read; another setting: rebuilt
    again = prepare_dataset(ws, "mine", workers=1)
    assert again.up_to_date and again.processed == 0
    largest = prepare_dataset(ws, "mine", face=FaceCrop(faces="largest"), workers=1)
    assert not largest.up_to_date and largest.count == 4
    assert json.loads((ws.cache_dir("mine") / "manifest.json").read_text())[
        "settings"]["faces"] == "largest"


def test_face_crops_in_two_threads_and_two_processes_match_one(ws, photo, monkeypatch):
    """The threads share one finder, the processes have one each: same images, same
    manifest, progress to the end."""
    folder = ws.dataset_dir("pair")
    folder.mkdir(parents=True)
    for i, angle in enumerate((0, 10, -10, 20, 0, 5)):
        turned = on_canvas(photo.rotate(angle, resample=Image.Resampling.BICUBIC), 320,
                           (30 + 5 * i, 40), seed=i)
        (folder / f"p{i}.jpg").write_bytes(jpeg_bytes(turned))
    (folder / "wall.png").write_bytes(image_bytes(9, size=(120, 90)))
    prepare_dataset(ws, "pair", workers=1)
    serial, serial_manifest = load_cache(ws, "pair")
    serial = np.array(serial)
    shutil.rmtree(ws.cache_dir("pair"))
    seen = []
    prepare_dataset(ws, "pair", workers=2, progress_fn=lambda d, t: seen.append((d, t)))
    threaded, manifest = load_cache(ws, "pair")
    assert np.array_equal(np.array(threaded), serial) and serial.shape[0] == 6
    assert manifest["images"] == serial_manifest["images"]
    assert manifest["skipped"] == serial_manifest["skipped"] and seen[-1] == (7, 7)
    from dcgan.data import prepare

    monkeypatch.setattr(prepare, "PARALLEL_MIN_FILES", 4)  # as a large dataset would
    shutil.rmtree(ws.cache_dir("pair"))
    prepare_dataset(ws, "pair", workers=2)
    processes, manifest = load_cache(ws, "pair")
    assert np.array_equal(np.array(processes), serial)
    assert manifest["images"] == serial_manifest["images"]


def test_the_builtin_portraits_keep_the_centre_crop_and_a_dataset_of_no_faces_says_why(ws):
    from dcgan.data.synthetic import generate_dataset
    from dcgan.errors import DatasetError

    generate_dataset(ws.dataset_dir("synth"), 4, seed=0, size=64, workers=1)
    assert prepare_dataset(ws, "synth", workers=1).crop == "center"
    folder = ws.dataset_dir("walls")
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"wall_{i}.png").write_bytes(image_bytes(i))
    with pytest.raises(DatasetError, match=r"no usable images.*no-face.*--crop center"):
        prepare_dataset(ws, "walls", workers=1)
    assert prepare_dataset(ws, "walls", crop="center", workers=1).count == 3


def test_a_photo_to_project_is_cropped_as_the_generators_training_data(ws, photo):
    from dcgan.data.faces import crop_of
    from dcgan.errors import ImageRejected
    from dcgan.explore.projection import photo_pixels

    folder = ws.dataset_dir("one")
    folder.mkdir(parents=True)
    data = jpeg_bytes(on_canvas(photo, 400, (100, 80)))
    (folder / "me.jpg").write_bytes(data)
    prepare_dataset(ws, "one", workers=1)
    images, manifest = load_cache(ws, "one")
    settings = manifest["settings"]
    assert crop_of(settings) == FaceCrop() and crop_of({"crop": "center"}) is None
    np.testing.assert_array_equal(photo_pixels(data, data_crop=settings), images[0])
    centre = photo_pixels(data)  # a generator of centre crops: the centre square
    assert centre.shape == (64, 64, 3) and np.abs(centre.astype(float) - images[0]).mean() > 20
    with pytest.raises(ImageRejected, match="no-face"):
        photo_pixels(image_bytes(4, size=(200, 200)), data_crop=settings)


def test_a_run_remembers_how_its_data_was_cropped(ws, finished_run):
    from dcgan.explore.export import load_run_generator, run_data_crop

    crop = run_data_crop(finished_run)
    assert crop["crop"] == "center" and crop["size"] == 64  # the tiny synthetic set
    assert load_run_generator(finished_run).data_crop == crop
    status = json.loads((finished_run / "status.json").read_text())
    assert status["data_crop"] == crop  # recorded when training started
    del status["data_crop"]  # a run from before: its dataset's cache says
    (finished_run / "status.json").write_text(json.dumps(status))
    assert run_data_crop(finished_run) == crop
