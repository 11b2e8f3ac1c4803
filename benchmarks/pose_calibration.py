"""Calibrate and measure the pose tab's thresholds on labelled pairs of photos that installed
packages ship.

Positives are the same photo after a crop, a rescale, a brightness change, a small rotation, a
mirror flip, or all of these at once: the same place, and (for photos with a person) the same
pose. Negatives are two different photos, each possibly transformed. The photos: scikit-image's
astronaut (public domain), camera, coffee and chelsea (CC0), rocket and Hubble deep field (public
domain); scikit-learn's china and flower (CC BY 2.0); matplotlib's grace_hopper (public domain).
Three of them show a person.

It grid-searches the background descriptor weights and both thresholds for balanced accuracy,
and prints the accuracy of the chosen setting, with leave-one-photo-out accuracy as an honest
estimate for photos it has not seen. Run `python -m benchmarks.pose_calibration`.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def reference_photos() -> dict[str, np.ndarray]:
    import matplotlib.cbook
    from skimage import data
    from sklearn.datasets import load_sample_images

    from models.images import load_image

    samples = load_sample_images()
    names = [os.path.splitext(os.path.basename(f))[0] for f in samples.filenames]
    photos = {
        "astronaut": data.astronaut(), "camera": np.stack([data.camera()] * 3, -1),
        "coffee": data.coffee(), "chelsea": data.chelsea(), "rocket": data.rocket(),
        "hubble": data.hubble_deep_field(),
        "grace_hopper": load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg")),
    }
    photos.update(dict(zip(names, samples.images, strict=True)))
    return {name: load_image(image) for name, image in photos.items()}


def transforms(image: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The positive variants of one photo."""
    from skimage.transform import rescale, rotate

    height, width = image.shape[:2]

    def crop(img, keep=0.85):
        h, w = img.shape[:2]
        top = int(rng.integers(0, int(h * (1 - keep)) + 1))
        left = int(rng.integers(0, int(w * (1 - keep)) + 1))
        return img[top : top + int(h * keep), left : left + int(w * keep)]

    def to_uint8(values):
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)

    brighter = to_uint8(image.astype(np.float32) * rng.choice([0.75, 1.3]))
    rotated = to_uint8(rotate(image, float(rng.choice([-6, 6])), mode="edge",
                              preserve_range=True))
    scaled = to_uint8(rescale(image, 0.6, channel_axis=-1, anti_aliasing=True,
                              preserve_range=True))
    combo = to_uint8(crop(image[:, ::-1]).astype(np.float32) * 1.15)
    return {"crop": crop(image), "scale": scaled, "brightness": brighter, "rotation": rotated,
            "mirror": image[:, ::-1].copy(), "all": combo}


def build_pairs(seed: int = 0):
    """(analyses by key, pairs as (key a, key b, same place, same pose or None))."""
    from models.pose.comparison import analyse

    rng = np.random.default_rng(seed)
    photos = reference_photos()
    analyses, variants = {}, {}
    for name, image in photos.items():
        analyses[(name, "original")] = analyse(image)
        for kind, variant in transforms(image, rng).items():
            analyses[(name, kind)] = analyse(variant)
        variants[name] = [k for k in analyses if k[0] == name]
    people = {name for name in photos if analyses[(name, "original")].has_pose}
    pairs = []
    for name in photos:
        for key in variants[name][1:]:
            pairs.append(((name, "original"), key, True, True if name in people else None))
    for first, second in itertools.combinations(photos, 2):
        pose_label = False if first in people and second in people else None
        pairs.append(((first, "original"), (second, "original"), False, pose_label))
        # Every variant of one person photo against another person photo, so the pose
        # threshold sees as many different-pose pairs as same-pose ones; one random variant
        # for the other pairs.
        kinds = (["crop", "scale", "brightness", "rotation", "mirror", "all"]
                 if pose_label is False
                 else [str(rng.choice(["crop", "scale", "brightness", "rotation", "mirror",
                                       "all"]))])
        for kind in kinds:
            pairs.append(((first, kind), (second, "original"), False, pose_label))
    return analyses, pairs, people


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(threshold, balanced accuracy) maximising balanced accuracy; ties take the midpoint."""
    candidates = np.unique(scores)
    best = (0.5, 0.0)
    for low, high in zip(candidates[:-1], candidates[1:], strict=True):
        threshold = (low + high) / 2
        accuracy = balanced_accuracy(scores >= threshold, labels)
        if accuracy > best[1]:
            best = (float(threshold), accuracy)
    return best


def balanced_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    positives, negatives = labels, ~labels
    true_positive = (predicted & positives).sum() / max(positives.sum(), 1)
    true_negative = (~predicted & negatives).sum() / max(negatives.sum(), 1)
    return float((true_positive + true_negative) / 2)


def main(argv: list[str] | None = None) -> int:
    from models.pose import comparison as pose

    analyses, pairs, people = build_pairs()
    parts = np.array([pose.background_parts(analyses[a].background, analyses[b].background)
                      for a, b, _, _ in pairs])
    same_place = np.array([label for _, _, label, _ in pairs])
    grid = [w for w in itertools.product(np.arange(0, 1.01, 0.05), repeat=3)
            if abs(sum(w) - 1) < 1e-6]
    scored = []
    for weights in grid:
        scores = parts @ np.array(weights)
        threshold, accuracy = best_threshold(scores, same_place)
        # Among equally accurate weightings, prefer the widest gap between the classes.
        margin = scores[same_place].min() - scores[~same_place].max()
        scored.append((accuracy, margin, weights, threshold))
    accuracy, margin, weights, threshold = max(scored)

    # Leave one photo out: choose the threshold without any pair that involves that photo.
    photos = sorted({a[0] for a, _, _, _ in pairs})
    held_out_hits, held_out_total = 0, 0
    scores = parts @ np.array(weights)
    for photo in photos:
        involved = np.array([photo in (a[0], b[0]) for a, b, _, _ in pairs])
        chosen, _ = best_threshold(scores[~involved], same_place[~involved])
        held_out_hits += ((scores[involved] >= chosen) == same_place[involved]).sum()
        held_out_total += involved.sum()

    pose_rows = [(pose.pose_similarity(analyses[a], analyses[b])[0], label)
                 for a, b, _, label in pairs if label is not None]
    pose_rows = [(s, label) for s, label in pose_rows if s is not None]
    pose_scores = np.array([s for s, _ in pose_rows])
    pose_labels = np.array([label for _, label in pose_rows])
    pose_threshold, pose_accuracy = best_threshold(pose_scores, pose_labels)

    print(f"photos: {len(photos)} ({len(people)} with a person); pairs: {len(pairs)} "
          f"({same_place.sum()} same place, {(~same_place).sum()} different)")
    print(f"background weights (colour, texture, layout): "
          f"{tuple(round(float(w), 2) for w in weights)}")
    print(f"gap between the lowest same-place and the highest different-place score: "
          f"{margin:.3f}")
    print(f"background threshold {threshold:.3f}: balanced accuracy {accuracy:.3f} on all pairs, "
          f"{held_out_hits / held_out_total:.3f} leave-one-photo-out")
    print(f"pose pairs: {len(pose_rows)} ({pose_labels.sum()} same pose); threshold "
          f"{pose_threshold:.3f}: balanced accuracy {pose_accuracy:.3f}")
    print(f"  same-pose scores: min {pose_scores[pose_labels].min():.3f}; different-pose "
          f"scores: max {pose_scores[~pose_labels].max():.3f}")
    for (a, b, _, label), (score, _) in zip(
        [p for p in pairs if p[3] is not None and
         pose.pose_similarity(analyses[p[0]], analyses[p[1]])[0] is not None],
        pose_rows, strict=True,
    ):
        verdict = "same" if label else "different"
        print(f"    {a[0]}/{a[1]} vs {b[0]}/{b[1]}: {score:.3f} ({verdict})")
    for kind in ("crop", "scale", "brightness", "rotation", "mirror", "all"):
        rows = [i for i, (a, b, label, _) in enumerate(pairs) if label and b[1] == kind]
        print(f"  positives after {kind:<10} background score min {scores[rows].min():.3f}")
    negatives = scores[~same_place]
    print(f"  negatives: background score max {negatives.max():.3f}, "
          f"mean {negatives.mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
