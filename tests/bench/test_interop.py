"""`bench interop`: the table of what the adapter makes of every third-party file."""

from __future__ import annotations

import json
from pathlib import Path

from bench import interop
from tests.shared_data import SHARED, THIRDPARTY, needs_shared

SELF_CONTRADICTING = {"type9-13.an2k", "type9-15.an2k"}


@needs_shared
def test_every_third_party_file_is_read_translated_and_round_trips() -> None:
    rows = interop.table(THIRDPARTY)
    names = {Path(r["file"]).name for r in rows}
    assert {"type3.an2k", "fmr.iso2005", "nist-type-14-tpcard.eft"} <= names
    assert sum(n.startswith("Sample-") for n in names) == 4
    for row in rows:
        name = Path(row["file"]).name
        cells = [row[t] for t in interop.TARGETS]
        assert all(c == "-" or c.startswith(("ok", "refused: ")) for c in cells), row
        if name in SELF_CONTRADICTING:
            assert row["read"].startswith("refused: Type-") and row["round trip"] == row["read"]
            continue
        assert not row["read"].startswith("refused"), row
        assert row["round trip"] == "same", row
        # Searches and prints translate to every message format; replies and errors have no
        # UK record to become.
        if not name.startswith(("Sample-ERR", "Sample-SRE")):
            assert all(c == "-" or c.startswith("ok") for c in cells), row
        if name.startswith("Sample-"):  # INT-I's other encoding carries every TOT
            assert row["int-i"].startswith("ok"), row


@needs_shared
def test_main_writes_the_table(tmp_path: Path) -> None:
    assert SHARED is not None
    assert interop.main(["--shared", str(SHARED), "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "interop.json").read_text())
    table = (tmp_path / "interop.md").read_text()
    assert len(table.splitlines()) == len(rows) + 2
