"""The `prum-exchange` command (DESIGN.md §4, "Command line").

Thin: parses arguments and calls into the packages. Exit codes: 0 success, 2 bad usage or
input (one line on stderr naming the field and the reason), 1 any other failure. This is the
one module that may reach up into `bench` and `mock_partners`, lazily, inside the
subcommands that need them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from exchange.codecs.errors import CodecError
from exchange.model import Purpose
from exchange.option_types import COUNT, PORT, int_in
from exchange.outputs import PARTNER_DATA
from exchange.records import RecordError
from exchange.translate import FORMATS, MESSAGES, Outbound, TranslateError, translation

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# Beside this package, read without importing mock_partners (imported only by its commands).
SCENARIO_DIR = Path(__file__).resolve().parents[1] / "mock_partners" / "scenarios"
BENCHMARKS = ("match", "dna", "codec", "gateway", "store", "interop")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"prum-exchange: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _os_reason(exc: OSError) -> str:
    """An OSError in one line, without its `[Errno N]` prefix."""
    text = str(exc)
    return text.split("] ", 1)[1] if text.startswith("[Errno ") and "] " in text else text


def _directory_problem(path: Path) -> str | None:
    """Why `path` cannot be (or become) a directory we write into, or None; creates nothing."""
    if path.exists():
        if not path.is_dir():
            return f"{path} is not a directory"
        return None if os.access(path, os.W_OK | os.X_OK) else f"{path} is not writable"
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"{parent} is not writable"


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
    if target.is_dir():
        raise IsADirectoryError(21, "is a directory", path)
    # Write next to the target and rename, so a failure never leaves a half-written file.
    tmp = target.with_name(target.name + ".part")
    try:
        tmp.write_bytes(data)
        tmp.replace(target)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


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
        done = translation(data, args.source, args.target, outbound)
    except (CodecError, TranslateError, RecordError) as exc:
        print(f"prum-exchange translate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if done.losses:
        # One line, field names only (never values: they are biometric or personal data).
        print(f"prum-exchange translate: {args.target} {done.losses.line()}", file=sys.stderr)
    try:
        _write_output(args.output, done.data)
    except OSError as exc:
        print(
            f"prum-exchange translate: cannot write {args.output}: {exc.strerror}", file=sys.stderr
        )
        return EXIT_FAILURE
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from exchange import event_loop
    from exchange.gateway import logs
    from exchange.gateway.app import serve_forever
    from exchange.gateway.config import ConfigError, load

    try:
        config = load(Path(args.config))
    except (OSError, ConfigError) as exc:
        print(f"prum-exchange serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure()
    try:
        event_loop.run(serve_forever(config))
    except OSError as exc:  # a port in use or not ours to take, a data_dir we cannot write
        print(f"prum-exchange serve: {_os_reason(exc)}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from exchange.gateway.state.audit_verify import audit_verify_main

    for path in (args.db, *args.archives):
        if not Path(path).is_file():
            print(f"prum-exchange audit verify: no file at {path}", file=sys.stderr)
            return EXIT_USAGE
    return audit_verify_main(args.db, [Path(a) for a in args.archives])


def _cmd_audit_archive(args: argparse.Namespace) -> int:
    import sqlite3

    from exchange.gateway.state.audit_archive import ArchiveError, archive
    from exchange.gateway.state.store import StoreError

    try:
        before = dt.datetime.fromisoformat(args.before)
    except ValueError:
        before = None
    if before is None or before.utcoffset() is None:
        print(
            f"prum-exchange audit archive: --before: {args.before!r} is not an ISO 8601 time"
            " with a UTC offset (2026-01-01T00:00:00Z)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not Path(args.db).is_file():
        print(f"prum-exchange audit archive: no database at {args.db}", file=sys.stderr)
        return EXIT_USAGE
    if Path(args.out).exists():
        print(f"prum-exchange audit archive: --out: {args.out} exists", file=sys.stderr)
        return EXIT_USAGE
    try:
        done = archive(args.db, before, Path(args.out))
    except (ArchiveError, StoreError, OSError, sqlite3.Error) as exc:
        print(f"prum-exchange audit archive: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if not done.entries:
        print(f"audit archive: no entry before {args.before} left to archive; nothing written")
    else:
        print(
            f"audit archive: entries {done.first_seq}..{done.last_seq} ({done.entries}) moved"
            f" to {done.path}, last hash {done.last_hash}"
        )
    return EXIT_OK


def _cmd_partner(args: argparse.Namespace) -> int:
    from exchange import event_loop
    from exchange.gateway import logs
    from mock_partners.faults import FaultProfileError, parse_profile
    from mock_partners.node import running_partner
    from mock_partners.simple_node import running_simple_partner

    try:
        parse_profile(args.faults)
    except FaultProfileError as exc:
        print(f"prum-exchange partner: --faults {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.simple and (args.faults != "healthy" or args.admin_port is not None):
        print("prum-exchange partner: --simple takes no --faults or --admin-port", file=sys.stderr)
        return EXIT_USAGE
    tls = None
    if args.tls is not None:
        from exchange.pki import NodeFiles

        pki = Path(args.tls)
        tls = NodeFiles(pki / "ca.pem", pki / f"{args.id}.pem", pki / f"{args.id}.key")
        missing = [str(p) for p in (tls.ca, tls.cert, tls.key) if not p.is_file()]
        if args.simple or missing:
            problem = "--simple has no TLS" if args.simple else f"no {', '.join(missing)}"
            print(f"prum-exchange partner: --tls: {problem}", file=sys.stderr)
            return EXIT_USAGE
    logs.configure()
    common = {
        "seed": args.seed,
        "gallery_size": args.gallery_size,
        "offset": args.offset,
        "daily_capacity": args.daily_capacity,
        "with_fingerprints": not args.no_fingerprints,
    }
    starting = (
        running_simple_partner(args.id, args.port, **common)
        if args.simple
        else running_partner(
            args.id,
            args.port,
            data_dir=Path(args.data_dir) if args.data_dir else PARTNER_DATA / args.id,
            faults=args.faults,
            admin_port=args.admin_port,
            tls=tls,
            **common,
        )
    )
    try:
        event_loop.run(event_loop.serve_ready(starting))
    except OSError as exc:  # a port in use or not ours to take, a data dir we cannot write
        print(f"prum-exchange partner: {_os_reason(exc)}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    import logging

    from exchange.gateway import logs
    from mock_partners.demo import main as demo_main

    logs.configure(level=logging.WARNING)
    return demo_main(args.once, Path(args.data_dir) if args.data_dir else None)


def _cmd_pki_init(args: argparse.Namespace) -> int:
    from exchange.pki import init_pki, node_id_problem, pki_files

    def refuse(message: str) -> int:
        print(f"prum-exchange pki init: {message}", file=sys.stderr)
        return EXIT_USAGE

    nodes = list(dict.fromkeys(n.strip() for n in args.nodes.split(",") if n.strip()))
    if not nodes:
        return refuse("--nodes: no node id given")
    for node_id in nodes:
        if (problem := node_id_problem(node_id)) is not None:
            return refuse(f"--nodes: {problem}")
    directory = Path(args.dir)
    if directory.exists() and not directory.is_dir():
        return refuse(f"{directory} exists and is not a directory")
    existing = [p for p in pki_files(directory, nodes) if p.exists()]
    if existing and not args.force:
        return refuse(f"{existing[0]} exists; --force replaces the CA and every certificate")
    try:
        files = init_pki(directory, nodes, dt.datetime.now(dt.UTC))
    except OSError as exc:
        return refuse(f"cannot write {exc.filename or directory}: {exc.strerror or exc}")
    print(f"wrote {directory}/ca.pem and certificates for {', '.join(files)}")
    return EXIT_OK


def _cmd_drill(args: argparse.Namespace) -> int:
    import logging

    from exchange.gateway import logs
    from mock_partners.drill import main as drill_main

    report = Path(args.report)
    problem = _directory_problem(report)  # before the drill runs, not minutes after
    if problem is not None:
        print(f"prum-exchange drill: --report: {problem}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(level=logging.WARNING)
    return drill_main(args.scenario, report, args.searches, args.quiet)


def _cmd_extract_fingerprint(args: argparse.Namespace) -> int:  # TEMP cli frame
    from exchange.finger_samples import extract_command

    return extract_command(args)


def _cmd_compare_fingerprint(args: argparse.Namespace) -> int:  # TEMP cli frame
    from exchange.finger_samples import compare_command

    return compare_command(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"bench.{args.benchmark}")
    run: Callable[[list[str]], int] = module.main
    return run(list(args.bench_args))


def _shipped_scenarios() -> list[str]:
    """The drill scenarios shipped in `mock_partners/scenarios/` (baseline first), by name."""
    found = sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))
    return sorted(found, key=lambda name: name != "baseline")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="prum-exchange",
        description="Cross-border biometric exchange (Prüm, Interpol): gateway, mock partners,"
        " drills, translation between formats, benchmarks. See README.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    de = sub.add_parser("demo", help="gateway and mock partners on loopback, with a scripted run")
    de.add_argument("--once", action="store_true", help="exit after the results table")
    de.add_argument("--data-dir", help="keep state here (default: a temporary directory)")
    de.set_defaults(func=_cmd_demo)

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

    sv = sub.add_parser("serve", help="run the gateway (client and partner APIs)")
    sv.add_argument("--config", required=True, help="gateway TOML configuration")
    sv.set_defaults(func=_cmd_serve)

    pa = sub.add_parser("partner", help="run a mock partner node (Prüm XML) on loopback")
    pa.add_argument("--id", required=True, help="partner id: ISO 3166 alpha-2 or EUROPOL")
    pa.add_argument("--port", type=PORT, default=0, help="partner API port (0: any free)")
    pa.add_argument("--seed", type=COUNT, default=7, help="synthetic population seed")
    pa.add_argument("--gallery-size", type=COUNT, default=1000, help="subjects in the gallery")
    pa.add_argument("--offset", type=COUNT, default=0, help="first subject number")
    pa.add_argument("--daily-capacity", type=COUNT, help="searches a day accepted from GB")
    pa.add_argument("--data-dir", help=f"state directory (default: {PARTNER_DATA}/ID)")
    pa.add_argument("--no-fingerprints", action="store_true", help="seed without minutiae")
    pa.add_argument(
        "--faults", default="healthy", help="fault profile, e.g. slow+flaky (mock_partners.faults)"
    )
    pa.add_argument("--admin-port", type=PORT, help="loopback port of the fault admin API (0: any)")
    pa.add_argument(
        "--tls",
        metavar="DIR",
        help="mutual TLS with DIR/ca.pem, DIR/ID.pem, DIR/ID.key (`pki init` output)",
    )
    pa.add_argument(
        "--simple",
        action="store_true",
        help="state in memory only: no SQLite, audit log, TLS or faults (load runs)",
    )
    pa.set_defaults(func=_cmd_partner)

    pk = sub.add_parser("pki", help="certificates for mutual TLS between nodes")
    pk_sub = pk.add_subparsers(dest="pki_command", required=True, parser_class=_Parser)
    pi = pk_sub.add_parser("init", help="create a network CA and a certificate per node")
    pi.add_argument("dir", metavar="DIR", help="where to write ca.pem, ID.pem and ID.key")
    pi.add_argument("--nodes", default="GB,DE,FR,NL,EUROPOL,INTERPOL", help="node ids")
    pi.add_argument(
        "--force", action="store_true", help="replace an existing CA and its certificates"
    )
    pi.set_defaults(func=_cmd_pki_init)

    dr = sub.add_parser("drill", help="run a drill scenario against mock partners, with a report")
    dr.add_argument(
        "scenario",
        metavar="SCENARIO",
        help=f"a scenario TOML file, or a shipped one by name: {', '.join(_shipped_scenarios())}",
    )
    dr.add_argument("--report", required=True, help="directory for report.json, junit.xml, ...")
    dr.add_argument(
        "--searches", type=int_in(1, 1_000_000), help="override the scenario's number of searches"
    )
    dr.add_argument("--quiet", action="store_true", help="no progress on stderr")
    dr.set_defaults(func=_cmd_drill)

    au = sub.add_parser("audit", help="audit log tools")
    au_sub = au.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    av = au_sub.add_parser("verify", help="check the hash chain of a gateway database")
    av.add_argument("db", metavar="DB", help="the gateway's SQLite file")
    av.add_argument(
        "archives",
        metavar="ARCHIVE",
        nargs="*",
        help="archive files written by `audit archive`, oldest first: checked and joined",
    )
    av.set_defaults(func=_cmd_audit_verify)
    aa = au_sub.add_parser(
        "archive", help="move old audit entries to a new archive file, chain intact"
    )
    aa.add_argument("db", metavar="DB", help="the gateway's SQLite file")
    aa.add_argument(
        "--before", required=True, help="entries before this time (ISO 8601, with offset)"
    )
    aa.add_argument("--out", required=True, help="the archive file to write (must not exist)")
    aa.set_defaults(func=_cmd_audit_archive)

    # --- TEMP cli frame (fingerprint half only; the face helper's extract_cli replaces it) ---
    ex = sub.add_parser("extract", help="features of biometric samples (TEMP: fingerprint)")
    ex_sub = ex.add_subparsers(dest="modality", required=True, parser_class=_Parser)
    exf = ex_sub.add_parser("fingerprint", help="mindtct minutiae and NFIQ 2 per finger")
    exf.add_argument("files", nargs="+", metavar="FILE")
    exf.add_argument("--json", action="store_true")
    exf.add_argument("--position", type=int, default=None)
    exf.set_defaults(func=_cmd_extract_fingerprint)
    co = sub.add_parser("compare", help="compare two biometric samples (TEMP: fingerprint)")
    co_sub = co.add_subparsers(dest="modality", required=True, parser_class=_Parser)
    cof = co_sub.add_parser("fingerprint", help="Bozorth3 score, threshold, same/different")
    cof.add_argument("a", metavar="A")
    cof.add_argument("b", metavar="B")
    cof.add_argument("--json", action="store_true")
    cof.add_argument("--position", type=int, default=None)
    cof.set_defaults(func=_cmd_compare_fingerprint)
    # --- end TEMP cli frame ---

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
