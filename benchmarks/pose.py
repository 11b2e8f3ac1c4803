"""Pose comparisons per second without explanations, against DESIGN.md's 100 ms a pair.

Photos are 224 x 224 (DESIGN.md's benchmark size): scikit-image's astronaut against a mirrored,
brightened copy (a person in both) and against its coffee photo (no person). MediaPipe is warm.
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
    print(f"{'case':<22}{'ms a pair':>10}{'pairs/s':>9}{'budget ms':>10}{'ratio':>7}  verdict")
    for name, (a, b) in cases.items():
        pose.compare(a, b, use_clip=False)  # warm: loads MediaPipe, traces nothing else
        samples = []
        for _ in range(args.pairs):
            start = time.perf_counter()
            pose.compare(a, b, use_clip=False)
            samples.append(time.perf_counter() - start)
        median = statistics.median(samples)
        verdict = "within budget" if median <= BUDGET_SECONDS else "OVER BUDGET"
        print(f"{name:<22}{median * 1000:>10.1f}{1 / median:>9.1f}{BUDGET_SECONDS * 1000:>10.0f}"
              f"{median / BUDGET_SECONDS:>7.2f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
