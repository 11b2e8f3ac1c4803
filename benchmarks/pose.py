"""Pose comparisons per second without explanations, against the 100 ms budget a pair.

Photos are 224 x 224 (the benchmarks' size): scikit-image's astronaut against a mirrored,
brightened copy (a person in both) and against its coffee photo (no person); and a crowded photo
(the astronaut among three bystanders, `models.pose.evaluate_crowd`, 224 pixels on its longest
side) against its cropped, scaled, brighter re-post, where the main subject is chosen among
several people and its pose searched in its own box. MediaPipe is warm.
Wall time and process CPU time are both shown, with the load average: on a shared machine the
wall time grows with the load, the CPU time much less. A new pair has neither photo in the
analysis memory; then the two cases the Pose tab meets next, the same post against a new photo
and the same pair again with the mirror rule changed, as ratios to a new pair from the same run.
Then each stage on its own, per photo or per pair, so the budget can be read part by part (the
inpainting runs only when CLIP compares the backgrounds, so it is not part of a weight-free
comparison).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BUDGET_SECONDS = 0.100


def photo(image, side: int = 224):
    import numpy as np
    from skimage.transform import resize

    return np.clip(resize(image, (side, side), preserve_range=True), 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pose", description=__doc__)
    parser.add_argument("--pairs", type=int, default=30, help="timed pairs per case")
    args = parser.parse_args(argv)

    import numpy as np
    from skimage import data

    from models.images import judged_copy
    from models.pose import comparison as pose
    from models.pose import evaluate_crowd

    astronaut = photo(data.astronaut())
    copy = np.clip(astronaut[:, ::-1] * 1.1, 0, 255).astype(np.uint8)
    coffee = photo(data.coffee())
    crowd = judged_copy(evaluate_crowd.crowded_photo(2, evaluate_crowd.TEST_SCENES,
                                                     "astronaut").image, 224)
    re_post = evaluate_crowd.copy_of(crowd)
    forget = pose.ANALYSIS_MEMORY.clear

    def new_pair(a, b):
        forget()  # both photos unseen, as when a user uploads a pair
        return pose.compare(a, b, use_clip=False)

    cases = {
        "person vs person": lambda: new_pair(astronaut, copy),
        "person vs no person": lambda: new_pair(astronaut, coffee),
        "crowd vs its re-post": lambda: new_pair(crowd, re_post),
    }
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'a new pair':<28}{'ms a pair':>10}{'cpu ms':>8}{'pairs/s':>9}{'budget ms':>10}"
          f"{'ratio':>7}  verdict")
    fresh_wall = {}
    for name, work in cases.items():
        work()  # warm: loads MediaPipe, traces nothing else
        wall, cpu = timed(work, args.pairs)
        fresh_wall[name] = wall
        verdict = "within budget" if wall <= BUDGET_SECONDS else "OVER BUDGET"
        print(f"{name:<28}{wall * 1000:>10.1f}{cpu * 1000:>8.1f}{1 / wall:>9.1f}"
              f"{BUDGET_SECONDS * 1000:>10.0f}{wall / BUDGET_SECONDS:>7.2f}  {verdict}")

    # The Pose tab remembers its last photos (models.pose.comparison.REMEMBERED_ANALYSES):
    # the same post against a new photo, and the same pair again with the mirror rule changed.
    def post_seen():
        forget()
        pose.analyse(astronaut, remember=True)

    def time_after(prepare, work) -> tuple[float, float]:
        walls, cpus = [], []
        for _ in range(args.pairs):
            prepare()
            wall, cpu = timed(work, 1)
            walls.append(wall)
            cpus.append(cpu)
        return statistics.median(walls), statistics.median(cpus)

    print(f"{'a remembered post or pair':<28}{'ms a pair':>10}{'cpu ms':>8}"
          f"{'of a new pair':>15}")
    new_pair_wall = fresh_wall["person vs no person"]
    pose.compare(astronaut, coffee, use_clip=False)
    remembered = {
        "same post, new photo": (post_seen,
                                 lambda: pose.compare(astronaut, coffee, use_clip=False)),
        "same pair, mirror off": (lambda: None,
                                  lambda: pose.compare(astronaut, coffee, allow_mirror=False,
                                                       use_clip=False)),
    }
    for name, (prepare, work) in remembered.items():
        wall, cpu = time_after(prepare, work)
        print(f"{name:<28}{wall * 1000:>10.1f}{cpu * 1000:>8.1f}{wall / new_pair_wall:>15.2f}")

    from models.pose import background

    person, copied = (pose.analyse(image) for image in (astronaut, copy))
    crowded = pose.analyse(crowd)
    faces, _ = pose.RUNTIME.faces_and_mask(crowd, mask=False)
    corners = background.find_place_corners(person.image, person.person_mask)
    stages = {
        "MediaPipe (faces, mask, pose), a photo": lambda: pose.analyse(astronaut),
        "the same, a crowded photo": lambda: pose.analyse(crowd),
        "people in the mask (of that analysis)": lambda: pose.people_regions(
            crowded.person_mask, faces),
        "colour, texture, layout, a photo": lambda: pose.describe_background(
            person.image, person.person_mask),
        "ORB corners, a photo": lambda: background.find_place_corners(
            person.image, person.person_mask),
        "ORB descriptors, a photo": lambda: background.describe_corners(corners),
        "mirrored ORB descriptors, a photo": lambda: background.describe_corners(
            corners, mirrored=True),
        "keypoint matching + RANSAC, a pair": lambda: (
            background.structure_similarity(person.structure, copied.structure),
            background.structure_similarity(person.structure, copied.mirrored_structure)),
        "inpainting (CLIP only), a photo": lambda: background.fill_people(
            person.image, person.person_mask),
    }
    print(f"{'stage':<42}{'ms':>8}{'cpu ms':>8}")
    for name, stage in stages.items():
        stage()
        wall, cpu = timed(stage, args.pairs)
        print(f"{name:<42}{wall * 1000:>8.1f}{cpu * 1000:>8.1f}")
    return 0


def timed(work, repeats: int) -> tuple[float, float]:
    """Median wall and process CPU seconds of `work()`."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


if __name__ == "__main__":
    sys.exit(main())
