"""Crowded photos for the pose comparison: the same subject among bystanders, and its copy.

Tourist photos always have bystanders, and the pose compared must be the main subject's in both
photos. This builds such photos from the photos the project may use: people cut out of the
tab's example photos (the astronaut, the cameraman, Grace Hopper) with MediaPipe's person mask,
pasted at different sizes into scenes without people (scikit-image's photos, and the example
photos' own places with their people inpainted away). The main subject is the largest person,
nearest the centre; two to four smaller bystanders stand to the sides. A copy of each photo is
cropped by 3% a side, scaled to 0.8 and brightened by 15%, as a re-post would be.

`python -m models.evaluate pose --crowded` (`run_crowded`) scores the shipped pose similarity
on copies (same pose) against unrelated pairs (the main subjects are different people) built
from `HELD_OUT_SCENES` and seeds that tests/test_pose_crowd.py does not use, and prints AUC,
hit rate and false-match rate at `POSE_THRESHOLD`.

The cut-outs, scenes and arrangements are all made here, from a seed: no file is written.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "demos" / "examples"

PEOPLE = ("astronaut", "camera", "grace_hopper")
"""Example photos (demos/examples/<name>.jpg) that show one person each."""
SUBJECTS = ("astronaut", "camera")
"""People who can be the main subject: MediaPipe sees at least four of the compared joints in
them. Grace Hopper's portrait shows only the nose and shoulders, too few to compare a pose
(`MIN_SHARED_JOINTS`), so she is only ever a bystander."""

TEST_SCENES = ("rocket", "brick", "grass", "camera_place")
"""Scenes the test's photos stand in."""
HELD_OUT_SCENES = ("motorcycle_left", "motorcycle_right", "gravel", "astronaut_place")
"""Scenes only the evaluation uses: its photos share no scene with the test's."""

SCENE_TINTS = {"grass": (0.75, 1.0, 0.55), "brick": (1.0, 0.62, 0.5),
               "gravel": (1.0, 0.9, 0.75), "camera_place": (0.95, 1.0, 1.08)}
"""RGB gains that give scikit-image's greyscale photos the colour of what they show (a photo
posted today is in colour)."""

CANVAS_SIDE = 640
"""Longest side of a crowded photo: larger than the 512-pixel copy the comparison judges, as an
upload is."""
SUBJECT_HEIGHT = (0.62, 0.78)
"""The main subject's height as a share of the photo's height (drawn uniformly)."""
BYSTANDER_HEIGHT = (0.35, 0.6)
"""A bystander's height as a share of the photo's height: always well below the subject's."""
BYSTANDER_AT_MOST = 0.85
"""A bystander is at most this share of the subject's height."""
OVERLAP = 0.4
"""A bystander stands behind its inner neighbour (the subject, or the bystander nearer the
middle) by at most this share of its own width."""
BYSTANDERS = (2, 4)
"""How many bystanders a photo has (inclusive range)."""
TILT_DEGREES = 8.0
"""Cut-outs are rotated by up to this much either way, so no two photos are alike."""

COPY_CROP = 0.03
COPY_SCALE = 0.8
COPY_GAIN = 1.15


@dataclass(frozen=True)
class CrowdedPhoto:
    """One crowded photo.

    Attributes:
        image: uint8 H x W x 3.
        subject: which of SUBJECTS is the main subject.
        subject_box: (top, left, height, width) of the main subject's pasted cut-out, in pixels.
        scene: the scene's name.
        bystanders: the bystanders' names, left to right.
        seed: the seed that made it.
    """

    image: np.ndarray
    subject: str
    subject_box: tuple[int, int, int, int]
    scene: str
    bystanders: tuple[str, ...]
    seed: int


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


@functools.cache
def cutout(name: str) -> np.ndarray:
    """uint8 H x W x 4: the person of example photo `name`, alpha from MediaPipe's person mask,
    cropped to where the alpha is."""
    from models.images import load_image
    from models.pose.mediapipe_runtime import RUNTIME

    image = load_image(EXAMPLES_DIR / f"{name}.jpg")
    _, mask = RUNTIME.faces_and_mask(image, faces=False)
    alpha = np.clip(mask, 0.0, 1.0)
    alpha[alpha < 0.2] = 0.0  # the mask's faint halo would paste a ghost of the old place
    rows, cols = np.flatnonzero(alpha.max(axis=1) >= 0.5), np.flatnonzero(alpha.max(axis=0) >= 0.5)
    crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    rgba = np.dstack([image, np.round(alpha * 255).astype(np.uint8)])[crop]
    rgba.setflags(write=False)
    return rgba


@functools.cache
def scene(name: str) -> np.ndarray:
    """uint8 H x W x 3 scene without people: a scikit-image photo, or "<person>_place", that
    example photo with its person inpainted away (`fill_people`)."""
    from skimage import data

    if name.endswith("_place"):
        from models.images import load_image
        from models.pose.background import fill_people
        from models.pose.mediapipe_runtime import RUNTIME

        image = load_image(EXAMPLES_DIR / f"{name.removesuffix('_place')}.jpg")
        _, mask = RUNTIME.faces_and_mask(image, faces=False)
        picture = fill_people(image, mask)
    elif name.startswith("motorcycle_"):
        left, right, _ = data.stereo_motorcycle()
        picture = left if name == "motorcycle_left" else right
    else:
        picture = getattr(data, name)()
    picture = _rgb(picture)
    if name in SCENE_TINTS:  # a greyscale texture, given the colour of what it shows
        picture = np.clip(np.round(picture * np.array(SCENE_TINTS[name])), 0, 255).astype(
            np.uint8)
    picture.setflags(write=False)
    return picture


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((max(1, width), max(1, height)),
                                                    Image.Resampling.LANCZOS))


def _posed(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The cut-out mirrored (half the time) and tilted by up to TILT_DEGREES, with its canvas
    grown so nothing is cut off."""
    from PIL import Image

    if rng.random() < 0.5:
        rgba = rgba[:, ::-1]
    angle = float(rng.uniform(-TILT_DEGREES, TILT_DEGREES))
    turned = Image.fromarray(np.ascontiguousarray(rgba)).rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True)
    turned = np.asarray(turned)
    solid = turned[..., 3] >= 128
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    return turned[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _paste(canvas: np.ndarray, rgba: np.ndarray, top: int, left: int) -> tuple[int, int, int,
                                                                                 int]:
    """Alpha-blend `rgba` onto `canvas` (in place) at (top, left), clipped to the canvas; the
    (top, left, height, width) of its solid part on the canvas."""
    height, width = canvas.shape[:2]
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(height, top + rgba.shape[0]), min(width, left + rgba.shape[1])
    piece = rgba[y0 - top : y1 - top, x0 - left : x1 - left].astype(np.float32)
    alpha = piece[..., 3:] / 255.0
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = np.round(region * (1 - alpha) + piece[..., :3] * alpha).astype(
        np.uint8)
    solid = piece[..., 3] >= 128
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    return (y0 + int(rows[0]), x0 + int(cols[0]), int(rows[-1] - rows[0] + 1),
            int(cols[-1] - cols[0] + 1))


def crowded_photo(seed: int, scenes: tuple[str, ...], subject: str | None = None
                  ) -> CrowdedPhoto:
    """A crowded photo made from `seed`: a scene from `scenes`, a main subject (`subject`, or
    one of SUBJECTS drawn) largest and nearest the centre, and bystanders to its sides.

    Every person stands on the photo's bottom edge (the cut-outs end where their photos did),
    the subject in front. The photo is landscape, square or portrait.
    """
    rng = np.random.default_rng(seed)
    scene_name = scenes[int(rng.integers(len(scenes)))]
    subject = subject or SUBJECTS[int(rng.integers(len(SUBJECTS)))]
    aspect = float(rng.choice([0.75, 1.0, 4 / 3]))  # width / height
    height = CANVAS_SIDE if aspect <= 1 else round(CANVAS_SIDE / aspect)
    width = round(height * aspect)
    canvas = _resize(_rgb(scene(scene_name)), height, width).copy()

    # The subject's size first: every bystander is drawn smaller.
    subject_person = _posed(cutout(subject), rng)
    subject_tall = round(height * rng.uniform(*SUBJECT_HEIGHT))
    subject_wide = round(subject_person.shape[1] * subject_tall / subject_person.shape[0])
    if subject_wide > 0.6 * width:  # a wide cut-out (the astronaut's helmet) must leave room
        subject_tall = round(subject_tall * 0.6 * width / subject_wide)
        subject_wide = round(0.6 * width)

    subject_centre = width * (0.5 + rng.uniform(-0.05, 0.05))
    # Bystanders first (behind the subject), alternating sides, each side filled outward from
    # the subject: a bystander may stand up to OVERLAP of its width behind its inner
    # neighbour, and one that would be more than half out of the photo stays out of it.
    count = int(rng.integers(BYSTANDERS[0], BYSTANDERS[1] + 1))
    names = [PEOPLE[int(rng.integers(len(PEOPLE)))] for _ in range(count)]
    inner_edge = {-1: subject_centre - subject_wide / 2, 1: subject_centre + subject_wide / 2}
    placed = []
    for index, name in enumerate(names):
        person = _posed(cutout(name), rng)
        tall = min(round(height * rng.uniform(*BYSTANDER_HEIGHT)),
                   round(BYSTANDER_AT_MOST * subject_tall))
        wide = round(person.shape[1] * tall / person.shape[0])
        side = -1 if index % 2 == 0 else 1
        behind = rng.uniform(0.0, OVERLAP) * wide
        centre_x = inner_edge[side] + side * (wide / 2 - behind + rng.uniform(0, 0.05) * width)
        if not 0.0 <= centre_x <= width:  # more than half of it would be out of the photo
            continue
        inner_edge[side] = centre_x + side * wide / 2
        bottom = height - round(height * rng.uniform(0.0, 0.12))
        _paste(canvas, _resize(person, tall, wide), bottom - tall, round(centre_x - wide / 2))
        placed.append((centre_x, name))

    person = _resize(subject_person, subject_tall, subject_wide)
    box = _paste(canvas, person, height - subject_tall, round(subject_centre - subject_wide / 2))
    return CrowdedPhoto(canvas, subject, box, scene_name,
                        tuple(name for _, name in sorted(placed)), seed)


def copy_of(image: np.ndarray) -> np.ndarray:
    """A re-post of `image`: cropped by COPY_CROP a side, scaled to COPY_SCALE, COPY_GAIN
    brighter."""
    height, width = image.shape[:2]
    dy, dx = round(COPY_CROP * height), round(COPY_CROP * width)
    cropped = image[dy : height - dy, dx : width - dx]
    small = _resize(cropped, round(cropped.shape[0] * COPY_SCALE),
                    round(cropped.shape[1] * COPY_SCALE))
    return np.clip(np.round(small.astype(np.float32) * COPY_GAIN), 0, 255).astype(np.uint8)


def box_in_copy(box, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """Where a (top, left, height, width) box of a photo of `shape` lands in `copy_of` it."""
    height, width = shape[:2]
    dy, dx = round(COPY_CROP * height), round(COPY_CROP * width)
    crop_h, crop_w = height - 2 * dy, width - 2 * dx
    scale_y = round(crop_h * COPY_SCALE) / crop_h
    scale_x = round(crop_w * COPY_SCALE) / crop_w
    top, left, box_h, box_w = box
    return ((top - dy) * scale_y, (left - dx) * scale_x, box_h * scale_y, box_w * scale_x)


def overlap(first, second) -> float:
    """Intersection over union of two (top, left, height, width) boxes."""
    top = max(first[0], second[0])
    left = max(first[1], second[1])
    bottom = min(first[0] + first[2], second[0] + second[2])
    right = min(first[1] + first[3], second[1] + second[3])
    inside = max(0.0, bottom - top) * max(0.0, right - left)
    union = first[2] * first[3] + second[2] * second[3] - inside
    return float(inside / union) if union > 0 else 0.0


# === The evaluation ===

EVALUATION_SEED = 1000
"""First seed of the evaluation's photos: tests/test_pose_crowd.py uses seeds below 100."""
EVALUATION_PHOTOS = 30


@dataclass(frozen=True)
class CrowdEvaluation:
    """The shipped pose similarity on crowded photos.

    Attributes:
        photos: the crowded photos (held-out scenes and seeds).
        copies: each photo's pose similarity to its copy (None: no pose to compare).
        held: whether the copy's main subject box is the photo's, mapped (IoU >= 0.5).
        unrelated: (i, j, similarity) for every pair of photos whose main subjects are
            different people.
        threshold: the "same pose" threshold.
    """

    photos: tuple[CrowdedPhoto, ...]
    copies: tuple[float | None, ...]
    held: tuple[bool, ...]
    unrelated: tuple[tuple[int, int, float | None], ...]
    threshold: float

    @property
    def hit_rate(self) -> float:
        """Share of copies called the same pose."""
        return _share(self.copies, self.threshold)

    @property
    def false_match_rate(self) -> float:
        """Share of unrelated pairs called the same pose."""
        return _share([value for _, _, value in self.unrelated], self.threshold)

    @property
    def auc(self) -> float:
        """Area under the ROC curve of pose similarity, copies against unrelated pairs: the
        chance that a copy scores above an unrelated pair (ties count half). A pair with no
        pose to compare scores below every pair that has one."""
        same = np.array([_ranked(value) for value in self.copies])
        other = np.array([_ranked(value) for _, _, value in self.unrelated])
        above = (same[:, None] > other[None]).sum() + 0.5 * (same[:, None] == other[None]).sum()
        return float(above / (len(same) * len(other)))


def _ranked(value: float | None) -> float:
    return -1.0 if value is None else float(value)


def _share(values, threshold: float) -> float:
    values = list(values)
    return sum(value is not None and value >= threshold for value in values) / len(values)


def evaluate_crowds(photos: int = EVALUATION_PHOTOS, first_seed: int = EVALUATION_SEED,
                    scenes: tuple[str, ...] = HELD_OUT_SCENES) -> CrowdEvaluation:
    """Score `compare`'s pose similarity on `photos` crowded photos (seeds from `first_seed`,
    their main subjects alternating between SUBJECTS) against their copies and against each
    other."""
    from models.pose.comparison import POSE_THRESHOLD, analyse, pose_similarity

    made, analyses, copies, held = [], [], [], []
    for index in range(photos):
        photo = crowded_photo(first_seed + index, scenes, SUBJECTS[index % len(SUBJECTS)])
        copy = copy_of(photo.image)
        original, again = analyse(photo.image), analyse(copy)
        copies.append(pose_similarity(original, again)[0])
        held.append(_same_subject(original, again, photo.image.shape, copy.shape))
        made.append(photo)
        analyses.append(original)
    unrelated = tuple(
        (i, j, pose_similarity(analyses[i], analyses[j])[0])
        for i in range(photos) for j in range(i + 1, photos)
        if made[i].subject != made[j].subject)
    return CrowdEvaluation(tuple(made), tuple(copies), tuple(held), unrelated, POSE_THRESHOLD)


def _same_subject(original, again, shape, copy_shape) -> bool:
    """Whether the copy's main subject box is the original's, carried through the copy (the
    analyses box the judged copies, at most 512 pixels a side)."""
    if original.subject_box is None or again.subject_box is None:
        return False
    scale = original.image.shape[0] / shape[0]
    copy_scale = again.image.shape[0] / copy_shape[0]
    in_upload = tuple(value / scale for value in original.subject_box)
    expected = tuple(value * copy_scale for value in box_in_copy(in_upload, shape))
    return overlap(expected, again.subject_box) >= 0.5


def crowd_table(result: CrowdEvaluation) -> str:
    """The evaluation as a Markdown table, with what it was measured on above it."""
    subjects = ", ".join(f"{sum(p.subject == s for p in result.photos)} {SUBJECT_NAMES[s]}"
                         for s in SUBJECTS)
    seeds = [photo.seed for photo in result.photos]
    copies, unrelated = len(result.copies), len(result.unrelated)
    hits = round(result.hit_rate * copies)
    false = round(result.false_match_rate * unrelated)
    no_pose = sum(value is None for value in result.copies)
    lines = [
        f"{copies} crowded photos (main subject: {subjects}; 2 to 4 bystanders), held-out "
        f"scenes {', '.join(sorted({p.scene for p in result.photos}))}, seeds "
        f"{min(seeds)}-{max(seeds)}; each copy cropped by {COPY_CROP:.0%} a side, scaled to "
        f"{COPY_SCALE:g} and {COPY_GAIN - 1:.0%} brighter; \"same pose\" from "
        f"{result.threshold:g}",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| AUC, copies against unrelated pairs | {result.auc:.3f} |",
        f"| hit rate: copies called the same pose | {result.hit_rate:.2f} ({hits} of "
        f"{copies}) |",
        f"| false-match rate: unrelated pairs called the same pose | "
        f"{result.false_match_rate:.3f} ({false} of {unrelated}) |",
        f"| main subject held: the copy's box is the photo's (IoU >= 0.5) | "
        f"{sum(result.held)} of {copies} |",
        f"| no pose found in the photo or its copy | {no_pose} of {copies} |",
    ]
    return "\n".join(lines)


SUBJECT_NAMES = {"astronaut": "the astronaut", "camera": "the cameraman"}


def run_crowded(photos: int, json_path: Path | None = None) -> int:
    """`python -m models.evaluate pose --crowded`: print the table of `photos` crowded photos
    (and write it as JSON to `json_path`); the exit code."""
    from models import saved_split

    result = evaluate_crowds(photos)
    print("pose similarity of the shipped comparison on crowded photos\n")
    print(crowd_table(result))
    saved_split.write_json(json_path, {
        "task": "pose", "mode": "crowded", "threshold": result.threshold,
        "auc": result.auc, "hit_rate": result.hit_rate,
        "false_match_rate": result.false_match_rate,
        "photos": [{"seed": p.seed, "scene": p.scene, "subject": p.subject,
                    "bystanders": list(p.bystanders), "copy_similarity": similarity,
                    "subject_held": held}
                   for p, similarity, held in zip(result.photos, result.copies, result.held,
                                                  strict=True)],
        "unrelated": [{"seeds": [result.photos[i].seed, result.photos[j].seed],
                       "similarity": similarity} for i, j, similarity in result.unrelated],
    })
    return 0
