"""Real ANSI/NIST-ITL transactions written by others (NIST, via libbiomeval and eft-viewer).

Each well-formed file reads into prints with the TOT, positions and minutiae its folder's
README lists, survives read -> write -> read, and agrees with `nistitl` (an independent reader,
test-only) on the TOT and the record types; the two self-contradicting files are refused naming
record and field. Then the prints travel on through the UK record and Prüm XML unchanged.
"""

from __future__ import annotations

import datetime as dt

import nistitl
import pytest

from exchange.codecs import ansi_nist, prum_xml, uk_json
from exchange.codecs.ansi_nist_records import decode_transaction, encode_transaction
from exchange.codecs.errors import CodecError
from exchange.model import DactySearchRequest, Impression, PersonRecord
from exchange.translate import Outbound, translate
from tests.shared_data import THIRDPARTY, needs_shared

NIST = "usnistgov-libbiomeval"
EFT = "wct097-eft-viewer"

# file -> (folder, TOT, positions in record order, minutiae per finger, impression)
WELL_FORMED = {
    "type3.an2k": (NIST, "CAR", [2], [0], Impression.ROLLED),
    "type4-slaps.an2k": (NIST, "AMN", [14, 12, 11, 13], [0, 0, 0, 0], Impression.PLAIN),
    "type9.an2k": (NIST, "LFFS", [0], [28], Impression.LATENT),
    "type9-efs.an2k": (
        NIST,
        "RFR",
        [8, 5, 3, 10, 9, 7, 2, 4],
        [60, 35, 68, 37, 54, 48, 53, 59],
        Impression.PLAIN,
    ),
    "nist-type-14-tpcard.eft": (EFT, "AMN", [*range(1, 11), 14, 12, 11, 13], [0] * 14, None),
    "nist-type-4-14-flats.eft": (EFT, "AMN", [14, 13, 15], [0, 0, 0], Impression.PLAIN),
}
REFUSED = {
    "type9-13.an2k": "Type-2[1].2.034",  # 2.034 twice (and a 13.005 tag inside the Type-9)
    "type9-15.an2k": "Type-9[4].9.002",  # CNT says IDC 3, the record says 1
}


def _read(name: str, folder: str) -> bytes:
    return (THIRDPARTY / folder / name).read_bytes()


@needs_shared
@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_real_file_reads_its_prints(name: str) -> None:
    folder, tot, positions, minutiae, impression = WELL_FORMED[name]
    got = ansi_nist.decode_prints(_read(name, folder))
    assert got.tot == tot
    assert [f.position for f in got.prints.fingers] == positions
    assert [len(f.minutiae) for f in got.prints.fingers] == minutiae
    if impression is not None:
        assert got.prints.impression is impression
    for finger in got.prints.fingers:
        if not finger.minutiae:  # an image-only record keeps its image
            assert finger.image is not None and finger.image.data


@needs_shared
@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_real_file_round_trips(name: str) -> None:
    folder = WELL_FORMED[name][0]
    data = _read(name, folder)
    first = ansi_nist.decode_prints(data)
    again = ansi_nist.decode_prints(encode_transaction(decode_transaction(data)))
    assert again == first
    ours = ansi_nist.fingerprints_to_bytes(
        first.prints,
        timestamp=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
        originator="GB",
        destination="DE",
        tcn="GB-TEST-1",
    )
    assert ansi_nist.fingerprints_from_bytes(ours) == first.prints


@needs_shared
@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_real_file_agrees_with_nistitl(name: str) -> None:
    data = _read(name, WELL_FORMED[name][0])
    theirs = nistitl.Message()
    theirs.parse(data)
    ours = decode_transaction(data)
    assert ours.text(4) == theirs.TOT
    assert [r.type for r in ours.records] == [r.type for r in theirs._records[1:]]


@needs_shared
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_self_contradicting_file_is_refused_naming_record_and_field(name: str) -> None:
    with pytest.raises(CodecError) as err:
        ansi_nist.decode_prints(_read(name, NIST))
    assert str(err.value).startswith(REFUSED[name])


@needs_shared
@pytest.mark.parametrize("name", ["type4-slaps.an2k", "nist-type-14-tpcard.eft", "type9.an2k"])
def test_positions_travel_through_uk_record_and_prum_xml(name: str) -> None:
    """Slaps (13-15), plain thumbs (11, 12) and the unknown position 0 are kept end to end."""
    prints = ansi_nist.decode_prints(_read(name, WELL_FORMED[name][0])).prints
    record = PersonRecord(reference="GB-REAL-1", fingerprints=prints)
    assert uk_json.decode(uk_json.encode(record)).fingerprints == prints
    xml = translate(uk_json.encode(record), "uk-json", "prum-xml", Outbound(message="dacty-search"))
    body = prum_xml.decode(xml).body
    assert isinstance(body, DactySearchRequest) and body.fingerprints == prints


@needs_shared
@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_translate_cli_reads_every_well_formed_file(
    name: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    from exchange.cli import main

    path = THIRDPARTY / WELL_FORMED[name][0] / name
    assert main(["translate", "--from", "ansi-nist", "--to", "uk-json", str(path)]) == 0
    record = uk_json.decode(capsysbinary.readouterr().out)
    assert record.fingerprints is not None
    assert record.reference and record.reference.startswith(WELL_FORMED[name][1] + ":")


@needs_shared
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_translate_cli_refuses_with_one_line_and_exit_2(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from exchange.cli import main

    path = THIRDPARTY / NIST / name
    assert main(["translate", "--from", "ansi-nist", "--to", "uk-json", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and REFUSED[name] in err
