"""Settings: defaults, the naming rule, precedence, validation messages, the generated reference."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sipmeet.config import (
    ConfigError,
    PortRange,
    Settings,
    is_wildcard,
    load_settings,
    parse_port_range,
    primary_address,
    reference_markdown,
    setting_specs,
)

REPO = Path(__file__).resolve().parents[1]
KEY = "q" * 43 + "="  # 32 bytes of url-safe base64 (0xAA...)


def load(
    argv: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    config: Path | None = None,
) -> Settings:
    return load_settings(argv or {}, env or {}, config)


def test_defaults_match_the_documented_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = load()
    assert s.data_dir == Path("sipmeet-data")
    assert s.sip.host == "127.0.0.1"
    assert s.sip.port == 5060
    assert s.sip.domain == "127.0.0.1"  # defaults to the SIP host
    assert s.rtp.ports == PortRange(20000, 29999)
    assert (s.http.host, s.http.port) == ("127.0.0.1", 8000)
    assert s.database_url == f"sqlite:///{tmp_path / 'sipmeet-data' / 'sipmeet.db'}"
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.master_key is None
    assert s.sip.tcp is True
    assert (s.sip.t1_ms, s.sip.max_calls, s.sip.session_expires_s) == (500, 500, 1800)
    assert (s.sip.min_se_s, s.sip.nonce_ttl_s) == (90, 300)
    assert (s.rtp.timeout_s, s.rtp.jitter_min_ms, s.rtp.jitter_max_ms) == (30, 20, 200)
    assert s.media.opus_complexity == 5
    assert (s.log.level, s.log.format) == ("info", "text")


def test_contract_names_follow_the_naming_rule() -> None:
    specs = {spec.key: spec for spec in setting_specs()}
    expected = {
        "data_dir": ("--data-dir", "SIPMEET_DATA_DIR"),
        "sip.host": ("--sip-host", "SIPMEET_SIP_HOST"),
        "sip.port": ("--sip-port", "SIPMEET_SIP_PORT"),
        "sip.domain": ("--sip-domain", "SIPMEET_SIP_DOMAIN"),
        "rtp.ports": ("--rtp-ports", "SIPMEET_RTP_PORTS"),
        "http.host": ("--http-host", "SIPMEET_HTTP_HOST"),
        "http.port": ("--http-port", "SIPMEET_HTTP_PORT"),
        "database_url": ("--database-url", "SIPMEET_DATABASE_URL"),
        "public_url": ("--public-url", "SIPMEET_PUBLIC_URL"),
        "sip.t1_ms": ("--sip-t1-ms", "SIPMEET_SIP_T1_MS"),
        "media.opus_complexity": ("--media-opus-complexity", "SIPMEET_MEDIA_OPUS_COMPLEXITY"),
        "log.format": ("--log-format", "SIPMEET_LOG_FORMAT"),
    }
    for key, (flag, env) in expected.items():
        assert (specs[key].flag, specs[key].env) == (flag, env)
    # The secret has a variable but no flag.
    assert specs["master_key"].flag is None
    assert specs["master_key"].env == "SIPMEET_MASTER_KEY"


def test_every_setting_has_a_one_line_doc() -> None:
    specs = setting_specs()
    assert len(specs) == 31
    for spec in specs:
        assert spec.doc and "\n" not in spec.doc, spec.key
        assert spec.doc.endswith("."), spec.key


def test_precedence_defaults_file_environment_flags(tmp_path: Path) -> None:
    config = tmp_path / "sipmeet.toml"
    config.write_text(
        'data_dir = "/srv/from-file"\n'
        '[sip]\nport = 5070\nhost = "10.0.0.1"\nmax_calls = 7\n'
        "[http]\nport = 9000\n",
        encoding="utf-8",
    )
    env = {"SIPMEET_SIP_PORT": "5080", "SIPMEET_SIP_MAX_CALLS": "8"}
    s = load({"sip.port": "5090"}, env, config)
    assert s.sip.port == 5090  # flag beats environment beats file
    assert s.sip.max_calls == 8  # environment beats file
    assert s.sip.host == "10.0.0.1"  # file beats default
    assert s.http.port == 9000
    assert s.data_dir == Path("/srv/from-file")
    assert s.database_url == "sqlite:////srv/from-file/sipmeet.db"
    assert s.sip.domain == "10.0.0.1"
    assert s.public_url == "http://127.0.0.1:9000"
    assert s.sip.tcp is True  # untouched default


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[sip]\ndomain = "sip.example.com"\n', encoding="utf-8")
    assert load(env={"SIPMEET_CONFIG": str(config)}).sip.domain == "sip.example.com"
    other = tmp_path / "other.toml"
    other.write_text('[sip]\ndomain = "other.example.com"\n', encoding="utf-8")
    # An explicit file (--config) wins over the variable.
    s = load(env={"SIPMEET_CONFIG": str(config)}, config=other)
    assert s.sip.domain == "other.example.com"


def test_nothing_is_read_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPMEET_SIP_PORT", "5999")
    assert load().sip.port == 5060
    assert load(env={"SIPMEET_SIP_PORT": "5999"}).sip.port == 5999


def test_value_conversions() -> None:
    s = load(
        {"sip.tcp": "false", "log.level": "DEBUG", "rtp.ports": "30000-30009"},
        {"SIPMEET_LOG_FORMAT": "json", "SIPMEET_SIP_PORT": " 5062 ", "SIPMEET_DATA_DIR": "~/x"},
    )
    assert s.sip.tcp is False
    assert s.log.level == "debug"
    assert s.log.format == "json"
    assert s.rtp.ports == PortRange(30000, 30009)
    assert s.rtp.ports.count == 10
    assert 30009 in s.rtp.ports and 30010 not in s.rtp.ports
    assert str(s.rtp.ports) == "30000-30009"
    assert s.sip.port == 5062
    assert s.data_dir == Path("~/x").expanduser()
    for text in ("1", "yes", "on", "TRUE"):
        assert load(env={"SIPMEET_SIP_TCP": text}).sip.tcp is True


def test_empty_environment_variables_count_as_unset() -> None:
    s = load(env={"SIPMEET_SIP_PORT": "", "SIPMEET_SIP_DOMAIN": " "})
    assert s.sip.port == 5060
    assert s.sip.domain == "127.0.0.1"


def test_derived_values() -> None:
    s = load({"sip.host": "192.0.2.7", "http.host": "::1", "http.port": "8443"})
    assert s.sip.domain == "192.0.2.7"
    assert s.public_url == "http://[::1]:8443"
    explicit = load(
        {"sip.domain": "sip.example.com", "public_url": "https://meet.example.com"},
        {"SIPMEET_DATABASE_URL": "postgresql://u@db/sipmeet"},
    )
    assert explicit.sip.domain == "sip.example.com"
    assert explicit.public_url == "https://meet.example.com"
    assert explicit.database_url == "postgresql://u@db/sipmeet"


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ({"sip.port": "70000"}, {}, "sip.port: must be 1-65535, got 70000"),
        ({}, {"SIPMEET_HTTP_PORT": "0"}, "http.port: must be 1-65535, got 0"),
        ({"sip.port": "x"}, {}, "sip.port: must be an integer, got 'x'"),
        (
            {"rtp.ports": "20001-29999"},
            {},
            "rtp.ports: must start at an even port, got 20001-29999",
        ),
        (
            {"rtp.ports": "20000-20000"},
            {},
            "rtp.ports: must hold at least 2 ports, got 20000-20000",
        ),
        (
            {"rtp.ports": "30000-20000"},
            {},
            "rtp.ports: must hold at least 2 ports, got 30000-20000",
        ),
        ({"rtp.ports": "20000"}, {}, "rtp.ports: must be a range like 20000-29999, got '20000'"),
        ({"rtp.ports": "0-10"}, {}, "rtp.ports: ports must be 1-65535, got 0-10"),
        ({"sip.tcp": "maybe"}, {}, "sip.tcp: must be true or false, got 'maybe'"),
        ({"log.format": "xml"}, {}, "log.format: must be one of text, json, got 'xml'"),
        ({"media.opus_complexity": "11"}, {}, "media.opus_complexity: must be 0-10, got 11"),
        ({"sip.min_se_s": "60"}, {}, "sip.min_se_s: must be at least 90, got 60"),
        ({"sip.t1_ms": "0"}, {}, "sip.t1_ms: must be at least 1, got 0"),
        (
            {"sip.session_expires_s": "100", "sip.min_se_s": "120"},
            {},
            "sip.session_expires_s: must be at least sip.min_se_s (120), got 100",
        ),
        (
            {"rtp.jitter_min_ms": "300"},
            {},
            "rtp.jitter_max_ms: must be at least rtp.jitter_min_ms (300), got 200",
        ),
        (
            {"public_url": "ftp://x"},
            {},
            "public_url: must be an http:// or https:// URL, got 'ftp://x'",
        ),
        (
            {"database_url": "sipmeet.db"},
            {},
            "database_url: must be a database URL like sqlite:///path/sipmeet.db, got 'sipmeet.db'",
        ),
        (
            {"sip.domain": "bad domain"},
            {},
            "sip.domain: must be a host name or IP address, got 'bad domain'",
        ),
        ({"sip.prot": "5060"}, {}, "sip.prot: unknown setting"),
        (
            {"master_key": KEY},
            {},
            "master_key: secret settings come from the environment or a file",
        ),
    ],
)
def test_validation_names_the_bad_key(
    argv: dict[str, str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(argv, env)
    assert str(info.value) == message


def test_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"^config file .*nope\.toml: not found$"):
        load(config=missing)
    bad = tmp_path / "bad.toml"
    bad.write_text("[sip\nport = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^config file .*bad\.toml: invalid TOML: "):
        load(config=bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[sip]\nprot = 5060\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^sip\.prot: unknown setting in .*typo\.toml$"):
        load(config=typo)
    wrong_type = tmp_path / "type.toml"
    wrong_type.write_text('[sip]\nport = "5060"\ntcp = 1\n', encoding="utf-8")
    # A TOML string is still text: it converts like a variable would.
    with pytest.raises(ConfigError, match=r"^sip\.tcp: must be true or false, got 1$"):
        load(config=wrong_type)
    not_table = tmp_path / "table.toml"
    not_table.write_text('sip = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^sip: must be a \[sip\] table in "):
        load(config=not_table)


def test_master_key_from_environment_or_file_never_echoed(tmp_path: Path) -> None:
    assert load(env={"SIPMEET_MASTER_KEY": KEY}).master_key == KEY
    config = tmp_path / "c.toml"
    config.write_text(f'master_key = "{KEY}"\n', encoding="utf-8")
    assert load(config=config).master_key == KEY
    secret = "not-a-valid-key-but-secret"
    with pytest.raises(ConfigError) as info:
        load(env={"SIPMEET_MASTER_KEY": secret})
    assert str(info.value) == "master_key: must be 32 bytes in url-safe base64 (44 characters)"
    assert KEY not in repr(load(env={"SIPMEET_MASTER_KEY": KEY}))


def test_admin_password_is_a_secret_checked_without_echo(tmp_path: Path) -> None:
    secret = "correct horse battery staple"
    assert load(env={"SIPMEET_ADMIN_PASSWORD": secret}).admin.password == secret
    config = tmp_path / "c.toml"
    config.write_text(f'[admin]\npassword = "{secret}"\n', encoding="utf-8")
    assert load(config=config).admin.password == secret
    assert secret not in repr(load(config=config))
    assert load().admin.password is None
    specs = {spec.key: spec for spec in setting_specs()}
    assert specs["admin.password"].flag is None
    with pytest.raises(ConfigError) as info:
        load(env={"SIPMEET_ADMIN_PASSWORD": "short!"})
    assert str(info.value) == "admin.password: must be at least 8 characters, got 6"


def test_public_address_defaults_to_the_host_or_the_primary_address() -> None:
    s = load(env={"SIPMEET_SIP_HOST": "192.0.2.10"})
    assert (s.sip.public_address, s.sip.domain, s.sip.media_address) == ("192.0.2.10",) * 3
    wild = load(env={"SIPMEET_SIP_HOST": "0.0.0.0"})
    assert wild.sip.public_address == primary_address() != "0.0.0.0"
    assert wild.sip.domain == wild.sip.public_address
    assert wild.sip.media_address == primary_address()
    assert is_wildcard("::") and is_wildcard("0.0.0.0") and not is_wildcard("127.0.0.1")
    assert not is_wildcard("sip.example.com")
    nat = load(env={"SIPMEET_SIP_HOST": "10.0.0.5", "SIPMEET_SIP_PUBLIC_ADDRESS": "203.0.113.7"})
    assert (nat.sip.media_address, nat.sip.public_address) == ("10.0.0.5", "203.0.113.7")
    assert nat.sip.domain == "203.0.113.7"
    named = load(env={"SIPMEET_SIP_HOST": "0.0.0.0", "SIPMEET_SIP_DOMAIN": "sip.example.com"})
    assert named.sip.domain == "sip.example.com"
    for bad, why in (
        ("0.0.0.0", "must be a reachable address, not '0.0.0.0'"),
        ("sip.example.com", "must be an IP address (it goes into SDP), got 'sip.example.com'"),
    ):
        with pytest.raises(ConfigError) as info:
            load(env={"SIPMEET_SIP_PUBLIC_ADDRESS": bad})
        assert str(info.value) == f"sip.public_address: {why}"


def test_settings_are_frozen() -> None:
    s = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.sip.port = 1  # type: ignore[misc]


def test_parse_port_range() -> None:
    assert parse_port_range(" 10000 - 10001 ") == PortRange(10000, 10001)
    with pytest.raises(ValueError, match="even"):
        parse_port_range("10001-10003")


def test_reference_doc_is_current() -> None:
    doc = REPO / "docs" / "configuration.md"
    assert doc.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/configuration.md is out of date: regenerate it with "
        "`sipmeet config reference > docs/configuration.md`"
    )


def test_reference_lists_every_setting() -> None:
    text = reference_markdown()
    for spec in setting_specs():
        assert f"| `{spec.key}` |" in text
        assert f"`{spec.env}`" in text
        if spec.flag:
            assert f"`{spec.flag}`" in text
