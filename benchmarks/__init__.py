"""Speed and footprint figures, each beside a baseline measured in the same run.

``bash scripts/bench.sh [--quick]`` or ``python -m benchmarks [--quick]``; nothing here is a
test and nothing fails on a number.
"""
