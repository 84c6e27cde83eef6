"""Gateway configuration: the shipped example loads; bad values are refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.gateway.config import ConfigError, GalleryConfig, PartnerConfig, load

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway.toml"


def test_the_shipped_example_loads_with_defaults_filled_in() -> None:
    config = load(EXAMPLE)
    assert config.node_id == "GB"
    assert config.data_dir == EXAMPLE.parent / "../out/gateway-data"
    de, fr = config.partners
    assert de.capacities["DNA"] == 1000 and de.capacities["TP/TP"] == 100  # Art. 9 default
    assert fr.timeout_s == 5.0 and fr.dialect == "prum" and fr.profile == "prum-2008"
    assert (de.breaker_failures, de.breaker_reset_s) == (3, 30.0)
    assert (fr.breaker_failures, fr.breaker_reset_s) == (5, 10.0)  # the defaults
    client, metrics = config.clients
    assert client.id == "example-force" and "enrol" in client.scopes
    assert metrics.scopes == frozenset({"admin"})  # /metrics needs it
    assert config.gallery == GalleryConfig("auto", "")  # [gallery] is there, commented


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("node_id = 5", "node_id"),
        ('[[partners]]\nid = "DE"\nurl = "http://x"\ndialect = "smtp"', "dialect"),
        ('[[partners]]\nid = "DE"\nurl = "http://x"\nprofile = "int-i-6"', "partners.0..profile"),
        ('[[partners]]\nid = "I"\nurl = "x"\ndialect = "interpol"\nprofile = "v5"', "profile"),
        ('[[partners]]\nid = "I"\nurl = "x"\ndialect = "interpol"\nprofile = 6', "profile"),
        ('[[partners]]\nid = "DE"\nurl = "http://x"\n[partners.capacities]\n"XX/YY" = 1', "XX/YY"),
        ('[[partners]]\nid = "DE"\nurl = "http://x"\nmodalities = ["iris"]', "modalities"),
        ('[[partners]]\nid = "DE"\nurl = "a"\n[[partners]]\nid = "DE"\nurl = "b"', "twice"),
        ("node_id = ", "gateway.toml"),
        ("index_save_interval_s = -5", "index_save_interval_s"),
        ("housekeeping_interval_s = -1", "housekeeping_interval_s"),
        ("reply_retention_s = 60", "reply_retention_s"),
        ("search_retention_s = 86400", "search_retention_s"),  # under the 48 h window
        ("search_retention_s = -1", "search_retention_s"),
        ("max_searches_fanning_out = -1", "max_searches_fanning_out: 0 .no limit. or more"),
        ("max_searches_fanning_out = 1.5", "max_searches_fanning_out: expected int"),
        ('[[partners]]\nid = "DE"\nurl = "http://x"\nbreaker_failures = 0', "breaker_failures"),
        ('[[partners]]\nid = "DE"\nurl = "http://x"\nbreaker_reset_s = -1', "breaker_reset_s"),
        ('[[clients]]\nid = "a"\ntoken_sha256 = "abc"', "token_sha256"),
        ('[[clients]]\nid = "a"\ntoken_sha256 = "' + "a" * 64 + '"\nscopes = ["root"]', "scopes"),
        ("face_dim = 0", "face_dim"),
        ('[gallery]\nface_index = "HNSW32x"', "gallery.face_index: .*could not parse"),
        ('[gallery]\nface_index = "IVF16,PQ33"', "gallery.face_index: .*at dim 512"),
        ("[gallery]\nface_index = 32", "gallery.face_index: expected str"),
        ('[gallery]\nface_index = "HNSW32"\nface_search = "nprobe=8"', "gallery.face_search"),
        ('[gallery]\nface_index = "IVF16,Flat"\nface_search = "nprobe"', "gallery.face_search"),
        ('[gallery]\nface_index = "IVF16,Flat"\nface_search = "nprobe=0"', "gallery.face_search"),
        ('[gallery]\nface_search = "nprobe=8"', "gallery.face_search: .*explicit index"),
        ('[gallery]\nface_idx = "Flat"', "gallery.face_idx: unknown key"),
        ('[gallery]\ndna_microvariants = "round"', "gallery.dna_microvariants: 'round'; one of"),
        ("[gallery]\ndna_microvariants = 1", "gallery.dna_microvariants: expected str"),
        ('gallery = "Flat"', "gallery: expected a table"),
        ("search_dedline_s = 5.0", "^search_dedline_s: unknown key$"),
        ("[client]\nprot = 8080", "client.prot: unknown key"),
        ("[client]\nport = 99999", "client.port: 0 to 65535"),
        ("[partner_listener]\nport = -1", "partner_listener.port: 0 to 65535"),
        ("[client]\nmax_in_flight = -1", "client.max_in_flight: 0 .derived. to 100000"),
        ("[client]\nmax_in_flight = 1.5", "client.max_in_flight: expected int"),
        ("[partner_listener]\nbacklog = 0", "partner_listener.backlog: 1 to 65535"),
        ("[client]\nmax_in_flight = 64\nmax_connections = 8", "client.max_connections: 0"),
        ("[client]\nmax_conections = 8", "client.max_conections: unknown key"),
        ("client = 8080", "client: expected a table"),
        ("[thresholds]\nfase = 0.5", "thresholds.fase: unknown key"),
        ('[thresholds]\nface = "high"', "thresholds.face: expected float"),
        ('[[partners]]\nid = "DE"\nurl = "http://x"\ntimout_s = 1.0', "partners.0..timout_s"),
        ('[[clients]]\nid = "a"\ntoken_sha256 = "' + "a" * 64 + '"\nscope = ["x"]', "scope:"),
        ('[tls]\nca = "ca.pem"\ncert = "GB.pem"\nkey = "GB.key"', "tls.ca: no file at"),
        ('[tls]\nca = "gateway.toml"\ncert = "gateway.toml"\nkey = "x"\ncrt = "y"', "tls.crt"),
        ("face_dim = " + "1" * 5000, "gateway.toml: Exceeds the limit"),
        ('[face_models."vendor-x"]\nthreshold = 0.5', 'face_models."vendor-x": unknown model'),
        ('[face_models."dlib-resnet-v1"]\nthreshhold = 0.5', "threshhold: unknown key"),
        ('[face_models."dlib-resnet-v1"]\nthreshold = 2.0', "threshold: -1 to 1"),
        ('[face_models."dlib-resnet-v1"]\nupsample = 5', "upsample: 0 to 2"),
        ('[face_models."dlib-resnet-v1"]\ndetect_long_side = 10', "detect_long_side: 0"),
        ("[extraction]\nworkers = 0", "extraction.workers: 1 to 256"),
        ("[extraction]\nqueue = -1", "extraction.queue: 0 to 10000"),
        ("[extraction]\nthreads = 2", "extraction.threads: unknown key"),
    ],
)
def test_bad_configs_are_refused_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "gateway.toml"
    if "[[clients]]" not in text:
        text = "open_client_api = true\n" + text
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=key.replace("/", ".")):
        load(path)


def test_a_partner_profile_defaults_by_dialect_and_may_be_named(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        "open_client_api = true\n"
        '[[partners]]\nid = "DE"\nurl = "http://a"\n'
        '[[partners]]\nid = "INTERPOL"\nurl = "http://b"\ndialect = "interpol"\n'
        '[[partners]]\nid = "XPO"\nurl = "http://c"\ndialect = "interpol"\n'
        'profile = "prum-2008"\n'
        '[[partners]]\nid = "FR"\nurl = "http://d"\nprofile = "prum-2008"\n',
        encoding="utf-8",
    )
    de, interpol, xpo, fr = load(path).partners
    assert (de.profile, interpol.profile) == ("prum-2008", "int-i-6")
    assert (xpo.profile, fr.profile) == ("prum-2008", "prum-2008")


def test_a_partner_built_in_code_gets_the_same_defaults_and_checks() -> None:
    assert PartnerConfig("INTERPOL", "http://x", dialect="interpol").profile == "int-i-6"
    assert PartnerConfig("DE", "http://x").profile == "prum-2008"
    with pytest.raises(ValueError, match="speaks prum-2008"):
        PartnerConfig("DE", "http://x", profile="int-i-6")


def test_search_retention_is_0_or_at_least_the_follow_up_window(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    for text, expected in [
        ("", 30 * 86400.0),
        ("search_retention_s = 0", 0.0),
        ("search_retention_s = 172800", 172800.0),
    ]:
        path.write_text("open_client_api = true\n" + text, encoding="utf-8")
        assert load(path).search_retention_s == expected


def test_a_config_without_client_tokens_is_refused_unless_open_on_purpose(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('node_id = "GB"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="clients"):
        load(path)
    path.write_text('node_id = "GB"\nopen_client_api = true\n', encoding="utf-8")
    assert load(path).open_client_api


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("auto", "")),
        (
            '[gallery]\nface_index = "HNSW32"\nface_search = "efSearch=64"',
            ("HNSW32", "efSearch=64"),
        ),
        (
            '[gallery]\nface_index = "IVF1024,Flat"\nface_search = "nprobe=16"',
            ("IVF1024,Flat", "nprobe=16"),
        ),
        (
            '[gallery]\nface_index = "IVF2048,PQ32x4fs,Refine(SQ8)"\n'
            'face_search = "nprobe=192,k_factor=2"',
            ("IVF2048,PQ32x4fs,Refine(SQ8)", "nprobe=192,k_factor=2"),
        ),
        ('face_dim = 100\n[gallery]\nface_index = "PQ25"', ("PQ25", "")),  # checked at face_dim
    ],
)
def test_the_face_index_and_its_search_parameters_are_read_from_gallery(
    tmp_path: Path, text: str, expected: tuple[str, str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("open_client_api = true\n" + text, encoding="utf-8")
    assert load(path).gallery == GalleryConfig(*expected)


@pytest.mark.parametrize("rule", ["annex", "repeat", "exact"])
def test_the_dna_micro_variant_reading_is_read_from_gallery(tmp_path: Path, rule: str) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f'open_client_api = true\n[gallery]\ndna_microvariants = "{rule}"\n')
    assert load(path).gallery.dna_microvariants == rule
    default = tmp_path / "default.toml"
    default.write_text("open_client_api = true\n")
    assert load(default).gallery.dna_microvariants == "annex"


def test_listener_bounds_are_read_and_default_to_derived_ones(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        "open_client_api = true\nmax_in_flight = 96\n[client]\nmax_in_flight = 8\n"
        "max_connections = 20\nbacklog = 64\n[partner_listener]\nport = 9000\n",
        encoding="utf-8",
    )
    config = load(path)
    assert config.client is not None
    assert (config.client.max_in_flight, config.client.backlog) == (8, 64)
    assert config.client.in_flight_bound(config.max_in_flight) == 8
    assert config.client.connection_bound(config.max_in_flight, 4) == 20
    partner = config.partner_listener
    assert (partner.max_in_flight, partner.max_connections, partner.backlog) == (0, 0, 511)
    assert partner.in_flight_bound(256) == 256  # 0: derived
    assert partner.connection_bound(256, 4) == 1024
    assert partner.connection_bound(64, 4) == 1024  # at least that many
    assert partner.connection_bound(1000, 4) == 4000


def test_face_models_and_the_extraction_pool_are_read(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        "open_client_api = true\n"
        '[face_models."dlib-resnet-v1"]\nthreshold = 0.45\ndetect_long_side = 800\n'
        "[extraction]\nworkers = 3\nqueue = 0\n",
        encoding="utf-8",
    )
    config = load(path)
    model = config.face_models["dlib-resnet-v1"]
    assert (model.threshold, model.detect_long_side, model.upsample) == (0.45, 800, 0)
    assert model.distance_threshold == pytest.approx(0.55)
    assert (config.extraction.workers, config.extraction.queue) == (3, 0)


def test_the_dlib_threshold_defaults_to_dlibs_distance_as_a_score(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("open_client_api = true\n", encoding="utf-8")
    config = load(path)
    assert config.face_models["dlib-resnet-v1"].threshold == pytest.approx(1 - 0.6)
    assert config.extraction.workers >= 1
