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
(`python -m benchmarks.pose_calibration`); docs/tabs/pose.md reports their accuracy.
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

# === Thresholds (calibrated; see docs/tabs/pose.md "How well it works") ===

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
        people: how many people were found (faces, or one body when no face shows). The
            candidates in the person mask are not counted: a helmet or a bag can be one.
        keypoints: 13 x 2 pixel coordinates (x, y) of the main subject's joints, or None.
        visibility: 13 visibilities in [0, 1], or None.
        person_mask: float32 H x W in [0, 1], every person in the photo.
        subject_box: (top, left, height, width) in pixels of `image`: the main subject, chosen
            among several candidate people (even when MediaPipe then finds no body in it), or
            the person holding the joints found; None when there is neither.
        prepared: how the upload became `image` (a long strip cut, transparency filled), for
            the comparison's notes; its image is `image`.
        searched_box: (top, left, height, width) the pose model was run on: the main subject's
            box grown by one of SUBJECT_MARGINS, or None for the whole photo.
        searched_mirrored: the pose was found in the mirror image of `searched_box` (and
            mapped back to the photo's own sides).
    """

    image: np.ndarray
    people: int
    keypoints: np.ndarray | None
    visibility: np.ndarray | None
    person_mask: np.ndarray
    subject_box: tuple[int, int, int, int] | None = None
    prepared: PreparedPhoto | None = None
    searched_box: tuple[int, int, int, int] | None = None
    searched_mirrored: bool = False

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


# === The main subject ===

MIN_PERSON_SHARE = 0.01
"""A piece of the person mask smaller than this share of the photo is not a person worth
comparing (a hand at the frame's edge, a speck the segmentation left), so it is no candidate."""
CENTRE_WEIGHT = 0.7
"""How much being off-centre costs a candidate: its size counts (1 - CENTRE_WEIGHT x distance),
the distance from the photo's centre to the candidate's centroid, with the corner at 1. A
person at the edge then needs more than three times the area of one at the centre to be the
subject."""
HEAD_PROMINENCE = 0.1
"""A rise of a mask piece's upper outline is a head when it stands this share of its own height
(above the piece's bottom) over the dips on either side: a head rises a fifth to a third of a
half-length figure above its shoulders."""
HEAD_SPACING = 0.15
"""Two heads of one piece are at least this share of its height apart across."""
FACE_BODY_AREA = 6.0
"""A face the person mask missed stands for this many face boxes of person (a segmented
person is 4 to 15 face boxes: a head-and-shoulders portrait to a half-length figure)."""
FACE_BODY_HEIGHT = 7.0
"""The body under such a face reaches at most this many face heights below its top."""
SUBJECT_MARGINS = (0.05, 0.15, 0.3)
"""The pose model looks for the chosen person in that person's box grown by each of these
shares of its larger side in turn, until it finds a body. A tight box shuts out the people
around; MediaPipe's detector sometimes needs more context (a hand or a foot sticking out past
the segmentation, a bent back). On the 30 crowded photos and copies these were chosen on (an
early version of tests/test_pose_crowd.py's, half of them of the cameraman), the tight box
alone found a body in both photo and copy 24 times, the three margins 27 times."""


@dataclass(frozen=True)
class PersonRegion:
    """One candidate person: a connected piece of the person mask, or its share of one that
    holds several heads (`people_regions`).

    Attributes:
        box: (top, left, height, width) in pixels, around the piece's mask.
        share: the piece's area as a share of the photo.
        centre: (y, x) of the piece's centroid as shares of the photo's height and width.
    """

    box: tuple[int, int, int, int]
    share: float
    centre: tuple[float, float]

    @property
    def weight(self) -> float:
        """How much this candidate looks like the main subject: large and near the centre."""
        off_centre = math.hypot(self.centre[0] - 0.5, self.centre[1] - 0.5) / math.hypot(0.5,
                                                                                         0.5)
        return self.share * (1.0 - CENTRE_WEIGHT * off_centre)


def _region(rows: np.ndarray, cols: np.ndarray, height: int, width: int) -> PersonRegion:
    top, left = int(rows.min()), int(cols.min())
    return PersonRegion((top, left, int(rows.max()) - top + 1, int(cols.max()) - left + 1),
                        len(rows) / (height * width),
                        (float(rows.mean()) / height, float(cols.mean()) / width))


def _face_centre(face) -> tuple[float, float]:
    top, left, box_h, box_w = face
    return top + box_h / 2, left + box_w / 2


def _heads(piece: np.ndarray, faces: list, offset: tuple[int, int]) -> list[tuple[float, float]]:
    """(column, top row) of each head in one piece of the person mask, in photo pixels.

    Faces are heads. So are the rises of the piece's upper outline that stand more than
    HEAD_PROMINENCE of their own height (above the piece's bottom) over the dips on either side
    (the shoulders between two people), at least HEAD_SPACING of the piece's height apart: that
    finds the heads of people seen from behind or in profile, whose faces the detector misses.
    A rise within HEAD_SPACING of a face is that face's head.

    Args:
        piece: bool h x w, the piece's mask inside its box.
        faces: face boxes (photo pixels) that lie on the piece.
        offset: (top, left) of the piece's box in the photo.
    """
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import find_peaks

    tall = piece.shape[0]
    top_rows = np.where(piece.any(axis=0), piece.argmax(axis=0), tall)
    outline = uniform_filter1d((tall - top_rows).astype(np.float64),
                               size=max(3, round(0.02 * piece.shape[1])))
    # Zero on both sides, so a head at the piece's edge is a rise too. A smaller person's head
    # rises less, so the prominence asked for is a share of the rise's own height.
    padded = np.concatenate([[0.0], outline, [0.0]])
    rises, found = find_peaks(padded, prominence=0.02 * tall,
                              distance=max(1, round(HEAD_SPACING * tall)))
    rises = rises[found["prominences"] >= HEAD_PROMINENCE * padded[rises]]
    heads = [(_face_centre(face)[1], float(face[0])) for face in faces]
    for column in rises - 1:
        x = float(offset[1] + column)
        if all(abs(x - head_x) > HEAD_SPACING * tall for head_x, _ in heads):
            heads.append((x, float(offset[0] + top_rows[column])))
    return heads


def people_regions(person_mask: np.ndarray, faces=()) -> list[PersonRegion]:
    """The candidate people of a photo, largest first.

    Each connected piece of the person mask (0.5 and above) is one person, unless it has more
    than one head (`_heads`: faces, and rises of its outline): then people touch or overlap,
    and each pixel of the piece goes to the head nearest across, measured in that person's
    height (from the head's top to the piece's bottom), so a taller, nearer person claims more
    of the piece. A face on no piece (the segmentation missed that person) is a candidate too:
    a body-sized box under it, counted as FACE_BODY_AREA face boxes of person. Pieces under
    MIN_PERSON_SHARE of the photo are left out.

    Args:
        person_mask: float H x W in [0, 1] (MediaPipe's selfie segmentation).
        faces: (top, left, height, width) face boxes in pixels.
    """
    from scipy import ndimage

    height, width = person_mask.shape
    labels, _ = ndimage.label(person_mask >= 0.5, structure=np.ones((3, 3), bool))
    faces_on = collections.defaultdict(list)
    regions = []
    for face in faces:
        top, left, box_h, box_w = face
        # The piece most of the face's box lies on (its centre may sit on a gap in the mask).
        under = labels[max(0, int(top)) : max(0, int(math.ceil(top + box_h))),
                       max(0, int(left)) : max(0, int(math.ceil(left + box_w)))]
        found = under[under > 0]
        if found.size >= 0.25 * max(under.size, 1):
            faces_on[int(np.bincount(found).argmax())].append(face)
        else:
            regions.append(_face_region(face, height, width))
    for label, (rows_slice, cols_slice) in enumerate(ndimage.find_objects(labels), start=1):
        if rows_slice is None:
            continue
        piece = labels[rows_slice, cols_slice] == label
        if piece.sum() < MIN_PERSON_SHARE * height * width:
            continue
        rows, cols = np.nonzero(piece)
        heads = _heads(piece, faces_on[label], (rows_slice.start, cols_slice.start))
        rows, cols = rows + rows_slice.start, cols + cols_slice.start
        if len(heads) < 2:
            pieces = [(rows, cols)]
        else:
            head_x = np.array([x for x, _ in heads])
            person_height = np.array([max(1.0, rows_slice.stop - head_top)
                                      for _, head_top in heads])
            nearest = np.argmin(np.abs(cols[:, None] - head_x[None]) / person_height[None],
                                axis=1)
            pieces = [(rows[nearest == i], cols[nearest == i]) for i in range(len(heads))]
        regions.extend(_region(r, c, height, width) for r, c in pieces
                       if len(r) >= MIN_PERSON_SHARE * height * width)
    return sorted(regions, key=lambda region: -region.share)


def _face_region(face, height: int, width: int) -> PersonRegion:
    """A candidate for a face the person mask missed: a box a few face widths across, from
    just above the face down to the photo's bottom or FACE_BODY_HEIGHT faces below."""
    top, left, box_h, box_w = face
    centre_y, centre_x = _face_centre(face)
    x0, x1 = max(0, int(centre_x - 2.5 * box_w)), min(width, int(centre_x + 2.5 * box_w))
    y0 = max(0, int(top - 0.6 * box_h))
    y1 = min(height, int(top + FACE_BODY_HEIGHT * box_h))
    box = (y0, x0, max(1, y1 - y0), max(1, x1 - x0))
    share = min(FACE_BODY_AREA * box_h * box_w, box[2] * box[3]) / (height * width)
    return PersonRegion(box, float(share), ((y0 + y1) / 2 / height, centre_x / width))


def main_subject(regions: list[PersonRegion]) -> PersonRegion | None:
    """The candidate with the largest `PersonRegion.weight`: the largest person, nearest the
    centre. None without candidates."""
    return max(regions, key=lambda region: region.weight, default=None)


def grown_box(box: tuple[int, int, int, int], height: int, width: int,
              margin: float) -> tuple[int, int, int, int]:
    """A (top, left, height, width) box grown by `margin` of its larger side each way, inside
    the photo."""
    top, left, box_h, box_w = box
    grow = margin * max(box_h, box_w)
    y0, x0 = max(0, int(top - grow)), max(0, int(left - grow))
    y1 = min(height, math.ceil(top + box_h + grow))
    x1 = min(width, math.ceil(left + box_w + grow))
    return y0, x0, max(1, y1 - y0), max(1, x1 - x0)


def _box_around(points: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """The box around (x, y) points, inside the photo."""
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(width, max(x1, x0 + 1)), min(height, max(y1, y0 + 1))
    return int(y0), int(x0), int(y1 - y0), int(x1 - x0)


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


def analyse(image, *, pose: bool = True, mask: bool = True, remember: bool = False,
            subject_from: PersonAnalysis | None = None) -> PersonAnalysis:
    """Find the people, the main subject's joints and every person's mask in one photo.

    Args:
        image: anything `prepare_photo` takes (odd photos follow its policy).
        pose: find the people and the main subject's joints (False leaves them out).
        mask: segment the people (False gives an all-zero mask). The explainers ask for only
            the part their target needs, since they analyse hundreds of perturbed copies.
        remember: look the photo up among the last `REMEMBERED_ANALYSES` whole analyses, and
            keep this one there (with its descriptors, once computed). For photos a user
            gave, not for the explainers' perturbed copies, which would push them out.
        subject_from: an analysis of the unperturbed photo, whose main subject this one keeps:
            the pose is searched in the same box (`searched_box`), with no new choice. The
            explainers perturb a photo hundreds of times; hiding a part of the subject must
            not hand the pose to a bystander.

    Returns:
        A PersonAnalysis. With several candidate people (`people_regions`) the pose is the main
        subject's: the largest person nearest the centre (`main_subject`), searched for in that
        person's box (`SUBJECT_MARGINS`), so the crowd cannot take over the landmarks. When
        MediaPipe finds no body there, a pose found in the whole photo is kept only if its
        joints lie in the subject's box; otherwise the photo has no pose.
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
    return _analyse_prepared(prepared, pose=pose, mask=mask, subject_from=subject_from)


def _analyse_prepared(prepared: PreparedPhoto, *, pose: bool, mask: bool,
                      subject_from: PersonAnalysis | None = None) -> PersonAnalysis:
    image = prepared.image
    height, width = image.shape[:2]
    choose = pose and subject_from is None
    # The subject rule reads the person mask, so a pose without a given subject needs it too.
    faces, person = RUNTIME.faces_and_mask(image, faces=choose, mask=mask or choose)
    if person is None:
        person = np.zeros((height, width), np.float32)
    person = np.asarray(person, np.float32)
    if not pose:
        return PersonAnalysis(image, 0, None, None, person, None, prepared)
    if subject_from is not None:
        subject, people, regions = subject_from.subject_box, subject_from.people, []
        searched, mirrored = subject_from.searched_box, subject_from.searched_mirrored
        landmarks = _landmarks_in(image, searched, mirrored)
    else:
        regions = people_regions(person, faces)
        subject, searched, mirrored, landmarks = _main_subject_pose(image, faces, regions)
    keypoints = visibility = None
    if landmarks is not None:
        keypoints, visibility = landmarks
        if subject is None:
            subject = _subject_of(keypoints, visibility, regions, height, width)
    if subject_from is None:
        people = max(len(faces), 1 if keypoints is not None else 0)
    return PersonAnalysis(image, people, keypoints, visibility, person, subject, prepared,
                          searched, mirrored)


def _main_subject_pose(image: np.ndarray, faces: list, regions: list[PersonRegion]):
    """(the main subject's box, the box its pose was found in, whether it was found in that
    box's mirror image, its landmarks); the boxes and landmarks may be None.

    The person mask also covers things that are not people (a cat, a cup), and MediaPipe finds
    a body in a tight crop of nearly anything, so a photo must first show a person: a face, or
    a body MediaPipe finds in the whole photo. Then the main subject (`main_subject`) is
    searched in its box grown by each of SUBJECT_MARGINS, then in the mirror image of those
    boxes (MediaPipe finds some bodies only one way round), and last in the whole photo. A body
    found counts only if its joints lie in the subject's box (`_holds`): a wider box may hold a
    bystander, and MediaPipe may pick the bystander.
    """
    height, width = image.shape[:2]
    whole = None
    if not faces:
        whole = _landmarks_in(image, None)
        if whole is None:
            return None, None, False, None
    chosen = main_subject(regions)
    if chosen is None:  # a face or a body, but no person in the mask: the whole photo
        whole = whole if whole is not None else _landmarks_in(image, None)
        return None, None, False, whole
    for mirrored in (False, True):
        for margin in SUBJECT_MARGINS:
            searched = grown_box(chosen.box, height, width, margin)
            landmarks = _landmarks_in(image, searched, mirrored)
            if landmarks is not None and _holds(chosen.box, *landmarks, height, width):
                return chosen.box, searched, mirrored, landmarks
    whole = whole if whole is not None else _landmarks_in(image, None)
    if whole is not None and _holds(chosen.box, *whole, height, width):
        return chosen.box, None, False, whole
    return chosen.box, None, False, None


def _landmarks_in(image: np.ndarray, box: tuple[int, int, int, int] | None,
                  mirrored: bool = False):
    """(13 x 2 keypoints in the photo's pixels, 13 visibilities) of the most prominent person
    MediaPipe finds in `box`, or None. None searches the whole photo. A box is padded to a
    square with its median colour first: MediaPipe's person detector letterboxes its input in
    black, and on the tall, tight crop of one person (a dark coat against black bars) it
    misses bodies that it finds in the square."""
    height, width = image.shape[:2]
    if box is None:
        landmarks = RUNTIME.landmarks(image)
        top = left = 0
        side_y, side_x = height, width
    else:
        top, left, box_h, box_w = box
        crop = image[top : top + box_h, left : left + box_w]
        side = max(box_h, box_w)
        square = np.empty((side, side, 3), np.uint8)
        square[:] = np.median(crop.reshape(-1, 3), axis=0).astype(np.uint8)
        pad_y, pad_x = (side - box_h) // 2, (side - box_w) // 2
        square[pad_y : pad_y + box_h, pad_x : pad_x + box_w] = crop
        landmarks = RUNTIME.landmarks(square[:, ::-1].copy() if mirrored else square)
        top, left = top - pad_y, left - pad_x
        side_y = side_x = side
    if landmarks is None:
        return None
    points = landmarks[LANDMARK_INDEX]
    if mirrored:  # back to the photo's own sides: x flips, left and right joints swap
        points = points[MIRROR_ORDER]
        points[:, 0] = 1.0 - points[:, 0]
    keypoints = np.stack([left + points[:, 0] * side_x, top + points[:, 1] * side_y],
                         axis=1).astype(np.float32)
    return keypoints, points[:, 2].copy()


def _seen_points(keypoints: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    seen = keypoints[visibility >= VISIBLE]
    return seen if len(seen) else keypoints


def _count_inside(box: tuple[int, int, int, int], points: np.ndarray) -> int:
    top, left, box_h, box_w = box
    return int(((points[:, 0] >= left) & (points[:, 0] <= left + box_w)
                & (points[:, 1] >= top) & (points[:, 1] <= top + box_h)).sum())


def _holds(box, keypoints, visibility, height: int, width: int) -> bool:
    """Whether these are the joints of the person in `box`: most of the seen joints lie in it,
    grown by the tightest of SUBJECT_MARGINS. A wider search box may hold a bystander too, and
    MediaPipe may pick the bystander."""
    seen = _seen_points(keypoints, visibility)
    grown = grown_box(box, height, width, SUBJECT_MARGINS[0])
    return 2 * _count_inside(grown, seen) > len(seen)


def _subject_of(keypoints: np.ndarray, visibility: np.ndarray, regions: list[PersonRegion],
                height: int, width: int) -> tuple[int, int, int, int]:
    """The box of the person whose joints these are: the candidate that holds most of the seen
    joints, or (when none holds half of them) the box around the seen joints."""
    seen = _seen_points(keypoints, visibility)
    holding = max(regions, key=lambda region: _count_inside(region.box, seen), default=None)
    if holding is not None and 2 * _count_inside(holding.box, seen) >= len(seen):
        return holding.box
    return _box_around(seen, height, width)


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
    """(similarity or None, (per-joint scores, distances) or None, seen, total joint weight)."""
    seen = (ref_vis >= VISIBLE) & (mov_vis >= VISIBLE)
    weights = np.where(seen, ref_vis * mov_vis, 0.0)
    if seen.sum() < MIN_SHARED_JOINTS:
        return None, None, seen, float(weights.sum())
    distances = procrustes(reference, moving, weights)
    scores = np.exp(-((distances / JOINT_SIGMA) ** 2))
    overall = float((weights * scores).sum() / weights.sum())
    return overall, (scores, distances), seen, float(weights.sum())


def _best_match(a: PersonAnalysis, b: PersonAnalysis, allow_mirror: bool):
    """`_joint_scores` of b against a, directly or (when allowed and clearly better) mirrored;
    and whether mirrored. None when a photo has no pose."""
    if not (a.has_pose and b.has_pose):
        return None
    direct = _joint_scores(a.keypoints, a.visibility, b.keypoints, b.visibility)
    if allow_mirror:
        flipped = b.keypoints.copy()
        flipped[:, 0] = -flipped[:, 0]
        mirror = _joint_scores(a.keypoints, a.visibility, flipped[MIRROR_ORDER],
                               b.visibility[MIRROR_ORDER])
        if mirror[0] is not None and (direct[0] is None
                                      or mirror[0] > direct[0] + MIRROR_MARGIN):
            return mirror, True
    return direct, False


def pose_similarity(a: PersonAnalysis, b: PersonAnalysis, allow_mirror: bool = True):
    """(similarity or None, per-joint scores, mirrored) of b's pose against a's."""
    match = _best_match(a, b, allow_mirror)
    if match is None or match[0][0] is None:
        return None, tuple(JointScore(n, None, None) for n in JOINT_NAMES), False
    (overall, (scores, distances), seen, _), mirrored = match
    joints = tuple(
        JointScore(name, float(scores[i]) if seen[i] else None,
                   float(distances[i]) if seen[i] else None)
        for i, name in enumerate(JOINT_NAMES)
    )
    return overall, joints, mirrored


def joint_evidence(a: PersonAnalysis, b: PersonAnalysis, allow_mirror: bool = True) -> float:
    """How much joint evidence b's pose match to a's rests on: the summed weights (the products
    of the two visibilities) of the joints seen in both, for the match `pose_similarity` uses;
    0 when a photo has no pose."""
    match = _best_match(a, b, allow_mirror)
    return 0.0 if match is None else match[0][3]


def explained_pose_similarity(a: PersonAnalysis, b: PersonAnalysis, evidence: float,
                              allow_mirror: bool = True) -> float:
    """The pose similarity the explainers see for a perturbed copy b of the photo compared:
    joints the copy no longer shows count as not matching.

    The pose similarity is a weighted mean over the joints seen in both photos, so hiding a
    joint only removes it from the mean: a copy that shows nothing but a matching head would
    score as high as the photo. Here the weighted sum of the joint scores is divided by the
    photo's own joint evidence (`joint_evidence`) whenever the copy shows less, so it falls as
    joints disappear, and a copy in which MediaPipe finds no body, or too few joints, scores
    0. On the unperturbed photo (the same evidence) it is exactly `pose_similarity`.

    Args:
        a: the reference photo's analysis.
        b: the perturbed copy's analysis.
        evidence: `joint_evidence` of the unperturbed photo against a.
        allow_mirror: as in `compare`.
    """
    match = _best_match(a, b, allow_mirror)
    if match is None or match[0][0] is None:
        return 0.0
    overall, _, _, weight = match[0]
    return float(overall * weight / max(weight, evidence)) if weight > 0 else 0.0


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
        elif not analysis.has_pose:
            notes.append(f"No body pose found for the main subject of the {label} photo, so only "
                         "the places are compared.")
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
    it stays to a. Each output is computed as `compare_analyses` computes the number the Pose
    tab shows (same mirror rule; CLIP in the background score whenever the comparison used it),
    so the unperturbed photo scores exactly what the verdict card shows.

    For a perturbed copy, the pose similarity counts the joints the copy no longer shows as not
    matching (`explained_pose_similarity`), and a copy in which MediaPipe finds no body scores
    0. The plain weighted mean over the joints still seen would barely move when a limb is
    hidden (MediaPipe drops the joint or guesses it back), and giving a copy without a body the
    photo's own score made every deletion curve end where it began: the maps could not be told
    from random ones.

    Args:
        reference: photo a (anything `load_image` takes, or its PersonAnalysis).
        photo: photo b's PersonAnalysis: its joint evidence is what a copy's lost joints are
            counted against, and every copy keeps its main subject (the pose is searched where
            b's was). None: plain pose similarity, 0 without a pose, and each copy chooses its
            own subject.
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
    evidence = 0.0
    if want_pose and photo is not None:
        evidence = joint_evidence(base, photo, allow_mirror)
    with_clip = want_background and clip_in_use(use_clip)
    reference_embedding = None
    if with_clip:
        from models import clip

        reference_embedding = clip.embed_images([base.background_only()])[0]

    def fn(images: np.ndarray) -> np.ndarray:
        # A perturbed copy keeps photo b's main subject: hiding part of the subject must not
        # hand the pose to a bystander.
        others = [analyse(image, pose=want_pose, mask=want_background, subject_from=photo)
                  for image in images]
        columns = {}
        if want_pose:
            columns[SIMILARITY_OUTPUTS[0]] = [
                explained_pose_similarity(base, other, evidence, allow_mirror)
                for other in others]
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
