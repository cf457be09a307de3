"""Faces in photos: find them (MTCNN) and align each one as FFHQ's recipe does.

Detection runs on a copy of the photo whose longer side is at most DETECT_SIDE (for speed);
each face found is then detected again on the photo around it, resampled from full
resolution and turned upright by the first landmarks, with the face about REFINE_FACE
pixels wide: its five landmarks (eyes, nose, mouth corners) come out precise whatever the
photo's size and the head's tilt.

Alignment (Karras et al. 2019, the FFHQ dataset's script, written again here): an oriented
square from the eye centres and the mouth centre. Its "right" direction averages the line
through the eyes and the perpendicular of the eye-to-mouth line, so the eyes come out level;
its half side is max(2 x eye distance, 1.8 x eye-to-mouth distance) / zoom; its centre lies
a tenth of the way from the eyes' midpoint to the mouth. zoom 1 is FFHQ's framing (hair,
neck, background); DEFAULT_ZOOM frames the face as the CelebA-64 convention (a 108 px
centre crop of the aligned CelebA photo) does. The square is resampled from the
full-resolution photo with antialiasing: the region is first reduced by an integer factor
(a box filter) to at most 4x the output, then transformed, then Lanczos-resized. Where the
square leaves the photo, the photo is mirrored and the mirrored part blurred, as FFHQ does;
the share of the square beyond the photo is recorded (`padding`), and a face whose square
is mostly beyond it is skipped.

TensorFlow (MTCNN) is imported only when a FaceFinder is made.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
DETECT_SIDE = 512  # detection's copy of the photo: longer side at most this
REFINE_FACE = 80  # the refining pass sees the face about this wide
REFINE_ZOOM = 0.7  # ... in a square this much larger than FFHQ's (zoom 1)
TTA_SIZES = (0.92, 1.0, 1.08)  # box sizes ONet reads the landmarks in (and their mirrors)
REFINE_ROUNDS = 2  # the second reads again in the boxes the first regressed
MARGIN = 0.3  # a photo with no face found is tried again framed by this much of its side
DEFAULT_ZOOM = 1.4  # CelebA-64's framing (docs/DECISIONS.md, "Face crops")
MIN_FACE = 40  # source pixels: a smaller face's box is "face-too-small"
MIN_CONFIDENCE = 0.9  # below: "low-confidence"
MAX_PADDING = 0.5  # a square more than half beyond the photo: "face-at-edge"


@dataclass(frozen=True)
class Face:
    """One face in a photo, in the photo's pixels: box (x, y, w, h), landmarks by name."""

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: dict[str, tuple[float, float]]

    @property
    def size(self) -> float:
        return max(self.box[2], self.box[3])

    def to_json(self) -> dict:
        return {"box": [round(v, 1) for v in self.box],
                "confidence": round(self.confidence, 4),
                "landmarks": {k: [round(v[0], 1), round(v[1], 1)]
                              for k, v in self.landmarks.items()}}


@dataclass(frozen=True)
class Square:
    """An oriented square in a photo: centre, and the half-side vectors along its x and y."""

    centre: np.ndarray
    right: np.ndarray  # from the centre to the middle of the right side
    down: np.ndarray  # from the centre to the middle of the bottom side

    @property
    def side(self) -> float:
        return float(2 * np.hypot(*self.right))

    def corners(self) -> np.ndarray:
        """(4, 2): upper-left, lower-left, lower-right, upper-right (Pillow's QUAD order)."""
        c, r, d = self.centre, self.right, self.down
        return np.stack([c - r - d, c - r + d, c + r + d, c + r - d])

    def from_output(self, points: np.ndarray, size: int) -> np.ndarray:
        """Pixel coordinates (k, 2) in the size x size aligned image -> photo points."""
        uv = np.asarray(points, np.float64) / size * 2 - 1
        return self.centre + uv[:, :1] * self.right + uv[:, 1:] * self.down

    def to_output(self, points: np.ndarray, size: int) -> np.ndarray:
        """Photo points (k, 2) -> their pixel coordinates in the size x size aligned image."""
        rel = np.asarray(points, np.float64) - self.centre
        u = rel @ self.right / np.dot(self.right, self.right)  # -1 .. 1 across
        v = rel @ self.down / np.dot(self.down, self.down)
        return np.stack([(u + 1) * size / 2, (v + 1) * size / 2], axis=1)


def face_square(landmarks: dict[str, tuple[float, float]], zoom: float = DEFAULT_ZOOM) -> Square:
    """The aligned square of a face from its five landmarks (see the module docstring)."""
    p = {k: np.asarray(landmarks[k], np.float64) for k in LANDMARKS}
    eyes = (p["left_eye"] + p["right_eye"]) / 2
    eye_to_eye = p["right_eye"] - p["left_eye"]
    eye_to_mouth = (p["mouth_left"] + p["mouth_right"]) / 2 - eyes
    # The eye line and the perpendicular of the eye-mouth line (rotated to point right).
    right = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    norm = np.hypot(*right)
    if norm == 0:
        right, norm = np.array([1.0, 0.0]), 1.0
    half = max(2.0 * np.hypot(*eye_to_eye), 1.8 * np.hypot(*eye_to_mouth)) / zoom
    right = right / norm * half
    down = np.array([-right[1], right[0]])
    return Square(eyes + 0.1 * eye_to_mouth, right, down)


def padded_share(square: Square, width: int, height: int, samples: int = 32) -> float:
    """The share of the square's area outside a width x height photo (0 .. 1)."""
    t = (np.arange(samples) + 0.5) / samples * 2 - 1
    u, v = np.meshgrid(t, t)
    points = square.centre + u[..., None] * square.right + v[..., None] * square.down
    inside = ((points[..., 0] >= 0) & (points[..., 0] <= width)
              & (points[..., 1] >= 0) & (points[..., 1] <= height))
    return float(1.0 - inside.mean())


def align_face(photo: Image.Image, square: Square, size: int = 64) -> np.ndarray:
    """The square of an RGB photo resampled to (size, size, 3) uint8 (see the docstring)."""
    corners = square.corners()
    border = 0.1 * square.side + 4
    lo = np.floor(corners.min(axis=0) - border).astype(int)
    hi = np.ceil(corners.max(axis=0) + border).astype(int)
    # 1. Crop what of the region lies in the photo; reduce it by a whole factor (box filter)
    #    while the square stays at least 4x the output: antialiased, and little to transform.
    width, height = photo.size
    inner_lo, inner_hi = np.maximum(lo, 0), np.minimum(hi, [width, height])
    if np.any(inner_hi <= inner_lo):
        inner_lo, inner_hi = np.array([0, 0]), np.array([1, 1])  # only padding: mirrored below
    factor = max(1, int(square.side // (4 * size)))
    region = photo.crop((*inner_lo, *inner_hi))
    if factor > 1:
        region = region.reduce(factor)
    pixels = np.asarray(region, np.float32)
    origin = inner_lo.astype(np.float64)
    # 2. Mirror the photo where the region leaves it, and blur what was mirrored.
    pad_lo = np.ceil(np.maximum(inner_lo - lo, 0) / factor).astype(int)
    pad_hi = np.ceil(np.maximum(hi - inner_hi, 0) / factor).astype(int)
    if np.any(pad_lo > 0) or np.any(pad_hi > 0):
        pixels = _mirror_pad(pixels, pad_lo, pad_hi, blur=square.side / factor * 0.02)
        origin = origin - pad_lo * factor
    # 3. The square, in the reduced region's pixels, to an intermediate image at up to 4x the
    #    output (bicubic), then Lanczos down to the output: antialiased once more.
    quad = (corners - origin) / factor
    work = int(min(4 * size, max(size, round(square.side / factor))))
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    warped = image.transform((work, work), Image.Transform.QUAD, tuple(quad.ravel()),
                             resample=Image.Resampling.BICUBIC)
    if work != size:
        warped = warped.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(warped, np.uint8)


def _mirror_pad(pixels: np.ndarray, pad_lo: np.ndarray, pad_hi: np.ndarray,
                blur: float) -> np.ndarray:
    """(H, W, 3) float -> mirrored by (x, y) pad_lo / pad_hi; the mirrored part blurred and
    faded towards the image's mean colour the further it lies from the photo, as FFHQ's
    padding does (so no sharp copy of the photo's edge shows in a crop)."""
    h, w = pixels.shape[:2]
    widths = ((pad_lo[1], pad_hi[1]), (pad_lo[0], pad_hi[0]), (0, 0))
    padded = np.pad(pixels, widths, mode="symmetric")  # mirrored again where pads are wide
    ph, pw = padded.shape[:2]
    y, x = np.mgrid[0:ph, 0:pw].astype(np.float32)
    # distance beyond the photo's edge, relative to the pad, 0 inside the photo
    dx = np.maximum(pad_lo[0] - x, x - (pad_lo[0] + w - 1)).clip(0) / max(1, *pad_lo, *pad_hi)
    dy = np.maximum(pad_lo[1] - y, y - (pad_lo[1] + h - 1)).clip(0) / max(1, *pad_lo, *pad_hi)
    fade = np.clip(np.maximum(dx, dy) * 4, 0, 1)[..., None]  # 0 at the edge, 1 a quarter out
    blurred = np.asarray(Image.fromarray(np.clip(padded, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(max(1.0, blur))), np.float32)
    mean = padded.reshape(-1, 3).mean(axis=0)
    soft = blurred * (1 - 0.5 * fade) + mean * 0.5 * fade
    return padded * (1 - fade) + soft * fade


class FaceFinder:
    """MTCNN, loaded once (FaceCrop.rejection decides which faces are used)."""

    def __init__(self):
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from mtcnn import MTCNN

        self.detector = MTCNN()
        # mtcnn calls its three Keras networks eagerly, layer by layer (a pyramid of ~10
        # scales each photo): as compiled graphs, traced once per input shape class, the
        # same networks run several times faster.
        import tensorflow as tf

        for stage, side in zip(self.detector.stages, (None, 24, 48), strict=True):
            spec = tf.TensorSpec([None, side, side, 3], tf.float32)
            stage._model = tf.function(stage._model, input_signature=[spec])

    def _detect(self, pixels: np.ndarray) -> list[dict]:
        # min_face_size above ~16 px makes mtcnn 1.0's pyramid reach scales too small for
        # its networks (it counts levels as if the smallest face were 12 px): keep 16.
        found = self.detector.detect_faces(pixels, min_face_size=16, threshold_onet=0.5)
        return [f for f in found if f.get("keypoints")]

    def find(self, photo: Image.Image) -> list[Face]:
        """Every face in an RGB photo, largest first, with refined landmarks."""
        width, height = photo.size
        scale = min(1.0, DETECT_SIDE / max(width, height))
        small = photo if scale == 1.0 else photo.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))),
            Image.Resampling.BILINEAR, reducing_gap=2.0)
        pixels, margin = np.asarray(small), 0
        found = self._detect(pixels)
        if not found:  # a face that fills the photo (a tight crop): again, with a margin
            margin = round(MARGIN * min(pixels.shape[:2]))
            fill = pixels.reshape(-1, 3).mean(axis=0)
            framed = np.empty((pixels.shape[0] + 2 * margin, pixels.shape[1] + 2 * margin, 3),
                              np.uint8)
            framed[:] = fill.astype(np.uint8)
            framed[margin:margin + pixels.shape[0], margin:margin + pixels.shape[1]] = pixels
            found = self._detect(framed)
        faces = []
        for one in found:
            coarse = _face_of(one, 1 / scale, (-margin / scale, -margin / scale))
            faces.append(self._refine(photo, coarse) or coarse)
        return sorted(faces, key=lambda f: -f.size)

    def _refine(self, photo: Image.Image, face: Face) -> Face | None:
        """The face's landmarks again, upright: the photo around it is resampled from full
        resolution, turned by the coarse landmarks so the eyes are level, the face REFINE_FACE
        px wide, and MTCNN's last network (ONet) reads the landmarks there, on the crop and
        on its mirror image at once (their mean jitters less than either); they are mapped
        back to the photo. None when ONet does not see a face there (the coarse detection is
        kept)."""
        around = face_square(face.landmarks, zoom=REFINE_ZOOM)
        out = int(np.clip(round(REFINE_FACE * around.side / max(face.size, 1.0)), 64, 400))
        crop = align_face(photo, around, out)
        half = face.size * out / around.side / 2
        # the face's centre in the crop: its box centre, carried into the upright square
        cx, cy = around.to_output(np.array([[face.box[0] + face.box[2] / 2,
                                             face.box[1] + face.box[3] / 2]]), out)[0]
        # ONet reads the landmarks relative to the box it is given, so several boxes (three
        # sizes, on the crop and on its mirror) give several readings whose mean jitters
        # less; a second round starts from the boxes ONet itself regressed.
        boxes = []
        for size in TTA_SIZES:
            h = half * size
            boxes.append([cx - h, cy - h, cx + h, cy + h])
        views = [crop] * len(boxes) + [crop[:, ::-1]] * len(boxes)
        boxes += [[out - b[2], b[1], out - b[0], b[3]] for b in boxes]
        rows = self._onet(np.stack(views), boxes)
        if rows is None:
            return None
        for _ in range(REFINE_ROUNDS - 1):
            rows = self._onet(np.stack(views), [_squared(r["box"]) for r in rows]) or rows
        swap = {"left_eye": "right_eye", "right_eye": "left_eye", "nose": "nose",
                "mouth_left": "mouth_right", "mouth_right": "mouth_left"}
        n = len(TTA_SIZES)
        readings = [{name: r[name] for name in LANDMARKS} for r in rows[:n]] + [
            {name: (out - r[swap[name]][0], r[swap[name]][1]) for name in LANDMARKS}
            for r in rows[n:]]
        points = {name: tuple(np.mean([r[name] for r in readings], axis=0))
                  for name in LANDMARKS}
        back = around.from_output
        k = around.side / out
        centre = back(np.array([[cx, cy]]), out)[0]
        # Confidence: the better of the first detection and ONet's mean score on the upright,
        # well-framed crop (a tilted or tightly cropped face scores low at first).
        confidence = max(face.confidence, float(np.mean([r["score"] for r in rows])))
        return Face((centre[0] - half * k, centre[1] - half * k, 2 * half * k, 2 * half * k),
                    confidence,
                    {name: tuple(back(np.array([xy]), out)[0]) for name, xy in points.items()})

    def _onet(self, images: np.ndarray, boxes: list[list[float]]) -> list[dict] | None:
        """MTCNN's output network on one box (x1, y1, x2, y2) of each image: the box it
        regresses and the five landmarks of each, or None if it does not score them all as
        faces (above 0.5)."""
        import tensorflow as tf

        stage = self.detector.get_stage(stage_id=3)
        batch = np.array([[i, *b, 1.0] for i, b in enumerate(boxes)], np.float32)
        normalized = tf.constant((images.astype(np.float32) - 127.5) / 128.0)
        with tf.device(self.detector.device):
            rows = stage(images_normalized=normalized, bboxes_batch=batch,
                         threshold_onet=0.5, nms_onet=1.0)
        if len(rows) != len(boxes):
            return None
        rows = sorted(rows.tolist(), key=lambda r: r[0])
        # a row: image, x1, y1, x2, y2, score, the five x's, then the five y's
        return [{"box": r[1:5], "score": r[5], **{name: (r[6 + j], r[11 + j])
                                                  for j, name in enumerate(LANDMARKS)}}
                for r in rows]


def _squared(box: list[float]) -> list[float]:
    """(x1, y1, x2, y2) -> the square of its longer side around its centre."""
    x1, y1, x2, y2 = box
    half = max(x2 - x1, y2 - y1) / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return [cx - half, cy - half, cx + half, cy + half]


def _face_of(found: dict, scale: float, offset: tuple[float, float]) -> Face:
    """MTCNN's dict -> a Face in the photo's pixels (scaled, then offset)."""
    x, y, w, h = (float(v) for v in found["box"])
    ox, oy = offset
    return Face((x * scale + ox, y * scale + oy, w * scale, h * scale),
                float(found["confidence"]),
                {k: (float(found["keypoints"][k][0]) * scale + ox,
                     float(found["keypoints"][k][1]) * scale + oy) for k in LANDMARKS})


@dataclass(frozen=True)
class FaceCrop:
    """How `prepare --crop face` turns a photo into images; part of the cache's key."""

    faces: str = "all"  # "all": every usable face; "largest": the largest usable one
    zoom: float = DEFAULT_ZOOM
    min_face: int = MIN_FACE
    min_confidence: float = MIN_CONFIDENCE

    def key(self) -> dict:
        return {"faces": self.faces, "face_zoom": self.zoom, "min_face": self.min_face,
                "min_confidence": self.min_confidence}

    def rejection(self, face: Face, padding: float) -> tuple[str, str] | None:
        """(reason, detail) when a face is not used, else None."""
        if face.confidence < self.min_confidence:
            return "low-confidence", f"{face.confidence:.2f}, below {self.min_confidence:g}"
        if face.size < self.min_face:
            return "face-too-small", f"{face.size:.0f} px, below {self.min_face} px"
        if padding > MAX_PADDING:
            return "face-at-edge", f"{padding:.0%} of its square lies beyond the photo"
        return None


def crop_faces(photo: Image.Image, finder: FaceFinder, crop: FaceCrop, size: int
               ) -> tuple[list[dict], np.ndarray, list[dict]]:
    """The faces of an RGB photo as aligned images.

    Returns (records of the faces kept, their (k, size, size, 3) uint8 pixels, records of
    the faces found but not used, each with "reason" and "detail"). A record holds the face's
    index in the photo (largest first), box, landmarks, confidence and padded share.
    """
    kept, rows, rejected = [], [], []
    for index, face in enumerate(finder.find(photo)):
        square = face_square(face.landmarks, crop.zoom)
        record = {"face": index, **face.to_json(),
                  "padding": round(padded_share(square, *photo.size), 3)}
        why = crop.rejection(face, record["padding"])
        if why:
            rejected.append({**record, "reason": why[0], "detail": why[1]})
        elif crop.faces == "all" or not kept:
            kept.append(record)
            rows.append(align_face(photo, square, size))
    pixels = np.stack(rows) if rows else np.empty((0, size, size, 3), np.uint8)
    return kept, pixels, rejected


@functools.lru_cache(maxsize=1)
def shared_finder() -> FaceFinder:
    """This process's FaceFinder (MTCNN's networks are built once per process)."""
    return FaceFinder()


def limit_threads(threads: int) -> None:
    """Run TensorFlow's ops on `threads` threads in this process (one per worker process
    when several share the cores); a no-op once TensorFlow has started running ops."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised in this process
        pass


def crop_of(settings: dict | None) -> FaceCrop | None:
    """The FaceCrop a cache's settings (its manifest's "settings") record; None for centre."""
    if not settings or settings.get("crop") != "face":
        return None
    return FaceCrop(settings.get("faces", "all"), float(settings.get("face_zoom", DEFAULT_ZOOM)),
                    int(settings.get("min_face", MIN_FACE)),
                    float(settings.get("min_confidence", MIN_CONFIDENCE)))


def align_photo(photo: Image.Image, crop: FaceCrop, size: int = 64) -> np.ndarray:
    """The largest usable face of an RGB photo, aligned as `crop` says: (size, size, 3) uint8.

    Raises ImageRejected("no-face" or the reason its faces were not used) otherwise.
    """
    from dcgan.errors import ImageRejected

    largest = FaceCrop("largest", crop.zoom, crop.min_face, crop.min_confidence)
    kept, pixels, rejected = crop_faces(photo, shared_finder(), largest, size)
    if kept:
        return pixels[0]
    if rejected:
        raise ImageRejected(rejected[0]["reason"], f"the face found: {rejected[0]['detail']}")
    raise ImageRejected("no-face", "no face was found in the photo")
