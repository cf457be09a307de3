"""dcgan.data.crop_report: counts, the few-faces warning and the contact sheet."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dcgan.data.crop_report import crop_sheet, crop_summary, few_faces_advice, not_used

FACE = {"box": [10, 10, 40, 50], "landmarks": {"left_eye": [20, 25], "right_eye": [40, 25],
                                               "nose": [30, 35], "mouth_left": [22, 48],
                                               "mouth_right": [38, 48]},
        "confidence": 0.99, "padding": 0.0}


def manifest(used: int, no_face: int, crop: str = "face") -> dict:
    images = [{"file": f"p{i}.jpg", "face": 0, **FACE} for i in range(used)]
    images.append({"file": "p0.jpg", "face": 1, **FACE}) if used else None
    return {"settings": {"crop": crop, "min_face": 40, "faces": "all", "face_zoom": 1.4},
            "images": images,
            "skipped": [{"file": f"n{i}.jpg", "reason": "no-face", "detail": ""}
                        for i in range(no_face)]
            + [{"file": "far.jpg", "reason": "face-too-small", "detail": "20 px"},
               {"file": "bad.jpg", "reason": "corrupt", "detail": "truncated"}],
            "faces_skipped": [{"file": "far.jpg", "face": 0, "reason": "face-too-small"},
                              {"file": "p1.jpg", "face": 1, "reason": "low-confidence"}],
            "duplicates": [{"file": "copy.jpg", "duplicate_of": "p0.jpg"}]}


def test_counts_by_outcome():
    summary = crop_summary(manifest(used=3, no_face=2))
    assert (summary["photos"], summary["photos_used"], summary["images"]) == (8, 3, 4)
    assert (summary["no_face"], summary["unreadable"]) == (2, 1)
    assert summary["face_skips"] == {"face-too-small": 1, "low-confidence": 1}
    rows = not_used(manifest(used=3, no_face=2))
    assert [(r["file"], r["face"]) for r in rows] == [
        ("n0.jpg", None), ("n1.jpg", None), ("far.jpg", None), ("bad.jpg", None),
        ("p1.jpg", 1)]  # far.jpg's face is its photo's reason, listed once


def test_a_warning_when_under_half_the_readable_photos_gave_a_face():
    assert few_faces_advice(crop_summary(manifest(used=3, no_face=2))) is None
    advice = few_faces_advice(crop_summary(manifest(used=1, no_face=4)))
    # duplicates and unreadable files are not counted
    assert "only 1 of 6 photos" in advice and "centre square" in advice
    assert "at least 40 px" in advice
    assert few_faces_advice(crop_summary(manifest(used=0, no_face=5, crop="center"))) is None


def test_the_sheet_draws_each_photo_beside_its_faces(tmp_path):
    for i in range(3):
        Image.new("RGB", (80, 100), (200, 180, 160)).save(tmp_path / f"p{i}.jpg")
    images = np.zeros((4, 64, 64, 3), np.uint8)
    sheet = crop_sheet(tmp_path, manifest(used=3, no_face=0), images, height=100)
    assert sheet.height == 3 * 104
    pixels = np.asarray(sheet)
    assert (pixels[10:60, 8:12] == [40, 220, 90]).all(axis=-1).any()  # a green box edge
    assert sheet.width >= 80 + 6 + 2 * (50 + 4)  # p0 gave two faces
    assert crop_sheet(tmp_path, manifest(used=3, no_face=0, crop="center"), images) is None
