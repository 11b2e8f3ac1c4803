"""Same pose, same place? Compare two photos the way the InstaModel research defines a copy.

A creator's photo copies a post when the person strikes the same pose *and* stands in the same
place. So `compare(a, b)` measures two things:

- pose similarity: MediaPipe Pose keypoints (the legacy solution, which ships inside the
  mediapipe 0.10.21 wheel and needs no download), aligned by a similarity transform whose
  rotation is at most `MAX_ROTATION_DEGREES` (a tilted phone, not a person lying down) and
  never a reflection, each joint weighted by its visibility. A mirrored copy counts as the same
  pose unless `allow_mirror=False`;
- background similarity: the people are masked out with MediaPipe's selfie segmentation, and
  what is left is compared with descriptors that need no weights: Lab colour, LBP texture, a
  coarse colour layout, and ORB keypoints that one similarity transform lines up
  (`models.pose.background`). When the CLIP weights are on this machine, CLIP embeddings of
  the backgrounds with the people inpainted away join them.

Thresholds were calibrated on labelled pairs made from photos that installed packages ship
(`python -m benchmarks.pose_calibration`); the README reports their accuracy.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import math
import threading
from dataclasses import dataclass, field

import numpy as np

from models.images import PreparedPhoto, judged_copy, prepare_photo
from models.pose.background import (
    PlaceCorners,
    StructureFeatures,
    describe_corners,
    fill_people,
    find_place_corners,
    shrink,
    structure_similarity,
)
from models.pose.mediapipe_runtime import RUNTIME, VISIBLE

# === Keypoints ===

# MediaPipe Pose landmark index for each joint we compare. The face's ten extra points are left
# out: they would outweigh the limbs in the alignment.
JOINTS = (
    ("nose", 0),
    ("left shoulder", 11), ("right shoulder", 12),
    ("left elbow", 13), ("right elbow", 14),
    ("left wrist", 15), ("right wrist", 16),
    ("left hip", 23), ("right hip", 24),
    ("left knee", 25), ("right knee", 26),
    ("left ankle", 27), ("right ankle", 28),
)
JOINT_NAMES = tuple(name for name, _ in JOINTS)
LANDMARK_INDEX = np.array([index for _, index in JOINTS])
# Joint order after a left-right mirror: a mirrored person's left wrist sits where the right was.
MIRROR_ORDER = np.array([
    JOINT_NAMES.index(name.replace("left", "RIGHT").replace("right", "left").replace("RIGHT",
                                                                                       "right"))
    for name in JOINT_NAMES
])
# Limbs named in the per-joint chart's notes, as pairs of joint names.
LIMBS = (
    ("left upper arm", "left shoulder", "left elbow"),
    ("left forearm", "left elbow", "left wrist"),
    ("right upper arm", "right shoulder", "right elbow"),
    ("right forearm", "right elbow", "right wrist"),
    ("left thigh", "left hip", "left knee"),
    ("left shin", "left knee", "left ankle"),
    ("right thigh", "right hip", "right knee"),
    ("right shin", "right knee", "right ankle"),
    ("shoulders", "left shoulder", "right shoulder"),
    ("hips", "left hip", "right hip"),
    ("left side", "left shoulder", "left hip"),
    ("right side", "right shoulder", "right hip"),
)

MAX_ROTATION_DEGREES = 25.0
"""The largest in-plane rotation the pose alignment may use. A phone held a little crooked
tilts a photo by a few degrees, a deliberately tilted shot by perhaps 15 to 20; a quarter turn
is a different pose (lying down, not standing), so it must not be aligned away."""
MIN_SHARED_JOINTS = 4  # fewer joints seen in both photos cannot define a pose
JOINT_SIGMA = 0.25  # residual (in units of the pose's RMS radius) at which a joint scores e^-1

# === Thresholds (calibrated; see README "Pose: calibration") ===

POSE_THRESHOLD = 0.39
BACKGROUND_THRESHOLD = 0.6155
MIRROR_MARGIN = 0.02  # a mirrored match must beat the direct one by this much to be called so

# Background descriptors run on copies this size (longest side): the size ORB's keypoints use
# too (background.STRUCTURE_SIDE), small enough to keep a comparison near 100 ms.
WORK_SIDE = 160
LAYOUT_SCALE = 12.0  # Lab units of average chroma gap per layout cell that score e^-1
# Texture histograms of any two photos overlap a lot (Bhattacharyya ~0.9); a power spreads them.
TEXTURE_SHARPNESS = 8.0


@dataclass(frozen=True)
class JointScore:
    """How well one joint agrees after alignment.

    Attributes:
        name: e.g. "left wrist".
        score: in [0, 1], or None when the joint is not seen in both photos.
        distance: residual after alignment, in units of the pose's size (None when unseen).
    """

    name: str
    score: float | None
    distance: float | None


@dataclass(frozen=True)
class PersonAnalysis:
    """What InstaVis found in one photo.

    Attributes:
        image: the photo as compared, uint8 H x W x 3: `prepare_photo`, then `judged_copy`
            (longest side at most 512), so the explainers perturb exactly this image.
        people: how many people were found (faces, or one body when no face shows).
        keypoints: 13 x 2 pixel coordinates (x, y) of the main subject's joints, or None.
        visibility: 13 visibilities in [0, 1], or None.
        person_mask: float32 H x W in [0, 1], every person in the photo.
        subject_box: (top, left, height, width) searched for the main subject's pose.
        prepared: how the upload became `image` (a long strip cut, transparency filled), for
            the comparison's notes; its image is `image`.
    """

    image: np.ndarray
    people: int
    keypoints: np.ndarray | None
    visibility: np.ndarray | None
    person_mask: np.ndarray
    subject_box: tuple[int, int, int, int] | None = None
    prepared: PreparedPhoto | None = None

    @property
    def has_pose(self) -> bool:
        return self.keypoints is not None

    @functools.cached_property
    def background(self) -> BackgroundDescriptor:
        """The weight-free colour, texture and layout descriptor, computed once per photo."""
        return describe_background(self.image, self.person_mask)

    @functools.cached_property
    def _place_corners(self) -> PlaceCorners | None:
        return find_place_corners(self.image, self.person_mask)

    @functools.cached_property
    def structure(self) -> StructureFeatures:
        """ORB keypoints of the place (outside the people), computed once per photo."""
        return describe_corners(self._place_corners)

    @functools.cached_property
    def mirrored_structure(self) -> StructureFeatures:
        """The same corners described in the photo's mirror image (only when a mirrored match
        is allowed)."""
        return describe_corners(self._place_corners, mirrored=True)

    @functools.cached_property
    def _filled(self) -> np.ndarray:
        return fill_people(self.image, self.person_mask)

    def background_only(self) -> np.ndarray:
        """The photo with the people filled in by inpainting, as CLIP and the tab see the
        place (no silhouette to give the pose away)."""
        return self._filled.copy()


@dataclass(frozen=True)
class BackgroundScore:
    """Background similarity and its parts, each in [0, 1].

    Attributes:
        similarity: what the verdict uses (offline descriptors, averaged with CLIP when used).
        colour: Lab colour histograms (Bhattacharyya coefficient).
        texture: LBP texture histograms.
        layout: coarse Lab colour layout on a 4 x 4 grid.
        structure: ORB keypoints outside the people that one similarity transform lines up
            (`models.pose.background.structure_similarity`).
        clip: CLIP embedding similarity of the inpainted backgrounds, or None without CLIP
            weights.
    """

    similarity: float
    colour: float
    texture: float
    layout: float
    structure: float = 0.0
    clip: float | None = None


@dataclass(frozen=True)
class PoseComparison:
    """The answer to "same pose, same place?" for two photos.

    Attributes:
        pose_similarity: in [0, 1], or None when a photo has no person (or too few joints).
        background_similarity: in [0, 1].
        similar: both similarities reach their thresholds.
        joints: one JointScore per compared joint (a's joint names).
        people: (people in a, people in b).
        mirrored: b matches a better as a mirror image.
        notes: short plain-words notes for the user.
        background: the background similarity's parts.
        a, b: the per-photo analyses (keypoints and masks for drawing).
        pose_threshold, background_threshold: the thresholds used.
    """

    pose_similarity: float | None
    background_similarity: float
    similar: bool
    joints: tuple[JointScore, ...]
    people: tuple[int, int]
    mirrored: bool
    notes: tuple[str, ...]
    background: BackgroundScore
    a: PersonAnalysis = field(repr=False)
    b: PersonAnalysis = field(repr=False)
    pose_threshold: float = POSE_THRESHOLD
    background_threshold: float = BACKGROUND_THRESHOLD


def _main_face(faces, height: int, width: int):
    """The largest face nearest the centre: the photo's main subject."""
    def weight(box):
        top, left, box_h, box_w = box
        centre_y, centre_x = top + box_h / 2, left + box_w / 2
        off_centre = math.hypot(centre_y / height - 0.5, centre_x / width - 0.5) / math.hypot(0.5,
                                                                                             0.5)
        return box_h * box_w * (1.0 - 0.7 * off_centre)

    return max(faces, key=weight)


def _subject_box(face, height: int, width: int) -> tuple[int, int, int, int]:
    """A body-sized region around a face: a few face widths across, down to the bottom."""
    top, left, box_h, box_w = face
    centre_x = left + box_w / 2
    x0 = int(max(0, centre_x - 2.5 * box_w))
    x1 = int(min(width, centre_x + 2.5 * box_w))
    y0 = int(max(0, top - 0.6 * box_h))
    return y0, x0, height - y0, max(1, x1 - x0)


REMEMBERED_ANALYSES = 8
"""How many whole-photo analyses `analyse(..., remember=True)` keeps. The Pose tab compares one
post with photo after photo, re-runs a pair when the mirror rule changes and explains the pair
it just compared: each of those would otherwise pay MediaPipe's three graphs again for a photo
it has already seen (about two thirds of a comparison's time)."""


class _AnalysisMemory:
    """The last REMEMBERED_ANALYSES whole-photo analyses, keyed by the judged pixels and what
    was done to the upload (so the notes stay right), least recently used first out."""

    def __init__(self, size: int):
        self._size = size
        self._lock = threading.Lock()
        self._analyses: collections.OrderedDict[tuple, PersonAnalysis] = (
            collections.OrderedDict())

    @staticmethod
    def key(prepared: PreparedPhoto) -> tuple:
        pixels = np.ascontiguousarray(prepared.image)
        return (hashlib.blake2b(pixels.data, digest_size=16).digest(), pixels.shape,
                prepared.uploaded_size, prepared.cropped, prepared.transparent)

    def get(self, key: tuple) -> PersonAnalysis | None:
        with self._lock:
            found = self._analyses.get(key)
            if found is not None:
                self._analyses.move_to_end(key)
            return found

    def put(self, key: tuple, analysis: PersonAnalysis) -> None:
        with self._lock:
            self._analyses[key] = analysis
            self._analyses.move_to_end(key)
            while len(self._analyses) > self._size:
                self._analyses.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._analyses.clear()


ANALYSIS_MEMORY = _AnalysisMemory(REMEMBERED_ANALYSES)


def analyse(image, *, pose: bool = True, mask: bool = True,
            remember: bool = False) -> PersonAnalysis:
    """Find the people, the main subject's joints and every person's mask in one photo.

    Args:
        image: anything `prepare_photo` takes (odd photos follow its policy).
        pose: find the people and the main subject's joints (False leaves them out).
        mask: segment the people (False gives an all-zero mask). The explainers ask for only
            the part their target needs, since they analyse hundreds of perturbed copies.
        remember: look the photo up among the last `REMEMBERED_ANALYSES` whole analyses, and
            keep this one there (with its descriptors, once computed). For photos a user
            gave, not for the explainers' perturbed copies, which would push them out.

    Returns:
        A PersonAnalysis. With several people the pose is the main subject's: the largest face
        nearest the centre, searched for in a body-sized region around it.
    """
    prepared = prepare_photo(image)
    image = judged_copy(prepared.image)
    prepared = dataclasses.replace(prepared, image=image)
    if remember and pose and mask:
        key = ANALYSIS_MEMORY.key(prepared)
        found = ANALYSIS_MEMORY.get(key)
        if found is None:
            found = _analyse_prepared(prepared, pose=True, mask=True)
            # Shared from now on: a caller writing into it would change every later result.
            for array in (found.image, found.person_mask, found.keypoints, found.visibility):
                if array is not None:
                    array.setflags(write=False)
            ANALYSIS_MEMORY.put(key, found)
        return found
    return _analyse_prepared(prepared, pose=pose, mask=mask)


def _analyse_prepared(prepared: PreparedPhoto, *, pose: bool, mask: bool) -> PersonAnalysis:
    image = prepared.image
    height, width = image.shape[:2]
    faces, person = RUNTIME.faces_and_mask(image, faces=pose, mask=mask)
    if person is None:
        person = np.zeros((height, width), np.float32)
    box = None
    landmarks = None
    if not pose:
        return PersonAnalysis(image, 0, None, None, np.asarray(person, np.float32), None,
                              prepared)
    if len(faces) >= 2:
        box = _subject_box(_main_face(faces, height, width), height, width)
        top, left, box_h, box_w = box
        landmarks = RUNTIME.landmarks(image[top : top + box_h, left : left + box_w])
    if landmarks is None:
        box = None
        landmarks = RUNTIME.landmarks(image)
    keypoints = visibility = None
    if landmarks is not None:
        top, left, box_h, box_w = box or (0, 0, height, width)
        points = landmarks[LANDMARK_INDEX]
        keypoints = np.stack([left + points[:, 0] * box_w, top + points[:, 1] * box_h],
                             axis=1).astype(np.float32)
        visibility = points[:, 2].copy()
    people = max(len(faces), 1 if keypoints is not None else 0)
    return PersonAnalysis(image, people, keypoints, visibility,
                          np.asarray(person, np.float32), box, prepared)


# === Pose similarity ===


def procrustes(reference: np.ndarray, moving: np.ndarray, weights: np.ndarray,
               max_rotation: float = MAX_ROTATION_DEGREES) -> np.ndarray:
    """Residual of each point after aligning `moving` onto `reference` by a similarity transform
    whose rotation is at most `max_rotation` degrees either way.

    Both point sets are centred on their weighted centroid (the best translation for any
    rotation and scale) and scaled to unit weighted RMS radius. For a rotation by angle t and
    a scale s, the weighted squared error is

        E(t, s) = sum w |a|^2 - 2 s (C cos t + S sin t) + s^2 sum w |b|^2,

    where a . R(t) b = cos t (a_x b_x + a_y b_y) + sin t (a_y b_x - a_x b_y) gives
    C = sum w (a_x b_x + a_y b_y) and S = sum w (a_y b_x - a_x b_y). The bracket is
    rho cos(t - t*) with rho = hypot(C, S) and t* = atan2(S, C), so the best free rotation
    is t* (weighted Kabsch/Procrustes in 2-D).
    Constrained to |t| <= limit, the bracket is largest at the point of [-limit, limit]
    nearest t* on the circle, which, since the interval is symmetric about 0 and t* lies in
    (-180, 180], is t* clipped to the interval. For that rotation the best scale is
    s = max(0, rho cos(t - t*)) / sum w |b|^2 (a negative scale would be a half-turn, which
    the limit forbids). No reflection is ever used, so a mirrored pose is not matched by
    accident.

    Args:
        reference, moving: J x 2 points.
        weights: J non-negative weights; zero-weight points do not shape the fit.
        max_rotation: the largest in-plane rotation, in degrees, the alignment may use (180:
            any rotation).

    Returns:
        J residual distances, in units of the reference pose's RMS radius.
    """
    w = weights / weights.sum()
    a = reference - (w[:, None] * reference).sum(axis=0)
    b = moving - (w[:, None] * moving).sum(axis=0)
    a /= math.sqrt(float((w * (a**2).sum(axis=1)).sum())) or 1.0
    b /= math.sqrt(float((w * (b**2).sum(axis=1)).sum())) or 1.0
    angle = best_rotation(a, b, w, max_rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    rotated = b @ np.array([[cos, -sin], [sin, cos]]).T
    scale = max(0.0, float((w * (a * rotated).sum(axis=1)).sum()))
    scale /= float((w * (b**2).sum(axis=1)).sum()) or 1.0
    return np.linalg.norm(a - scale * rotated, axis=1)


def best_rotation(reference: np.ndarray, moving: np.ndarray, weights: np.ndarray,
                  max_rotation: float = MAX_ROTATION_DEGREES) -> float:
    """The angle (radians) of the rotation R, |angle| <= max_rotation degrees, that best maps
    the centred `moving` points onto the centred `reference` (see `procrustes`)."""
    cosine_part = float((weights * (reference * moving).sum(axis=1)).sum())
    sine_part = float((weights * (reference[:, 1] * moving[:, 0]
                                  - reference[:, 0] * moving[:, 1])).sum())
    limit = math.radians(min(abs(max_rotation), 180.0))
    return float(np.clip(math.atan2(sine_part, cosine_part), -limit, limit))


def _joint_scores(reference, ref_vis, moving, mov_vis):
    seen = (ref_vis >= VISIBLE) & (mov_vis >= VISIBLE)
    if seen.sum() < MIN_SHARED_JOINTS:
        return None, None, seen
    weights = np.where(seen, ref_vis * mov_vis, 0.0)
    distances = procrustes(reference, moving, weights)
    scores = np.exp(-((distances / JOINT_SIGMA) ** 2))
    overall = float((weights * scores).sum() / weights.sum())
    return overall, (scores, distances), seen


def pose_similarity(a: PersonAnalysis, b: PersonAnalysis, allow_mirror: bool = True):
    """(similarity or None, per-joint scores, mirrored) of b's pose against a's."""
    if not (a.has_pose and b.has_pose):
        return None, tuple(JointScore(n, None, None) for n in JOINT_NAMES), False
    direct = _joint_scores(a.keypoints, a.visibility, b.keypoints, b.visibility)
    best, mirrored = direct, False
    if allow_mirror:
        flipped = b.keypoints.copy()
        flipped[:, 0] = -flipped[:, 0]
        mirror = _joint_scores(a.keypoints, a.visibility, flipped[MIRROR_ORDER],
                               b.visibility[MIRROR_ORDER])
        if mirror[0] is not None and (direct[0] is None
                                      or mirror[0] > direct[0] + MIRROR_MARGIN):
            best, mirrored = mirror, True
    overall, parts, seen = best
    if overall is None:
        return None, tuple(JointScore(n, None, None) for n in JOINT_NAMES), False
    scores, distances = parts
    joints = tuple(
        JointScore(name, float(scores[i]) if seen[i] else None,
                   float(distances[i]) if seen[i] else None)
        for i, name in enumerate(JOINT_NAMES)
    )
    return overall, joints, mirrored


def differing_limbs(joints: tuple[JointScore, ...], below: float = 0.5) -> list[str]:
    """Names of limbs whose two joints agree poorly on average (both must be seen)."""
    by_name = {joint.name: joint.score for joint in joints}
    differ = []
    for limb, first, second in LIMBS:
        scores = (by_name.get(first), by_name.get(second))
        if None not in scores and sum(scores) / 2 < below:
            differ.append(limb)
    return differ


# === Background similarity ===


def _shrink(image: np.ndarray, mask: np.ndarray, side: int = WORK_SIDE):
    small, small_mask = shrink(image, mask, side)
    return small, small_mask < 0.5


def _histogram(values: np.ndarray, bins, ranges) -> np.ndarray:
    hist, _ = np.histogramdd(values, bins=bins, range=ranges)
    total = hist.sum()
    return hist.ravel() / total if total else hist.ravel()


def _bhattacharyya(p: np.ndarray, q: np.ndarray) -> float:
    if not p.any() or not q.any():
        return 0.0
    return float(np.sqrt(p * q).sum())


@dataclass(frozen=True)
class BackgroundDescriptor:
    """Weight-free description of a photo's background: colour, texture and layout."""

    colour: np.ndarray
    texture: np.ndarray
    layout: np.ndarray  # 4 x 4 x 2 mean a*, b* per cell (NaN where the cell is mostly person)


def describe_background(image: np.ndarray, person_mask: np.ndarray) -> BackgroundDescriptor:
    """Colour (a*b* chroma and L histograms), LBP texture and a 4 x 4 chroma layout of the
    pixels outside the person mask. Chroma more than lightness, so exposure changes matter
    less than a different place."""
    from skimage.color import rgb2gray, rgb2lab
    from skimage.feature import local_binary_pattern

    small, background = _shrink(image, person_mask)
    if background.mean() < 0.02:  # the person fills the frame: use everything
        background = np.ones_like(background)
    lab = rgb2lab(small)
    pixels = lab[background]
    chroma = _histogram(pixels[:, 1:], (12, 12), ((-60, 60), (-60, 60)))
    lightness = _histogram(pixels[:, :1], (8,), ((0, 100),))
    grey = (rgb2gray(small) * 255).astype(np.uint8)
    texture = np.concatenate([
        _histogram(local_binary_pattern(grey, 8, 1, "uniform")[background][:, None], (10,),
                   ((0, 10),)),
        # A second radius sees coarser texture; 8 neighbours, not 16, keeps it cheap.
        _histogram(local_binary_pattern(grey, 8, 2, "uniform")[background][:, None], (10,),
                   ((0, 10),)),
    ]) / 2
    layout = np.full((4, 4, 2), np.nan, np.float32)
    height, width = background.shape
    for row in range(4):
        for col in range(4):
            cell = (slice(row * height // 4, (row + 1) * height // 4),
                    slice(col * width // 4, (col + 1) * width // 4))
            keep = background[cell]
            if keep.mean() >= 0.2:
                layout[row, col] = lab[cell][keep][:, 1:].mean(axis=0)
    return BackgroundDescriptor(np.concatenate([chroma * 0.75, lightness * 0.25]), texture,
                                layout)


def _layout_similarity(a: np.ndarray, b: np.ndarray) -> float:
    both = ~np.isnan(a[..., 0]) & ~np.isnan(b[..., 0])
    if not both.any():
        return 0.0
    gap = np.linalg.norm(a[both] - b[both], axis=-1).mean()
    return float(np.exp(-gap / LAYOUT_SCALE))


BACKGROUND_PARTS = ("colour", "texture", "layout", "structure")


def background_parts(a: PersonAnalysis, b: PersonAnalysis,
                     allow_mirror: bool = True) -> tuple[float, float, float, float]:
    """(colour, texture, layout, structure) similarities of two photos' backgrounds, in [0, 1].

    Colour and texture histograms ignore where things are; the layout and the keypoints do
    not, so with `allow_mirror` b is also compared mirrored and the better score kept.
    """
    first, second = a.background, b.background
    colour = _bhattacharyya(first.colour, second.colour)
    texture = _bhattacharyya(first.texture, second.texture) ** TEXTURE_SHARPNESS
    layout = _layout_similarity(first.layout, second.layout)
    structure = structure_similarity(a.structure, b.structure).score
    if allow_mirror:
        layout = max(layout, _layout_similarity(first.layout, second.layout[:, ::-1]))
        structure = max(structure,
                        structure_similarity(a.structure, b.mirrored_structure).score)
    return colour, texture, layout, structure


# colour, texture, layout, structure: the calibration's choice (benchmarks/pose_calibration.py,
# searched inside its cross-validation; this is the choice on all pairs).
BACKGROUND_WEIGHTS = (0.15, 0.5, 0.15, 0.2)


def offline_background_similarity(parts: tuple[float, ...]) -> float:
    return float(sum(w * p for w, p in zip(BACKGROUND_WEIGHTS, parts, strict=True)))


def clip_in_use(use_clip: bool | None) -> bool:
    """Whether background similarity includes CLIP: asked for, or (None) its weights are here."""
    if use_clip is not None:
        return bool(use_clip)
    import weights

    return weights.available("clip")


def clip_score(cosine: float | np.ndarray) -> float | np.ndarray:
    """A CLIP cosine of two backgrounds mapped to [0, 1]. Photos of anything share some CLIP
    similarity, so 0.5 and below counts as unrelated."""
    return np.clip((np.asarray(cosine, np.float64) - 0.5) / 0.5, 0.0, 1.0)


def _clip_background_similarity(a: PersonAnalysis, b: PersonAnalysis) -> float:
    """CLIP similarity of the two backgrounds, in [0, 1] (needs the CLIP weights)."""
    from models import clip

    embeddings = clip.embed_images([a.background_only(), b.background_only()])
    return float(clip_score(embeddings[0] @ embeddings[1]))


def background_similarity(a: PersonAnalysis, b: PersonAnalysis, use_clip: bool | None = None,
                          allow_mirror: bool = True) -> BackgroundScore:
    parts = background_parts(a, b, allow_mirror)
    offline = offline_background_similarity(parts)
    clip_part = _clip_background_similarity(a, b) if clip_in_use(use_clip) else None
    return BackgroundScore(combined_background(offline, clip_part), *parts, clip=clip_part)


def combined_background(offline: float, clip_part: float | None) -> float:
    """The background similarity shown: the weight-free score, averaged with CLIP's when there
    is one."""
    return float(offline if clip_part is None else (offline + clip_part) / 2)


# === The entry point ===


def compare(a, b, *, allow_mirror: bool = True, use_clip: bool | None = None) -> PoseComparison:
    """Do photos `a` and `b` show the same pose in front of the same place?

    Args:
        a: the reference (e.g. the famous post), anything `prepare_photo` takes.
        b: the photo compared with it.
        allow_mirror: count a left-right mirrored pose as the same pose.
        use_clip: add CLIP background embeddings (None: when the weights are on this machine).

    Returns:
        A PoseComparison.

    Raises:
        InvalidImage: a photo cannot be read, or is too small to judge.
    """
    first, second = analyse(a, remember=True), analyse(b, remember=True)
    return compare_analyses(first, second, allow_mirror=allow_mirror, use_clip=use_clip)


def compare_analyses(a: PersonAnalysis, b: PersonAnalysis, *, allow_mirror: bool = True,
                     use_clip: bool | None = None) -> PoseComparison:
    """`compare` for photos already analysed (the explainers perturb only one of them)."""
    pose, joints, mirrored = pose_similarity(a, b, allow_mirror)
    background = background_similarity(a, b, use_clip, allow_mirror)
    notes = []
    for label, analysis in (("first", a), ("second", b)):
        if analysis.prepared is not None:
            notes.extend(analysis.prepared.notes(f"The {label} photo"))
    for label, analysis in (("first", a), ("second", b)):
        if analysis.people == 0:
            notes.append(f"No person found in the {label} photo, so only the places are compared.")
        elif analysis.people > 1:
            notes.append(f"{analysis.people} people in the {label} photo: comparing the main "
                         "subject (largest, nearest the centre).")
    if pose is None and a.has_pose and b.has_pose:
        notes.append("Too few joints are visible in both photos to compare the poses.")
    if mirrored:
        notes.append("The second photo matches as a mirror image of the first.")
    if pose is not None:
        differ = differing_limbs(joints)
        if differ:
            notes.append("These differ most: " + ", ".join(differ) + ".")
        notes.append("Same pose." if pose >= POSE_THRESHOLD else "Different pose.")
    if background.clip is None:
        from weights.prefetch import waiting_note

        arriving = waiting_note("clip")
        notes.append("Backgrounds compared by colour, texture, layout and matching keypoints ("
                     + (f"CLIP joins them when it arrives: {arriving}"
                        if arriving else "CLIP weights absent") + ").")
    notes.append("Same place." if background.similarity >= BACKGROUND_THRESHOLD
                 else "Different place.")
    similar = (pose is not None and pose >= POSE_THRESHOLD
               and background.similarity >= BACKGROUND_THRESHOLD)
    return PoseComparison(
        pose_similarity=pose, background_similarity=background.similarity, similar=similar,
        joints=joints, people=(a.people, b.people), mirrored=mirrored, notes=tuple(notes),
        background=background, a=a, b=b,
    )


WARM_UP_SIDE = 256
"""Side of the blank photo `warm_up` compares with itself: any size builds the same graphs."""


def warm_up() -> None:
    """Do the first comparison's one-off work now: build MediaPipe's face detection, person
    segmentation and pose graphs (a blank photo has no face, so the pose graph runs on all of
    it) and compute the background descriptors once; with the CLIP weights on this machine
    (never a download), load CLIP and embed the backgrounds too. Safe to call from a
    background thread while requests arrive: the graphs are built once behind the runtime's
    lock, and CLIP behind its own."""
    blank = np.full((WARM_UP_SIDE, WARM_UP_SIDE, 3), 128, np.uint8)
    analysis = analyse(blank)
    compare_analyses(analysis, analysis)


def similarity_function(reference, photo=None, allow_mirror: bool = True,
                        outputs: tuple[str, ...] | None = None, use_clip: bool | None = None):
    """fn(images of b, uint8 N x H x W x 3) -> N x len(outputs) similarities to `reference`.

    For LIME and SHAP through explain.FunctionModel: they perturb photo b and watch how similar
    it stays to a. Each output is computed exactly as `compare_analyses` computes the number the
    Pose tab shows (same mirror rule; CLIP in the background score whenever the comparison used
    it), so the unperturbed photo scores exactly what the verdict card shows.

    A perturbed copy in which MediaPipe finds no pose cannot be compared at all. It scores the
    unperturbed photo's pose similarity ("no evidence either way"), not 0: scoring 0 would make
    the map mostly show where MediaPipe stops finding a person, while the user asked which parts
    of the photo make the pose match. So the pose map shows what moves the matched pose.

    Args:
        reference: photo a (anything `load_image` takes, or its PersonAnalysis).
        photo: photo b's PersonAnalysis, whose unperturbed pose similarity a copy without a pose
            scores (None: such copies score 0).
        allow_mirror: as in `compare`.
        outputs: which of SIMILARITY_OUTPUTS to compute, in order (default both). Asking for
            one skips the other's MediaPipe work on every perturbed copy.
        use_clip: as in `compare` (None: when the CLIP weights are on this machine).
    """
    outputs = tuple(outputs or SIMILARITY_OUTPUTS)
    unknown = set(outputs) - set(SIMILARITY_OUTPUTS)
    if unknown:
        raise ValueError(f"Unknown similarity output(s) {sorted(unknown)}; choose from "
                         f"{SIMILARITY_OUTPUTS}.")
    base = (reference if isinstance(reference, PersonAnalysis)
            else analyse(reference, remember=True))
    want_pose, want_background = (name in outputs for name in SIMILARITY_OUTPUTS)
    no_pose_score = 0.0
    if want_pose and photo is not None:
        no_pose_score = pose_similarity(base, photo, allow_mirror)[0] or 0.0
    with_clip = want_background and clip_in_use(use_clip)
    reference_embedding = None
    if with_clip:
        from models import clip

        reference_embedding = clip.embed_images([base.background_only()])[0]

    def fn(images: np.ndarray) -> np.ndarray:
        others = [analyse(image, pose=want_pose, mask=want_background) for image in images]
        columns = {}
        if want_pose:
            columns[SIMILARITY_OUTPUTS[0]] = [
                pose_similarity(base, other, allow_mirror)[0] for other in others]
            columns[SIMILARITY_OUTPUTS[0]] = [no_pose_score if value is None else value
                                              for value in columns[SIMILARITY_OUTPUTS[0]]]
        if want_background:
            offline = [offline_background_similarity(background_parts(base, other, allow_mirror))
                       for other in others]
            clip_parts = [None] * len(others)
            if with_clip:
                from models import clip

                # One batched CLIP pass for every perturbed copy's background.
                embeddings = clip.embed_images([other.background_only() for other in others])
                clip_parts = [float(v) for v in clip_score(embeddings @ reference_embedding)]
            columns[SIMILARITY_OUTPUTS[1]] = [combined_background(o, c)
                                              for o, c in zip(offline, clip_parts, strict=True)]
        return np.asarray([[columns[name][row] for name in outputs]
                           for row in range(len(others))], np.float32).reshape(len(others), -1)

    return fn


SIMILARITY_OUTPUTS = ("pose similarity", "background similarity")
