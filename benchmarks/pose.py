"""Pose comparisons per second without explanations, against DESIGN.md's 100 ms a pair.

Photos are 224 x 224 (DESIGN.md's benchmark size): scikit-image's astronaut against a mirrored,
brightened copy (a person in both) and against its coffee photo (no person). MediaPipe is warm.
Wall time and process CPU time are both shown, with the load average: on a shared machine the
wall time grows with the load, the CPU time much less. Then each stage on its own, per photo or
per pair, so the budget can be read part by part (the inpainting runs only when CLIP compares
the backgrounds, so it is not part of a weight-free comparison).
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

    from models.pose import comparison as pose

    astronaut = photo(data.astronaut())
    cases = {
        "person vs person": (astronaut, np.clip(astronaut[:, ::-1] * 1.1, 0, 255)
                             .astype(np.uint8)),
        "person vs no person": (astronaut, photo(data.coffee())),
    }
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'case':<22}{'ms a pair':>10}{'cpu ms':>8}{'pairs/s':>9}{'budget ms':>10}"
          f"{'ratio':>7}  verdict")
    for name, (a, b) in cases.items():
        pose.compare(a, b, use_clip=False)  # warm: loads MediaPipe, traces nothing else
        wall, cpu = timed(lambda a=a, b=b: pose.compare(a, b, use_clip=False), args.pairs)
        verdict = "within budget" if wall <= BUDGET_SECONDS else "OVER BUDGET"
        print(f"{name:<22}{wall * 1000:>10.1f}{cpu * 1000:>8.1f}{1 / wall:>9.1f}"
              f"{BUDGET_SECONDS * 1000:>10.0f}{wall / BUDGET_SECONDS:>7.2f}  {verdict}")

    from models.pose import background

    person, copy = (pose.analyse(image) for image in cases["person vs person"])
    stages = {
        "MediaPipe (faces, mask, pose), a photo": lambda: pose.analyse(astronaut),
        "colour, texture, layout, a photo": lambda: pose.describe_background(
            person.image, person.person_mask),
        "ORB keypoints (and mirrored), a photo": lambda: background.describe_structure(
            person.image, person.person_mask),
        "keypoint matching + RANSAC, a pair": lambda: (
            background.structure_similarity(person.structure, copy.structure),
            background.structure_similarity(person.structure, copy.mirrored_structure)),
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
