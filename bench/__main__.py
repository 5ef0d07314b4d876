"""`python -m bench`: every figure as a `BENCH` line on stdout; progress goes to stderr."""

from __future__ import annotations

import logging
import sys

from bench import cosmos_requests, endtoend, hotpath
from bench.report import Figure


def _emit(figure: Figure) -> None:
    print(figure.line(), flush=True)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _emit(hotpath.measure())
    _emit(endtoend.measure())
    for figure in cosmos_requests.measure():
        _emit(figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
