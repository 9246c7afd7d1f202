"""Typed settings: one tree of frozen dataclasses, loaded and validated once at startup.

Every setting ``section.field`` has three spellings, derived by one rule:

* TOML: ``[section]`` table, key ``field`` (top-level settings are plain keys);
* command-line flag: ``--section-field`` (underscores become dashes);
* environment variable: ``SIPMEET_SECTION_FIELD`` (upper case).

Precedence: defaults < TOML file (``--config FILE`` or ``SIPMEET_CONFIG``) < environment <
command-line flags. Secrets (``master_key``) have no flag: they come from the environment or a
file. Nothing here reads the environment at import time; callers pass it to `load_settings`.
"""

from __future__ import annotations

import ast
import base64
import binascii
import dataclasses
import functools
import ipaddress
import itertools
import re
import socket
import tomllib
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ENV_PREFIX",
    "ConfigError",
    "Http",
    "Log",
    "LogFormat",
    "LogLevel",
    "Media",
    "PortRange",
    "Rtp",
    "SettingSpec",
    "Settings",
    "Sip",
    "load_settings",
    "parse_port_range",
    "reference_markdown",
    "setting_specs",
]

ENV_PREFIX = "SIPMEET_"
CONFIG_ENV = "SIPMEET_CONFIG"

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
LogFormat = Literal["text", "json"]


class ConfigError(ValueError):
    """A setting is invalid; the message names the key (``sip.port: must be 1-65535, got 0``)."""


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inclusive UDP port range for RTP: ``first`` is even, and it holds at least one pair."""

    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


_PORTS_RE = re.compile(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*")


def parse_port_range(text: str) -> PortRange:
    """Parse ``"A-B"``; raises `ValueError` with a reason (no key name) when it is unusable."""
    match = _PORTS_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"must be a range like 20000-29999, got {text!r}")
    first, last = int(match.group(1)), int(match.group(2))
    for port in (first, last):
        if not 1 <= port <= 65535:
            raise ValueError(f"ports must be 1-65535, got {text}")
    if first % 2:
        # RFC 3550 §11: RTP takes the even port, RTCP the odd one above it.
        raise ValueError(f"must start at an even port, got {text}")
    if last < first + 1:
        raise ValueError(f"must hold at least 2 ports, got {text}")
    return PortRange(first, last)


# --- checks --------------------------------------------------------------------------------

Check = Callable[[Any], str | None]  # returns the reason a value is bad, or None


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"must be 1-65535, got {value}"


def _ice_servers(value: str) -> str | None:
    for url in (u.strip() for u in value.split(",")):
        if url and not re.fullmatch(r"(stun|stuns|turn|turns):[^\s,]+", url):
            return f"must be stun:, stuns:, turn: or turns: URLs separated by commas, got {url!r}"
    return None


def _admin_password(value: str | None) -> str | None:
    if value is not None and len(value) < 8:
        return f"must be at least 8 characters, got {len(value)}"  # never the value itself
    return None


def _at_least(low: int) -> Check:
    def check(value: int) -> str | None:
        return None if value >= low else f"must be at least {low}, got {value}"

    return check


def _between(low: int, high: int) -> Check:
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"must be {low}-{high}, got {value}"

    return check


_HOST_RE = re.compile(r"[A-Za-z0-9._-]+")


def _host(value: str) -> str | None:
    if _HOST_RE.fullmatch(value):
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"must be a host name or IP address, got {value!r}"
    return None


def _public_address(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return f"must be an IP address (it goes into SDP), got {value!r}"
    return f"must be a reachable address, not {value!r}" if address.is_unspecified else None


def _url(value: str) -> str | None:
    if re.fullmatch(r"https?://[^\s/?#]+(/[^\s]*)?", value):
        return None
    return f"must be an http:// or https:// URL, got {value!r}"


def _database_url(value: str) -> str | None:
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://\S*", value):
        return None
    return f"must be a database URL like sqlite:///path/sipmeet.db, got {value!r}"


def _one_of(*allowed: str) -> Check:
    def check(value: str) -> str | None:
        return (
            None
            if value.lower() in allowed
            else f"must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}"
        )

    return check


def _digest_algorithms(value: str) -> str | None:
    names = [n.strip().upper() for n in value.split(",")]
    known = ("MD5", "SHA-256", "SHA-512-256")
    bad = [n for n in names if n not in known]
    if bad or not names:
        return f"must be a comma-separated list of {', '.join(known)}, got {value!r}"
    if len(set(names)) != len(names):
        return f"names an algorithm twice: {value!r}"
    return None


def _nonempty_path(value: Path) -> str | None:
    return None if str(value).strip() else "must not be empty"


def _master_key(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        # Never echo the value: it is a secret.
        return "must be 32 bytes in url-safe base64 (44 characters)"
    return None


_CHECKS: dict[str, Check] = {
    "data_dir": _nonempty_path,
    "database_url": _database_url,
    "public_url": _url,
    "master_key": _master_key,
    "sip.host": _host,
    "sip.public_address": _public_address,
    "sip.port": _port,
    "sip.domain": _host,
    "sip.t1_ms": _at_least(1),
    "sip.max_calls": _at_least(1),
    "sip.session_expires_s": _at_least(90),
    "sip.min_se_s": _at_least(90),  # RFC 4028 §5: Min-SE is never below 90 s
    "sip.nonce_ttl_s": _at_least(1),
    "sip.digest_algorithms": _digest_algorithms,
    "sip.provider_transport": _one_of("", "udp", "tcp", "tls"),
    "rtp.timeout_s": _at_least(1),
    "rtp.jitter_min_ms": _at_least(0),
    "rtp.jitter_max_ms": _at_least(0),
    "http.host": _host,
    "http.port": _port,
    "media.opus_complexity": _between(0, 10),
    "media.alone_timeout_s": _at_least(1),
    "admin.password": _admin_password,
    "webrtc.ice_servers": _ice_servers,
    "webrtc.turn_ttl_s": _at_least(60),
}
# Shown in the reference instead of the literal default (derived or file-backed values).
_DEFAULT_DOCS = {
    "data_dir": "`./sipmeet-data`",
    "database_url": "`sqlite:///<data_dir>/sipmeet.db`",
    "public_url": "`http://<http.host>:<http.port>`",
    "master_key": "`<data_dir>/master.key`",
    "sip.domain": "`sip.public_address`",
    "sip.public_address": "`sip.host`; for `0.0.0.0`/`::` the default route's address",
    "admin.password": "random, logged once on first start",
}
# Secrets have no command-line flag and are never printed.
_SECRETS = frozenset({"master_key", "admin.password", "webrtc.turn_secret"})


# --- the tree (each field's docstring feeds the generated reference) --------------------------


@dataclass(frozen=True, slots=True)
class Sip:
    """SIP signalling."""

    host: str = "127.0.0.1"
    """Address SIP and RTP bind to; `0.0.0.0` or `::` binds all (WebRTC then uses the default route's)."""
    public_address: str = ""
    """Address peers reach us at, in Contact, Via, SDP and ICE candidates (set it behind 1:1 NAT)."""
    port: int = 5060
    """SIP port, for UDP and TCP alike."""
    domain: str = ""
    """SIP domain callers dial (`sip:<room-id>@<domain>`); also the digest realm."""
    tcp: bool = True
    """Listen on TCP as well as UDP."""
    t1_ms: int = 500
    """RFC 3261 timer T1 (round-trip estimate), milliseconds."""
    max_calls: int = 500
    """Most concurrent calls; further INVITEs get 503."""
    session_expires_s: int = 1800
    """RFC 4028 session interval we ask for, seconds."""
    min_se_s: int = 90
    """RFC 4028 smallest session interval we accept, seconds."""
    nonce_ttl_s: int = 300
    """Lifetime of a digest nonce before it is stale, seconds."""
    provider_transport: str = ""
    """Transport trunk providers are told to dial us with: "" (their default, UDP), "tcp" or "tls"."""
    symmetric_responses: bool = True
    """Answer UDP requests at their source address even without rport (phones behind NAT)."""
    digest_algorithms: str = "MD5"
    """Digest algorithms to challenge with, preferred first, e.g. "SHA-256,MD5" (many UAs fail on any SHA-256 one)."""

    def __post_init__(self) -> None:
        if not self.public_address:
            address = self.host
            if is_wildcard(address):  # bound everywhere: announce the default route's address
                address = primary_address(ipv6=":" in address)
            object.__setattr__(self, "public_address", address)
        if not self.domain:
            object.__setattr__(self, "domain", self.public_address)

    @property
    def media_address(self) -> str:
        """The local address media binds to: ``host``, or for a wildcard the primary one."""
        return primary_address(ipv6=":" in self.host) if is_wildcard(self.host) else self.host

    @property
    def digest_algorithm_list(self) -> tuple[str, ...]:
        return tuple(n.strip().upper() for n in self.digest_algorithms.split(","))


@dataclass(frozen=True, slots=True)
class Rtp:
    """RTP media."""

    ports: PortRange = PortRange(20000, 29999)
    """UDP port range for RTP/RTCP pairs (even start)."""
    timeout_s: int = 30
    """RTP inactivity before a call is hung up, seconds."""
    jitter_min_ms: int = 20
    """Smallest jitter-buffer delay, milliseconds."""
    jitter_max_ms: int = 200
    """Largest jitter-buffer delay, milliseconds."""


@dataclass(frozen=True, slots=True)
class Http:
    """HTTP API, dashboard and meeting page."""

    host: str = "127.0.0.1"
    """Address the HTTP server binds to."""
    port: int = 8000
    """HTTP port."""


@dataclass(frozen=True, slots=True)
class Media:
    """Audio processing."""

    opus_complexity: int = 5
    """Opus encoder complexity, 0 (cheapest) to 10."""
    alone_timeout_s: int = 1800
    """A phone caller left alone in a room (hearing hold music) is hung up after this, seconds."""


@dataclass(frozen=True, slots=True)
class WebRtc:
    """Browsers' ICE servers."""

    ice_servers: str = ""
    """STUN/TURN URLs the browsers use, comma-separated (e.g. "turn:turn.example.com:3478")."""
    turn_secret: str | None = field(default=None, repr=False)
    """Shared secret of the TURN server's REST-API credentials (coturn's static-auth-secret)."""
    turn_ttl_s: int = 86400
    """Lifetime of the TURN credentials handed to a browser, seconds."""

    @property
    def ice_server_urls(self) -> tuple[str, ...]:
        return tuple(u.strip() for u in self.ice_servers.split(",") if u.strip())


@dataclass(frozen=True, slots=True)
class Log:
    """Logging."""

    level: LogLevel = "info"
    """Least severe level logged."""
    format: LogFormat = "text"
    """text (for people) or json (one object per line)."""


@dataclass(frozen=True, slots=True)
class Admin:
    """The dashboard's `admin` account."""

    password: str | None = field(default=None, repr=False)
    """Its password, at least 8 characters: set on first start, reset to it on a later start (recovery)."""


def is_wildcard(address: str) -> bool:
    """``0.0.0.0`` or ``::``: bind on every interface."""
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def primary_address(*, ipv6: bool = False) -> str:
    """This machine's address on its default route (no packet is sent); loopback without one."""
    family, probe = (socket.AF_INET6, "2001:db8::1") if ipv6 else (socket.AF_INET, "192.0.2.1")
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, 9))
            return str(sock.getsockname()[0])
    except OSError:
        return "::1" if ipv6 else "127.0.0.1"


def _default_public_url(http: Http) -> str:
    host = http.host
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{http.port}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server and the command line are configured with."""

    data_dir: Path = Path("./sipmeet-data")
    """Directory for the SQLite database and `master.key`."""
    database_url: str = ""
    """SQLAlchemy database URL (SQLite or PostgreSQL)."""
    public_url: str = ""
    """Base URL providers and browsers reach the HTTP server at; webhook signatures use it."""
    master_key: str | None = None
    """Key that encrypts stored secrets: 32 bytes, url-safe base64."""
    sip: Sip = field(default_factory=Sip)
    rtp: Rtp = field(default_factory=Rtp)
    http: Http = field(default_factory=Http)
    media: Media = field(default_factory=Media)
    log: Log = field(default_factory=Log)
    admin: Admin = field(default_factory=Admin)
    webrtc: WebRtc = field(default_factory=WebRtc)

    def __post_init__(self) -> None:
        # Derived defaults. Note: dataclasses.replace() keeps already-derived values.
        if not self.database_url:
            db = self.data_dir.expanduser().absolute() / "sipmeet.db"
            object.__setattr__(self, "database_url", f"sqlite:///{db}")
        if not self.public_url:
            object.__setattr__(self, "public_url", _default_public_url(self.http))

    def __repr__(self) -> str:
        shown = "None" if self.master_key is None else "'***'"
        fields = ", ".join(
            f"{f.name}={shown if f.name == 'master_key' else repr(getattr(self, f.name))}"
            for f in dataclasses.fields(self)
        )
        return f"Settings({fields})"


SECTIONS: dict[str, type[Any]] = {
    "sip": Sip,
    "rtp": Rtp,
    "http": Http,
    "media": Media,
    "log": Log,
    "admin": Admin,
    "webrtc": WebRtc,
}


# --- specs: one per setting ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One setting and its three spellings."""

    key: str  # "sip.port" or "data_dir"
    section: str | None
    name: str
    type: Any
    default: Any
    doc: str

    @property
    def secret(self) -> bool:
        return self.key in _SECRETS

    @property
    def check(self) -> Check | None:
        return _CHECKS.get(self.key)

    @property
    def flag(self) -> str | None:
        """The command-line flag, or None for secrets (which never go on a command line)."""
        return None if self.secret else "--" + self.key.replace(".", "-").replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.key.replace(".", "_").upper()

    @property
    def type_name(self) -> str:
        if typing.get_origin(self.type) is Literal:
            return " \\| ".join(f'"{choice}"' for choice in typing.get_args(self.type))
        names = {
            int: "integer",
            bool: "boolean",
            str: "string",
            Path: "path",
            PortRange: "port range",
        }
        if self.type in names:
            return names[self.type]
        args = [a for a in typing.get_args(self.type) if a is not type(None)]
        return names.get(args[0], "string") if args else "string"


@functools.cache
def _attribute_docs() -> dict[tuple[str, str], str]:
    """``(class, field) -> docstring``: the string literal right below each annotated field."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    docs: dict[tuple[str, str], str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt, after in itertools.pairwise(node.body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[(node.name, stmt.target.id)] = " ".join(after.value.value.split())
    return docs


def _specs_of(cls: type[Any], section: str | None) -> Iterator[SettingSpec]:
    hints = typing.get_type_hints(cls)
    docs = _attribute_docs()
    for f in dataclasses.fields(cls):
        if f.name in SECTIONS and section is None:
            continue
        key = f.name if section is None else f"{section}.{f.name}"
        doc = docs.get((cls.__name__, f.name), "")
        yield SettingSpec(key, section, f.name, hints[f.name], f.default, doc)


def setting_specs() -> list[SettingSpec]:
    """All settings, top-level first, then each section in order."""
    specs = list(_specs_of(Settings, None))
    for name, cls in SECTIONS.items():
        specs.extend(_specs_of(cls, name))
    return specs


# --- conversion and validation ---------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(spec: SettingSpec, raw: object) -> object:
    """Turn a raw value (a string from env/argv, or a TOML value) into the field's type."""
    t = spec.type
    optional = type(None) in typing.get_args(t)
    if optional:
        t = next(a for a in typing.get_args(t) if a is not type(None))
    if typing.get_origin(t) is Literal:
        choices = typing.get_args(t)
        value = raw.strip().lower() if isinstance(raw, str) else raw
        if value not in choices:
            shown = ", ".join(str(c) for c in choices)
            raise ConfigError(f"{spec.key}: must be one of {shown}, got {raw!r}")
        return value
    if t is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise ConfigError(f"{spec.key}: must be true or false, got {raw!r}")
    if t is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                pass
        raise ConfigError(f"{spec.key}: must be an integer, got {raw!r}")
    if t is PortRange:
        if not isinstance(raw, str):
            raise ConfigError(f'{spec.key}: must be a string like "20000-29999", got {raw!r}')
        try:
            return parse_port_range(raw)
        except ValueError as exc:
            raise ConfigError(f"{spec.key}: {exc}") from None
    if t is Path or t is str:
        if not isinstance(raw, str):
            shown = "" if spec.secret else f", got {raw!r}"
            raise ConfigError(f"{spec.key}: must be a string{shown}")
        return Path(raw).expanduser() if t is Path else raw.strip()
    raise AssertionError(f"no converter for {spec.key}: {t!r}")  # our own invariant


def _flatten_toml(data: Mapping[str, object], path: Path) -> dict[str, object]:
    flat: dict[str, object] = {}
    for name, value in data.items():
        if name in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{name}: must be a [{name}] table in {path}")
            for sub, sub_value in value.items():
                flat[f"{name}.{sub}"] = sub_value
        else:
            flat[name] = value
    return flat


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None
    return _flatten_toml(data, path)


def load_settings(
    argv_overrides: Mapping[str, str],
    environ: Mapping[str, str],
    config_file: Path | None,
) -> Settings:
    """Build and validate `Settings` from defaults, a TOML file, the environment and flags.

    ``argv_overrides`` maps dotted keys (``"sip.port"``) to the flag's text. ``config_file``
    defaults to ``environ["SIPMEET_CONFIG"]`` when None. Empty environment variables count as
    unset. Raises `ConfigError` naming the first bad key.
    """
    specs = {spec.key: spec for spec in setting_specs()}
    values: dict[str, object] = {}

    if config_file is None and environ.get(CONFIG_ENV, "").strip():
        config_file = Path(environ[CONFIG_ENV].strip()).expanduser()
    if config_file is not None:
        for key, raw in _read_toml(config_file).items():
            spec = specs.get(key)
            if spec is None:
                raise ConfigError(f"{key}: unknown setting in {config_file}")
            values[key] = _convert(spec, raw)

    for spec in specs.values():
        raw_env = environ.get(spec.env)
        if raw_env is not None and raw_env.strip():
            values[spec.key] = _convert(spec, raw_env)

    for key, raw in argv_overrides.items():
        spec = specs.get(key)
        if spec is None:
            raise ConfigError(f"{key}: unknown setting")
        if spec.secret:
            raise ConfigError(f"{key}: secret settings come from the environment or a file")
        values[key] = _convert(spec, raw)

    for key, value in values.items():
        check = specs[key].check
        reason = check(value) if check is not None else None
        if reason is not None:
            raise ConfigError(f"{key}: {reason}")

    sections: dict[str, object] = {}
    for name, cls in SECTIONS.items():
        kwargs = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(name + ".")}
        sections[name] = cls(**kwargs)
    top = {k: v for k, v in values.items() if "." not in k}
    settings = Settings(**top, **sections)  # type: ignore[arg-type]
    _check_relations(settings)
    return settings


def _check_relations(settings: Settings) -> None:
    if settings.sip.min_se_s > settings.sip.session_expires_s:
        raise ConfigError(
            f"sip.session_expires_s: must be at least sip.min_se_s ({settings.sip.min_se_s}), "
            f"got {settings.sip.session_expires_s}"
        )
    if settings.rtp.jitter_min_ms > settings.rtp.jitter_max_ms:
        raise ConfigError(
            f"rtp.jitter_max_ms: must be at least rtp.jitter_min_ms ({settings.rtp.jitter_min_ms}), "
            f"got {settings.rtp.jitter_max_ms}"
        )


# --- generated reference ---------------------------------------------------------------------


def _shown_default(spec: SettingSpec) -> str:
    if spec.key in _DEFAULT_DOCS:
        return _DEFAULT_DOCS[spec.key]
    value = spec.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


_REFERENCE_HEAD = """\
# Configuration reference

<!-- Generated by `sipmeet config reference`; do not edit by hand. -->

Every setting can be given in a TOML file (`--config FILE` or `SIPMEET_CONFIG`), as an
environment variable, and as a command-line flag, by one rule: the setting `section.field`
is the key `field` in the `[section]` table, the variable `SIPMEET_SECTION_FIELD` and the
flag `--section-field` (top-level settings such as `data_dir` have no table: `data_dir`,
`SIPMEET_DATA_DIR`, `--data-dir`). Later sources win: defaults, then the file, then the
environment, then flags. Empty environment variables count as unset. Every `sipmeet`
command reads the same settings, so run them with the server's file and environment.

Secrets have no flag (command lines are visible to other users): `master_key` comes from
`SIPMEET_MASTER_KEY` or the file; without it the key is read from `<data_dir>/master.key`,
which is created (mode 0600) on first use. Keep that file with the database: stored API
secrets and SIP passwords cannot be read without it. `admin.password` (the dashboard's
`admin` account, `SIPMEET_ADMIN_PASSWORD`) is the other secret.

Example:

```toml
data_dir = "/var/lib/sipmeet"
public_url = "https://meet.example.com"

[sip]
host = "0.0.0.0"                # bind everywhere...
public_address = "203.0.113.7"  # ...and announce this one (e.g. a cloud VM's public IP)
domain = "sip.example.com"

[rtp]
ports = "20000-20999"

[log]
format = "json"
```
"""


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), generated from the dataclasses."""
    lines = [_REFERENCE_HEAD]
    groups: list[tuple[str, str | None]] = [("Top level", None)]
    for name, cls in SECTIONS.items():
        summary = (cls.__doc__ or "").strip().rstrip(".")
        groups.append((f"`[{name}]` — {summary}", name))
    specs = setting_specs()
    for title, section in groups:
        lines.append(f"\n## {title}\n")
        lines.append("| setting | flag | variable | type | default | description |")
        lines.append("|---|---|---|---|---|---|")
        for spec in specs:
            if spec.section != section:
                continue
            flag = f"`{spec.flag}`" if spec.flag else "(none: secret)"
            lines.append(
                f"| `{spec.key}` | {flag} | `{spec.env}` | {spec.type_name} | "
                f"{_shown_default(spec)} | {spec.doc} |"
            )
    return "\n".join(lines) + "\n"
