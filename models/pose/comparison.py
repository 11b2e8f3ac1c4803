"""Same pose, same place? Compare two photos the way the InstaModel research defines a copy.

A creator's photo copies a post when the person strikes the same pose *and* stands in the same
place. So `compare(a, b)` measures two things:

- pose similarity: MediaPipe Pose keypoints (the legacy solution, which ships inside the
  mediapipe 0.10.21 wheel and needs no download), aligned by Procrustes for translation, scale
  and in-plane rotation (no reflection), each joint weighted by its visibility. A mirrored copy
  counts as the same pose unless `allow_mirror=False`;
- background similarity: the person is masked out with MediaPipe's selfie segmentation, and what
  is left is compared with descriptors that need no weights (Lab colour, LBP texture and a coarse
  colour layout) and, when the CLIP weights are on this machine, CLIP embeddings of the
  background too.

Thresholds were calibrated on labelled pairs made from photos that installed packages ship
(`python -m benchmarks.pose_calibration`); the README reports their accuracy.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from models.images import PreparedPhoto, judged_copy, prepare_photo
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

MIN_SHARED_JOINTS = 4  # fewer joints seen in both photos cannot define a pose
JOINT_SIGMA = 0.25  # residual (in units of the pose's RMS radius) at which a joint scores e^-1

# === Thresholds (calibrated; see README "Pose: calibration") ===

POSE_THRESHOLD = 0.29
BACKGROUND_THRESHOLD = 0.77
MIRROR_MARGIN = 0.02  # a mirrored match must beat the direct one by this much to be called so

WORK_SIDE = 256  # background descriptors run on copies this size (longest side)
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
        """The weight-free background descriptor, computed once per photo."""
        return describe_background(self.image, self.person_mask)

    def background_only(self) -> np.ndarray:
        """The photo with the people greyed out, as the background descriptors see it."""
        keep = (self.person_mask < 0.5)[..., None]
        grey = np.full_like(self.image, 128)
        return np.where(keep, self.image, grey)


@dataclass(frozen=True)
class BackgroundScore:
    """Background similarity and its parts, each in [0, 1].

    Attributes:
        similarity: what the verdict uses (offline descriptors, averaged with CLIP when used).
        colour: Lab colour histograms (Bhattacharyya coefficient).
        texture: LBP texture histograms.
        layout: coarse Lab colour layout on a 4 x 4 grid.
        clip: CLIP embedding similarity of the backgrounds, or None without CLIP weights.
    """

    similarity: float
    colour: float
    texture: float
    layout: float
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


def analyse(image, *, pose: bool = True, mask: bool = True) -> PersonAnalysis:
    """Find the people, the main subject's joints and every person's mask in one photo.

    Args:
        image: anything `prepare_photo` takes (odd photos follow its policy).
        pose: find the people and the main subject's joints (False leaves them out).
        mask: segment the people (False gives an all-zero mask). The explainers ask for only
            the part their target needs, since they analyse hundreds of perturbed copies.

    Returns:
        A PersonAnalysis. With several people the pose is the main subject's: the largest face
        nearest the centre, searched for in a body-sized region around it.
    """
    prepared = prepare_photo(image)
    image = judged_copy(prepared.image)
    prepared = dataclasses.replace(prepared, image=image)
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


def procrustes(reference: np.ndarray, moving: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Residual of each point after aligning `moving` onto `reference`.

    Both point sets are centred on their weighted centroid and scaled to unit weighted RMS
    radius; then the rotation that best maps one onto the other (a proper rotation: no
    reflection, so a mirrored pose is not matched by accident) is found by weighted Kabsch.

    Args:
        reference, moving: J x 2 points.
        weights: J non-negative weights; zero-weight points do not shape the fit.

    Returns:
        J residual distances, in units of the pose's RMS radius.
    """
    w = weights / weights.sum()
    a = reference - (w[:, None] * reference).sum(axis=0)
    b = moving - (w[:, None] * moving).sum(axis=0)
    a /= math.sqrt(float((w * (a**2).sum(axis=1)).sum())) or 1.0
    b /= math.sqrt(float((w * (b**2).sum(axis=1)).sum())) or 1.0
    covariance = (w[:, None] * b).T @ a
    u, _, vt = np.linalg.svd(covariance)
    sign = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rotation = vt.T @ np.diag([1.0, sign]) @ u.T
    return np.linalg.norm(a - b @ rotation.T, axis=1)


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
    from skimage.transform import resize

    height, width = image.shape[:2]
    scale = min(1.0, side / max(height, width))
    size = (max(8, round(height * scale)), max(8, round(width * scale)))
    small = resize(image, size, order=1, anti_aliasing=scale < 1, preserve_range=True)
    small_mask = resize(mask, size, order=1, preserve_range=True)
    return small.astype(np.float32) / 255.0, small_mask < 0.5


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


def background_parts(a: BackgroundDescriptor, b: BackgroundDescriptor,
                     allow_mirror: bool = True) -> tuple[float, float, float]:
    """(colour, texture, layout) similarities in [0, 1].

    Colour and texture histograms ignore where things are; the layout does not, so a mirrored
    copy is also compared with its layout flipped back.
    """
    colour = _bhattacharyya(a.colour, b.colour)
    texture = _bhattacharyya(a.texture, b.texture) ** TEXTURE_SHARPNESS
    layout = _layout_similarity(a.layout, b.layout)
    if allow_mirror:
        layout = max(layout, _layout_similarity(a.layout, b.layout[:, ::-1]))
    return colour, texture, layout


# colour, texture, layout: the calibration's choice. It gives the layout no weight: crops and
# rotations move it more than a different place changes colour and texture.
BACKGROUND_WEIGHTS = (0.85, 0.15, 0.0)


def offline_background_similarity(parts: tuple[float, float, float]) -> float:
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
    colour, texture, layout = background_parts(a.background, b.background, allow_mirror)
    offline = offline_background_similarity((colour, texture, layout))
    clip_part = _clip_background_similarity(a, b) if clip_in_use(use_clip) else None
    return BackgroundScore(combined_background(offline, clip_part), colour, texture, layout,
                           clip_part)


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
    first, second = analyse(a), analyse(b)
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
        notes.append("Backgrounds compared by colour, texture and layout ("
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
    base = reference if isinstance(reference, PersonAnalysis) else analyse(reference)
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
            offline = [offline_background_similarity(
                background_parts(base.background, other.background, allow_mirror))
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
