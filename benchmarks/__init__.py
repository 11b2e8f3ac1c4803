"""Speed and quality benchmarks: `python -m benchmarks` lists them, `python -m benchmarks.NAME`
runs one. They report ratios taken in one run and are never part of the test suite's verdict."""
