"""Gateway configuration: the shipped example loads; bad values are refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.gateway.config import ConfigError, load

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway.toml"


def test_the_shipped_example_loads_with_defaults_filled_in() -> None:
    config = load(EXAMPLE)
    assert config.node_id == "GB"
    assert config.data_dir == EXAMPLE.parent / "../gateway-data"
    de, fr = config.partners
    assert de.capacities["DNA"] == 1000 and de.capacities["TP/TP"] == 100  # Art. 9 default
    assert fr.timeout_s == 5.0 and fr.dialect == "prum"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("node_id = 5", "node_id"),
        ('[[partners]]\nid = "DE"\nurl = "http://x"\ndialect = "smtp"', "dialect"),
        ('[[partners]]\nid = "DE"\nurl = "http://x"\n[partners.capacities]\n"XX/YY" = 1', "XX/YY"),
        ('[[partners]]\nid = "DE"\nurl = "http://x"\nmodalities = ["iris"]', "modalities"),
        ('[[partners]]\nid = "DE"\nurl = "a"\n[[partners]]\nid = "DE"\nurl = "b"', "twice"),
        ("node_id = ", "gateway.toml"),
    ],
)
def test_bad_configs_are_refused_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=key.replace("/", ".")):
        load(path)
