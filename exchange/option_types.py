"""argparse types for the command line's numbers: each refuses a value out of its range.

A value out of range is a usage error (exit 2, one line), never a silent substitute: a port
above 65535 is not "any free port", a count of 0 is not "the default".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An integer from `lo` to `hi`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is not from {lo} to {hi}")
        return value

    return parse


def int_list(lo: int, hi: int) -> Callable[[str], list[int]]:
    """Comma-separated integers, each from `lo` to `hi` (`10000,200000`)."""
    one = int_in(lo, hi)

    def parse(text: str) -> list[int]:
        values = [one(part.strip()) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r} holds no integer")
        return values

    return parse


PORT = int_in(0, 65535)
COUNT = int_in(0, 100_000_000)
SIZE = int_in(1, 100_000_000)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (`PROG: message`) with exit code 2,
    without the usage block above it, as the `prum-exchange` command does."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)
