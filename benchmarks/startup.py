"""Time from `python app.py --offline` to its first page, against DESIGN.md's 10 s budget.

Each run starts a fresh interpreter, waits for HTTP 200 on the page and stops the server. The
import of `app` alone is timed too, so a slow start can be traced to imports or to launch.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seconds_to_first_page(timeout: float = 120) -> float:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "app.py", "--offline", "--port", str(port)], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as page:
                    if page.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"no page within {timeout} s")
    finally:
        server.terminate()
        server.wait(timeout=20)


def seconds_to_import_app() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    page = [seconds_to_first_page() for _ in range(args.runs)]
    imports = [seconds_to_import_app() for _ in range(args.runs)]
    median_page = statistics.median(page)
    print(f"{'what':<28}{'median s':>10}{'budget s':>10}{'ratio':>8}")
    print(f"{'python app.py -> first page':<28}{median_page:>10.2f}{BUDGET_SECONDS:>10.1f}"
          f"{median_page / BUDGET_SECONDS:>8.2f}")
    print(f"{'import app':<28}{statistics.median(imports):>10.2f}")
    verdict = "within" if median_page <= BUDGET_SECONDS else "OVER"
    print(f"{verdict} budget ({args.runs} runs: {', '.join(f'{s:.2f}' for s in page)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
