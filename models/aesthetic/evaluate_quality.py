"""`python -m models.evaluate quality`: re-run the held-out evaluation of the quality CNN.

Loads the model through `weights.resolve("quality")` (so `INSTAVIS_WEIGHTS_DIR` can point at
another copy) and prints the table `python -m models.train quality` printed after training:
per distortion, the Spearman correlation between predicted quality and severity, and how often
a pristine held-out crop beats its heavily distorted copy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models.cli import int_at_least

HELP = "Technical quality: Spearman per distortion and pristine-beats-distorted rate."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The quality evaluation's flags."""

    parser.add_argument("--eval-crops", type=int_at_least(1), default=12,
                        help="crops per held-out photo (default: 12, as training used)")
    parser.add_argument("--seed", type=int, default=0,
                        help="crop and distortion seed (default: 0, as training used)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the result as JSON to FILE")


def run(args: argparse.Namespace) -> int:
    """Evaluate the resolved quality model on the held-out photos; the exit code."""
    from models.aesthetic import quality
    from models.aesthetic.train_quality import evaluate, format_evaluation
    from weights import WeightsUnavailable

    try:
        model = quality.get_model()
    except WeightsUnavailable as error:
        print(" ".join(str(error).split()), file=sys.stderr)
        return 1
    result = evaluate(model, n_crops=args.eval_crops, seed=args.seed)
    print(format_evaluation(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0
