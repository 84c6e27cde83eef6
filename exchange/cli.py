"""The `prum-exchange` command (DESIGN.md §4, "Command line").

Thin: parses arguments and calls into the packages. Exit codes: 0 success, 2 bad usage or
input (one line on stderr naming the field and the reason), 1 any other failure. This is the
one module that may reach up into `bench` (and later `mock_partners`), lazily, inside the
subcommands that need them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from exchange.codecs.errors import CodecError
from exchange.model import Purpose
from exchange.translate import FORMATS, MESSAGES, Outbound, TranslateError, translate

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

BENCHMARKS = ("match", "dna", "codec", "gateway")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"prum-exchange: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _write_output(path: str | None, data: bytes) -> None:
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    # Write next to the target and rename, so a failure never leaves a half-written file.
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(target)


def _cmd_translate(args: argparse.Namespace) -> int:
    try:
        data = _read_input(args.input)
    except OSError as exc:
        print(f"prum-exchange translate: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    message_id = str(uuid.uuid4())
    outbound = Outbound(
        message_id=message_id,
        correlation_id=message_id,
        timestamp=dt.datetime.now(dt.UTC),
        sender=args.sender,
        receiver=args.receiver,
        purpose=Purpose(args.purpose),
        message=args.message,
    )
    try:
        out = translate(data, args.source, args.target, outbound)
    except (CodecError, TranslateError) as exc:
        print(f"prum-exchange translate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        _write_output(args.output, out)
    except OSError as exc:
        print(
            f"prum-exchange translate: cannot write {args.output}: {exc.strerror}", file=sys.stderr
        )
        return EXIT_FAILURE
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"bench.{args.benchmark}")
    run: Callable[[list[str]], int] = module.main
    return run(list(args.bench_args))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prum-exchange", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tr = sub.add_parser("translate", help="convert a record or message between formats")
    tr.add_argument("--from", dest="source", required=True, choices=FORMATS)
    tr.add_argument("--to", dest="target", required=True, choices=FORMATS)
    tr.add_argument(
        "--message",
        choices=MESSAGES,
        default="auto",
        help="which Prüm message a UK record becomes (default: auto)",
    )
    tr.add_argument("--sender", default="GB", help="sending party code (default GB)")
    tr.add_argument("--receiver", default="DE", help="receiving party code (default DE)")
    tr.add_argument("--purpose", choices=[p.value for p in Purpose], default="investigation")
    tr.add_argument("input", metavar="IN", help="input file, or - for standard input")
    tr.add_argument("output", metavar="OUT", nargs="?", help="output file (default: stdout)")
    tr.set_defaults(func=_cmd_translate)

    be = sub.add_parser("bench", help="run a benchmark (see bench/)")
    be.add_argument("benchmark", choices=BENCHMARKS)
    be.add_argument("bench_args", nargs=argparse.REMAINDER, help="options of that benchmark")
    be.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
