"""The place behind the people: the background with the people filled in, and its structure.

Two things the colour and texture histograms of `comparison` cannot do:

- `fill_people` paints the people out with biharmonic inpainting (the masked region is filled
  by the smoothest continuation of what surrounds it), so a background-only image carries no
  silhouette. A grey person-shaped hole, which is what the CLIP input used to be, tells CLIP
  the pose as loudly as the person did.
- `StructureFeatures` and `structure_similarity` recognise a place by its shapes: ORB
  keypoints (Rublee et al. 2011, "ORB: an efficient alternative to SIFT or SURF") outside the
  people, matched between the photos and checked with RANSAC (Fischler and Bolles 1981) for
  one similarity transform (shift, scale, small rotation) that maps many of them onto each
  other. Matching corners survive a crop, a rescale and a change of light, which move colour
  histograms; two different places share at most a chance handful of consistent matches.

Both run on small copies (`FILL_SIDE`, `STRUCTURE_SIDE`) to keep a comparison near DESIGN.md's
100 ms budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# === Filling the people in ===

FILL_SIDE = 64
"""Longest side of the copy the inpainting solves on (about 17 ms on 2 cores at a 50% person
mask); the fill is smooth anyway, so solving at full size buys nothing but time."""
FILL_GROW = 0.03
"""How far (as a share of the longest side) the person mask is grown before filling, so the
segmentation's soft edge, where the person's outline still shows, is filled too."""
MOSTLY_PERSON = 0.9
"""Above this share of people, there is too little place left to continue from: fill with the
remaining pixels' mean colour instead."""


def fill_region(person_mask: np.ndarray) -> np.ndarray:
    """Bool H x W: the pixels `fill_people` replaces (the people, grown by `FILL_GROW`)."""
    from scipy.ndimage import binary_dilation

    mask = person_mask >= 0.5
    radius = max(1, round(FILL_GROW * max(mask.shape)))
    disk = np.hypot(*np.mgrid[-radius : radius + 1, -radius : radius + 1]) <= radius
    return binary_dilation(mask, structure=disk)


def fill_people(image: np.ndarray, person_mask: np.ndarray) -> np.ndarray:
    """The photo with its people replaced by an inpainted continuation of the place.

    Args:
        image: uint8 H x W x 3.
        person_mask: float H x W in [0, 1], the people (0.5 and above counts as person).

    Returns:
        uint8 H x W x 3: outside the (slightly grown) mask, exactly `image`; inside, the
        biharmonic inpainting of a copy whose longest side is `FILL_SIDE`, scaled back up.
    """
    from skimage.restoration import inpaint_biharmonic
    from skimage.transform import resize

    hole = fill_region(person_mask)
    if not hole.any():
        return image.copy()
    if hole.mean() > MOSTLY_PERSON:
        rest = image[~hole]
        colour = rest.mean(axis=0) if len(rest) else np.full(3, 128.0)
        return np.where(hole[..., None], np.round(colour).astype(np.uint8), image)
    height, width = hole.shape
    small, small_hole = shrink(image, hole.astype(np.float32), FILL_SIDE)
    small = small.astype(np.float64)
    # Any cell touched by the hole is unknown: its average still holds some person.
    small_hole = small_hole > 0.0
    if small_hole.all():
        small_hole[0, 0] = False
    filled = inpaint_biharmonic(small, small_hole, channel_axis=-1)
    large = resize(filled, (height, width), order=1)
    large = np.clip(np.round(large * 255.0), 0, 255).astype(np.uint8)
    return np.where(hole[..., None], large, image)


def shrink(image: np.ndarray, person_mask: np.ndarray, side: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """(float32 H' x W' x 3 photo in [0, 1], float32 H' x W' person mask), the longest side at
    most `side` (and the shortest at least 32). Pillow's resampling, which widens its filter
    when shrinking (so no aliasing), costs a fraction of a Gaussian-smoothed resize."""
    from PIL import Image

    height, width = image.shape[:2]
    scale = min(1.0, side / max(height, width))
    size = (max(32, round(width * scale)), max(32, round(height * scale)))
    small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR),
                       np.float32) / 255.0
    mask = np.asarray(Image.fromarray(person_mask.astype(np.float32), mode="F")
                      .resize(size, Image.Resampling.BILINEAR), np.float32)
    return small, mask


# === Structure: keypoints that agree on one transform ===

STRUCTURE_SIDE = 160
"""Longest side of the greyscale copy ORB runs on: at 160 pixels one photo costs about 30 ms
on 2 cores, and a re-shot place still shares dozens of corners."""
KEYPOINTS = 100
"""ORB keypoints per photo (the strongest by Harris response)."""
KEYPOINT_CLEARANCE = 0.04
"""Keypoints closer than this (share of the longest side) to a person are dropped: ORB's
descriptor patch around them would describe the person, not the place."""
MATCH_RATIO = 0.8
"""Lowe's ratio test: a match must be clearly better than the second best."""
RANSAC_TOLERANCE = 2.5
"""Pixels (at `STRUCTURE_SIDE`) within which a match counts as agreeing with the transform."""
RANSAC_SAMPLE = 3
"""Matches RANSAC fits each trial's similarity transform to (2 determine one; 3 resist a
lucky pair)."""
RANSAC_TRIALS = 100
CHANCE_INLIERS = RANSAC_SAMPLE
"""A transform fitted to three matches nearly always agrees with those three, whatever the
photos: so inliers are counted from this many up."""
FULL_AGREEMENT = 0.2
"""Share of the sparser photo's keypoints that, agreeing on one transform, scores 1. On the
calibration photos a crop, a rescale or a darker copy keeps 40 to 50% and a second view of the
same scene (scikit-image's stereo motorcycle pair) about 35%; different places keep 0 to 1%."""


@dataclass(frozen=True)
class StructureFeatures:
    """ORB keypoints of a photo's background.

    Attributes:
        points: K x 2 (x, y) keypoint positions on the `STRUCTURE_SIDE` copy.
        descriptors: K x 256 bool ORB descriptors.
    """

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.points)


NO_FEATURES = StructureFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 256), bool))

SCALES = 3
"""Pyramid levels corners are looked for on, each `DOWNSCALE` smaller: a crop that enlarges
the place by up to 1.25 x 1.25 still finds its corners at a shared level."""
DOWNSCALE = 1.25
FAST_THRESHOLD = 0.05
BORDER = 16
"""Corners this close to a level's edge are dropped: their orientation patch (radius 15) would
leave the picture."""
ORIENTATION_PATCH = np.hypot(*np.mgrid[-15:16, -15:16]) <= 15.5
"""The disc over which a corner's orientation (intensity centroid) is measured, as in ORB."""


def _corners(grey: np.ndarray):
    """ORB's oriented FAST corners, found level by level (FAST response, its 3 x 3 local
    maxima, Harris response to rank them, intensity-centroid orientation).

    skimage's `ORB.detect` does the same but spaces its peaks with a general routine that costs
    two thirds of its time; a 3 x 3 maximum filter gives the same single-pixel peaks (min
    distance 1) at a fraction of the cost, which keeps a comparison near its budget.

    Returns:
        (keypoints N x 2 (row, col) on `grey`, levels N, orientations N, Harris responses N).
    """
    from scipy.ndimage import maximum_filter
    from skimage.feature import corner_fast, corner_harris, corner_orientations
    from skimage.transform import pyramid_gaussian

    found = []
    for level, picture in enumerate(pyramid_gaussian(grey, SCALES - 1, DOWNSCALE,
                                                     channel_axis=None)):
        picture = np.ascontiguousarray(picture)
        if min(picture.shape) <= 2 * BORDER:
            break
        fast = corner_fast(picture, 9, FAST_THRESHOLD)
        peaks = (fast > 0) & (fast == maximum_filter(fast, size=3))
        peaks[:BORDER], peaks[-BORDER:], peaks[:, :BORDER], peaks[:, -BORDER:] = (False,) * 4
        points = np.argwhere(peaks)
        if len(points) == 0:
            continue
        orientations = corner_orientations(picture, points, ORIENTATION_PATCH.astype(float))
        responses = corner_harris(picture, method="k", k=0.04)[points[:, 0], points[:, 1]]
        found.append((points * DOWNSCALE**level, np.full(len(points), level), orientations,
                      responses))
    if not found:
        return np.zeros((0, 2)), np.zeros(0, int), np.zeros(0), np.zeros(0)
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))


@dataclass(frozen=True)
class PlaceCorners:
    """The corners of a photo's place, found once and described on demand.

    Attributes:
        grey: float H' x W' greyscale copy at `STRUCTURE_SIDE`.
        keypoints: K x 2 (row, col) on `grey`, sorted by pyramid level.
        scales: K pyramid scales (each a hair above its exact power of `DOWNSCALE`).
        orientations: K intensity-centroid orientations in radians.
    """

    grey: np.ndarray
    keypoints: np.ndarray
    scales: np.ndarray
    orientations: np.ndarray


def find_place_corners(image: np.ndarray, person_mask: np.ndarray) -> PlaceCorners | None:
    """The `KEYPOINTS` strongest corners of the photo's greyscale copy at `STRUCTURE_SIDE` that
    are clear of the people (ORB itself keeps the strongest corners of the whole photo, which in
    a portrait are mostly on the person). None when there are none: a flat photo has no corners.

    Args:
        image: uint8 H x W x 3.
        person_mask: float H x W in [0, 1].
    """
    from scipy.ndimage import binary_dilation

    grey, person = shrink(image, person_mask, STRUCTURE_SIDE)
    grey = np.ascontiguousarray(grey @ np.array([0.2125, 0.7154, 0.0721]))  # as rgb2gray
    person = person >= 0.5
    size = grey.shape
    radius = max(1, round(KEYPOINT_CLEARANCE * max(size)))
    near_person = binary_dilation(person, iterations=radius) if person.any() else person
    keypoints, levels, orientations, responses = _corners(grey)
    rows, cols = np.round(keypoints).astype(int).T
    clear = ~near_person[np.clip(rows, 0, size[0] - 1), np.clip(cols, 0, size[1] - 1)]
    chosen = np.flatnonzero(clear)[np.argsort(-responses[clear], kind="stable")][:KEYPOINTS]
    if len(chosen) == 0:
        return None
    # ORB.extract describes keypoints level by level and returns them in that order, and finds
    # each one's level by truncating log(scale) / log(downscale): so the keypoints go in sorted
    # by level (the output then lines up with them), each scale a hair above its exact power so
    # the truncation cannot fall one level short.
    chosen = chosen[np.argsort(levels[chosen], kind="stable")]
    return PlaceCorners(grey, keypoints[chosen], DOWNSCALE ** levels[chosen] * (1 + 1e-6),
                        orientations[chosen])


def describe_corners(corners: PlaceCorners | None, mirrored: bool = False) -> StructureFeatures:
    """ORB's rotated BRIEF descriptors of the corners, in the photo or in its mirror image.

    ORB's descriptors are not mirror invariant, so a mirrored comparison describes the same
    corners in the mirror image: a corner at column c with orientation theta sits, mirrored, at
    column W - 1 - c with orientation pi - theta (the intensity centroid's column moment
    changes sign, its row moment does not). Finding the corners is most of the cost, so they
    are found once (`find_place_corners`) and each orientation is described only when asked.
    """
    from skimage.feature import ORB

    if corners is None:
        return NO_FEATURES
    picture, points, angles = corners.grey, corners.keypoints, corners.orientations
    if mirrored:
        picture = np.ascontiguousarray(picture[:, ::-1])
        points = np.stack([points[:, 0], picture.shape[1] - 1 - points[:, 1]], axis=1)
        angles = np.pi - angles
    describer = ORB(downscale=DOWNSCALE, n_scales=SCALES)
    describer.extract(picture, points.copy(), corners.scales, angles)
    kept = describer.mask_
    return StructureFeatures(points[kept][:, ::-1].astype(np.float32),
                             describer.descriptors.astype(bool))


def describe_structure(image: np.ndarray, person_mask: np.ndarray
                       ) -> tuple[StructureFeatures, StructureFeatures]:
    """ORB keypoints and descriptors of the place, as the photo is and mirrored (the corners
    found once, see `find_place_corners` and `describe_corners`).

    Returns:
        (features, mirrored features), each possibly empty: a flat photo has no corners.
    """
    corners = find_place_corners(image, person_mask)
    return describe_corners(corners), describe_corners(corners, mirrored=True)


@dataclass(frozen=True)
class StructureMatch:
    """How two backgrounds' keypoints agree.

    Attributes:
        score: in [0, 1]: (inliers - CHANCE_INLIERS) / (FULL_AGREEMENT x the sparser photo's
            keypoints), clipped.
        matches: descriptor matches that pass the cross check and the ratio test.
        inliers: matches that agree with the best similarity transform RANSAC found.
    """

    score: float
    matches: int
    inliers: int


def structure_similarity(a: StructureFeatures, b: StructureFeatures) -> StructureMatch:
    """Do the two backgrounds share shapes that one similarity transform lines up?

    Matches ORB descriptors (Hamming distance, mutual nearest neighbours, Lowe's ratio test),
    then RANSAC fits a similarity transform from b's points to a's (seeded, so the same pair
    always scores the same). The score is the share of keypoints that agree, above chance.
    """
    from skimage.feature import match_descriptors
    from skimage.measure import ransac
    from skimage.transform import SimilarityTransform

    if min(len(a), len(b)) < RANSAC_SAMPLE + 1:
        return StructureMatch(0.0, 0, 0)
    pairs = match_descriptors(a.descriptors, b.descriptors, metric="hamming", cross_check=True,
                              max_ratio=MATCH_RATIO)
    if len(pairs) < RANSAC_SAMPLE + 1:
        return StructureMatch(0.0, len(pairs), 0)
    source, target = b.points[pairs[:, 1]], a.points[pairs[:, 0]]
    # Stop once a transform explains so many matches that a better one is unlikely: a re-shot
    # place has half its matches as inliers, found within about 50 trials; different places
    # rarely keep the four matches RANSAC needs at all.
    _, agreeing = ransac((source, target), SimilarityTransform, min_samples=RANSAC_SAMPLE,
                         residual_threshold=RANSAC_TOLERANCE, max_trials=RANSAC_TRIALS,
                         stop_probability=0.999, rng=0)
    inliers = 0 if agreeing is None else int(agreeing.sum())
    score = (inliers - CHANCE_INLIERS) / (FULL_AGREEMENT * min(len(a), len(b)))
    return StructureMatch(float(np.clip(score, 0.0, 1.0)), len(pairs), inliers)
