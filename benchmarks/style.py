"""Style's latency against the budgets: classify() and a leaderboard query at 10,000 rows.

- classify(): one 512-pixel photo with a person (the astronaut), warm, with the tiny CLIP preset
  and with a preset of CLIP ViT-B/32's size (random weights: the Hub is out of reach here), each
  loaded through the real resolver. The budget is the 150 ms for one prediction; the
  person crop (MediaPipe) is part of the prediction, so it is part of the time.
- The leaderboard: 10,000 shares through `store.leaderboard.share` (each its own transaction,
  as users make them), then the queries the tab makes: the top 10 of every style, the top 10
  of one style, and the count per style. The budget is 50 ms a query. SQLite always; PostgreSQL
  when a server is given (--postgres URL, or $INSTAVIS_TEST_DATABASE_URL), in a schema of its
  own that is dropped afterwards.

Each figure is the median of several warm runs; ratios are to the budget, in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.stand_ins.postgres import throwaway_schema

PREDICTION_BUDGET = 0.150
QUERY_BUDGET = 0.050
ROWS = 10_000
ENV_POSTGRES = "INSTAVIS_TEST_DATABASE_URL"


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def row(what: str, seconds: float, budget: float, note: str = "") -> None:
    verdict = "within budget" if seconds <= budget else "OVER BUDGET"
    print(f"{what:<52}{seconds * 1000:>9.1f}{budget * 1000:>8.0f}{seconds / budget:>7.2f}  "
          f"{verdict}{'  ' + note if note else ''}", flush=True)


# === classify ===


def classify_rows(root: Path, repeats: int) -> None:
    """classify() with the tiny and the ViT-B/32-sized CLIP presets."""
    from skimage import data

    import models.clip as clip
    from benchmarks.memory import clip_sized_preset
    from benchmarks.stand_ins.tiny_clip import build_tiny_clip_preset
    from models.style import classify

    photo = data.astronaut()
    build_tiny_clip_preset(root / "tiny" / "clip")
    print("building a CLIP ViT-B/32-sized preset (random weights)...", flush=True)
    clip_sized_preset(root / "sized")
    for label, folder in (("tiny CLIP", root / "tiny"), ("ViT-B/32-sized CLIP", root / "sized")):
        os.environ["INSTAVIS_WEIGHTS_DIR"] = str(folder)
        clip.reset_default()
        classify(photo)  # loads the model, traces its functions, builds MediaPipe's graph
        seconds = median_seconds(lambda: classify(photo), repeats)
        row(f"classify(), {label}, 8 labels", seconds, PREDICTION_BUDGET)
        seconds = median_seconds(lambda: classify(photo, label_set="fashionstyle14"), repeats)
        row(f"classify(), {label}, 14 labels", seconds, PREDICTION_BUDGET)


# === The leaderboard ===


def fill(database, rows: int) -> float:
    """`rows` shares, spread over the label sets' styles and 50 clients; returns seconds."""
    import numpy as np

    from models.style.labels import label_sets
    from store import leaderboard

    sets = {name: s.labels for name, s in label_sets().items()}
    pairs = [(name, label) for name, labels in sets.items() for label in labels]
    rng = np.random.default_rng(0)
    thumbnail = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    started = time.perf_counter()
    for index in range(rows):
        label_set, style = pairs[index % len(pairs)]
        leaderboard.share(nickname=f"user {index}", label_set=label_set, style=style,
                          label_sets=sets, probability=float(rng.random()), source="zero-shot",
                          thumbnail=thumbnail, client=f"client {index % 50}", database=database)
    return time.perf_counter() - started


def leaderboard_rows(engine: str, url, rows: int, repeats: int) -> None:
    import store
    from store import leaderboard

    database = store.open_database(url, shares_per_minute=rows)
    try:
        seconds = fill(database, rows)
        print(f"{engine}: {rows:,} shares in {seconds:.1f} s "
              f"({seconds / rows * 1000:.1f} ms a share)", flush=True)
        queries = {
            "top 10 of every style": lambda: leaderboard.top(limit=10, database=database),
            "top 10 of one style": lambda: leaderboard.top(style="street", label_set="everyday",
                                                           database=database),
            "count per style": lambda: leaderboard.style_counts(database=database),
        }
        for what, query in queries.items():
            query()
            row(f"{engine}: {what}, {rows:,} rows", median_seconds(query, repeats), QUERY_BUDGET)
    finally:
        database.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.style", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=os.environ.get(ENV_POSTGRES),
                        help=f"a PostgreSQL server's URL (default ${ENV_POSTGRES})")
    parser.add_argument("--rows", type=int, default=ROWS, help="leaderboard rows (default "
                                                                "%(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="runs per figure (median)")
    parser.add_argument("--no-classify", action="store_true", help="only the leaderboard")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["HF_HUB_OFFLINE"] = "1"

    print(f"{'what':<52}{'ms':>9}{'budget':>8}{'ratio':>7}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        if not args.no_classify:
            classify_rows(folder / "weights", max(3, args.repeats // 2))
        from sqlalchemy.engine import URL

        leaderboard_rows("SQLite", URL.create("sqlite+pysqlite",
                                              database=str(folder / "bench.sqlite3")),
                         args.rows, args.repeats)
        if args.postgres:
            with throwaway_schema(args.postgres, prefix="instavis_bench") as url:
                leaderboard_rows("PostgreSQL", url, args.rows, args.repeats)
        else:
            print(f"PostgreSQL: skipped (no server: pass --postgres URL or set ${ENV_POSTGRES})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
