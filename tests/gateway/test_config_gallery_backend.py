"""`[gallery] backend`, `address`, `shards`, `shard_timeout_s`: where the UK gallery runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.gateway.config import ConfigError, load


def _load(tmp_path: Path, gallery: str) -> object:
    path = tmp_path / "gateway.toml"
    path.write_text(f"open_client_api = true\n[gallery]\n{gallery}\n", encoding="utf-8")
    return load(path).gallery


def test_the_default_is_the_embedded_gallery_and_does_not_import_ray(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("open_client_api = true\n", encoding="utf-8")
    g = load(path).gallery
    assert (g.backend, g.address, g.shards, g.shard_timeout_s) == ("local", "local", 1, 5.0)
    # A fresh interpreter (this one may have imported Ray for other tests): the whole
    # gateway imports without Ray.
    root = Path(__file__).resolve().parents[2]
    code = "import sys, exchange.gateway.app, exchange.cli; print('ray' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray not installed")
def test_a_ray_backend_is_read_with_its_cluster_and_shards(tmp_path: Path) -> None:
    text = 'backend = "ray"\naddress = "ray://head:10001"\nshards = 4\nshard_timeout_s = 2'
    g = _load(tmp_path, text)
    assert (g.backend, g.address, g.shards, g.shard_timeout_s) == (  # type: ignore[attr-defined]
        "ray",
        "ray://head:10001",
        4,
        2.0,
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('backend = "spark"', "gallery.backend: 'spark'; one of local, ray"),
        ("shards = 0", "gallery.shards: must be greater than 0"),
        ('shards = "4"', "gallery.shards: expected int"),
        ("shard_timeout_s = 0", "gallery.shard_timeout_s: must be greater than 0"),
        ('address = " "', "gallery.address: empty"),
        ("shard = 4", "gallery.shard: unknown key"),
    ],
)
def test_a_bad_backend_key_is_refused_naming_it(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert str(caught.value).startswith(named)
