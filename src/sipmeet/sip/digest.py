"""HTTP digest authentication for SIP (RFC 7616, RFC 3261 §22, RFC 2617, RFC 2069).

Server side: :class:`DigestAuthenticator` issues challenges whose nonce carries its own
expiry, signed with HMAC under a server key (so any node holding the key can check it
without shared state), parses the peer's ``Authorization`` / ``Proxy-Authorization`` into
:class:`DigestCredentials` and checks them against the stored ``HA1`` values, which is all
the credential store keeps (no passwords). Client side: :func:`build_authorization`
answers a challenge. The hashing itself is :func:`ha1` and :func:`digest_response`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote as _pct_unquote

from .errors import SipParseError
from .message import Request

__all__ = [
    "ALGORITHMS",
    "AuthResult",
    "DigestAuthenticator",
    "DigestCredentials",
    "build_authorization",
    "digest_response",
    "ha1",
    "parse_auth_header",
]

logger = logging.getLogger(__name__)

# RFC 7616 §3.3 algorithm names -> hashlib constructor names.
ALGORITHMS: dict[str, str] = {
    "MD5": "md5",
    "SHA-256": "sha256",
    "SHA-512-256": "sha512_256",
}

_SESS = "-SESS"


def _base_algorithm(algorithm: str) -> str:
    """``MD5-sess`` -> ``MD5``; raise ``KeyError`` for an unknown algorithm."""
    name = algorithm.upper()
    if name.endswith(_SESS):
        name = name[: -len(_SESS)]
    if name not in ALGORITHMS:
        raise KeyError(algorithm)
    return name


def _h(algorithm: str, data: str) -> str:
    name = ALGORITHMS[_base_algorithm(algorithm)]
    return hashlib.new(name, data.encode("utf-8")).hexdigest()


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """RFC 7616 §3.4.2: ``H(username ":" realm ":" password)`` as lower-case hex."""
    return _h(algorithm, f"{username}:{realm}:{password}")


def digest_response(
    algorithm: str,
    ha1_hex: str,
    nonce: str,
    method: str,
    uri: str,
    *,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1; RFC 2069 when ``qop`` is None).

    ``ha1_hex`` is ``H(username:realm:password)``; for a ``-sess`` algorithm the session
    key ``H(HA1:nonce:cnonce)`` is derived here (RFC 7616 §3.4.2).
    """
    key = ha1_hex
    if algorithm.upper().endswith(_SESS):
        key = _h(algorithm, f"{ha1_hex}:{nonce}:{cnonce or ''}")
    if qop == "auth-int":
        body_hash = hashlib.new(ALGORITHMS[_base_algorithm(algorithm)], body).hexdigest()
        ha2 = _h(algorithm, f"{method}:{uri}:{body_hash}")
    else:
        ha2 = _h(algorithm, f"{method}:{uri}")
    if qop is None:
        return _h(algorithm, f"{key}:{nonce}:{ha2}")
    return _h(algorithm, f"{key}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


# --- header syntax (RFC 7235 §2.1 / RFC 3261 §25.1 auth-param) -----------------------

_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~#$&^|")


def parse_auth_header(value: str) -> tuple[str, dict[str, str]]:
    """Split ``Digest a=b, c="d"`` into the scheme and its parameters (names lower-cased).

    Quoted values have their escapes undone. Raises :class:`SipParseError` on malformed
    input or a repeated parameter.
    """
    text = value.strip()
    i = 0
    n = len(text)
    while i < n and text[i] in _TOKEN:
        i += 1
    scheme = text[:i]
    if not scheme:
        raise SipParseError(f"missing auth scheme in {value!r}")
    params: dict[str, str] = {}
    while True:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] in _TOKEN:
            i += 1
        name = text[start:i].lower()
        if not name:
            raise SipParseError(f"invalid auth parameter at {text[start:]!r}")
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            raise SipParseError(f"auth parameter {name!r} has no value")
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            out: list[str] = []
            while True:
                if i >= n:
                    raise SipParseError(f"unterminated quoted string in {value!r}")
                c = text[i]
                if c == "\\" and i + 1 < n:
                    out.append(text[i + 1])
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                out.append(c)
                i += 1
            val = "".join(out)
        else:
            start = i
            while i < n and text[i] in _TOKEN:
                i += 1
            val = text[start:i]
            if not val:
                raise SipParseError(f"auth parameter {name!r} has an empty value")
        if name in params:
            raise SipParseError(f"repeated auth parameter {name!r}")
        params[name] = val
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] != ",":
            raise SipParseError(f"expected ',' after auth parameter {name!r}")
    return scheme, params


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _decode_ext_value(text: str) -> str:
    """RFC 8187 ``ext-value`` (``UTF-8''%c2%a3``), used by ``username*`` (RFC 7616 §3.4.4)."""
    charset, sep, rest = text.partition("'")
    _lang, sep2, encoded = rest.partition("'")
    if not sep or not sep2 or charset.lower() != "utf-8":
        raise SipParseError(f"invalid username* value {text!r}")
    try:
        return _pct_unquote(encoded, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"invalid UTF-8 in username* {text!r}") from exc


# --- server side ---------------------------------------------------------------------


class AuthResult(Enum):
    """Outcome of :meth:`DigestAuthenticator.verify`."""

    OK = "ok"
    STALE = "stale"  # right credentials for a nonce we issued that has expired: re-challenge
    INVALID = "invalid"  # wrong password, forged nonce, other realm, replayed nc: 403
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"  # re-challenge with what we support


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """One parsed ``Authorization`` (or ``Proxy-Authorization`` when ``proxy``)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    proxy: bool = False


_NONCE_RANDOM_BYTES = 16
_NONCE_MAC_BYTES = 16
_NONCE_LEN = _NONCE_RANDOM_BYTES + 8 + _NONCE_MAC_BYTES


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    if len(text) > 128 or not all(c in _TOKEN or c == "=" for c in text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None


class DigestAuthenticator:
    """Issues and checks digest challenges for one realm.

    A nonce is ``base64url(random || expiry_ms || HMAC-SHA-256(key, realm || random ||
    expiry_ms)[:16])``: stateless to issue and to validate. Only the nonce-count memory is
    state (RFC 7616 §3.4.1 replay protection); it is bounded by ``max_tracked_nonces``: when
    an entry has to be dropped, every nonce expiring no later than it is treated as stale
    from then on, so a dropped nonce can never be replayed.
    """

    def __init__(
        self,
        realm: str,
        key: bytes,
        *,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        nonce_ttl_s: float = 300.0,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
        opaque: bool = True,
        max_tracked_nonces: int = 65536,
    ) -> None:
        if not key:
            raise ValueError("the digest nonce key must not be empty")
        for name in algorithms:
            _base_algorithm(name)  # KeyError for an algorithm we cannot compute
        self.realm = realm
        self._key = key
        self.algorithms = tuple(algorithms)
        self._accepted = {a.upper() for a in algorithms}
        self.nonce_ttl_s = nonce_ttl_s
        self._token_bytes = token_bytes
        self._opaque = (
            _b64(hmac.new(key, b"opaque\0" + realm.encode(), hashlib.sha256).digest()[:12])
            if opaque
            else None
        )
        self._max_tracked = max_tracked_nonces
        # nonce -> (expiry_ms, last nonce-count seen); insertion order = first use.
        self._seen: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._stale_up_to_ms: int | None = None

    # -- challenges --

    def new_nonce(self, now: float) -> str:
        rand = self._token_bytes(_NONCE_RANDOM_BYTES)
        if len(rand) != _NONCE_RANDOM_BYTES:
            raise ValueError("token_bytes returned the wrong number of bytes")
        expiry = struct.pack(">q", int((now + self.nonce_ttl_s) * 1000))
        return _b64(rand + expiry + self._mac(rand + expiry))

    def _mac(self, data: bytes) -> bytes:
        msg = self.realm.encode() + b"\0" + data
        return hmac.new(self._key, msg, hashlib.sha256).digest()[:_NONCE_MAC_BYTES]

    def challenge(
        self, now: float, *, stale: bool = False, proxy: bool = False
    ) -> list[tuple[str, str]]:
        """Header fields for a 401 (or 407 when ``proxy``): one per algorithm, same nonce."""
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        nonce = self.new_nonce(now)
        fields: list[tuple[str, str]] = []
        for algorithm in self.algorithms:
            parts = [f"realm={_quote(self.realm)}", f"nonce={_quote(nonce)}"]
            if self._opaque is not None:
                parts.append(f"opaque={_quote(self._opaque)}")
            parts.append(f"algorithm={algorithm}")
            parts.append('qop="auth"')
            if stale:
                parts.append("stale=true")
            fields.append((name, "Digest " + ", ".join(parts)))
        return fields

    # -- credentials --

    def credentials(self, request: Request) -> DigestCredentials | None:
        """The request's digest credentials for our realm, or None (then challenge)."""
        for header, proxy in (("Authorization", False), ("Proxy-Authorization", True)):
            for value in request.headers.get_all(header):
                creds = _parse_credentials(value, proxy)
                if creds is not None and creds.realm == self.realm:
                    return creds
        return None

    # -- verification --

    def verify(
        self,
        creds: DigestCredentials,
        method: str,
        ha1_by_algorithm: Mapping[str, str],
        now: float,
    ) -> AuthResult:
        """Check ``creds`` for a request with ``method`` (RFC 7616 §3.4.1, RFC 2069)."""
        algorithm = (creds.algorithm or "MD5").upper()
        if algorithm not in self._accepted:
            return AuthResult.UNSUPPORTED_ALGORITHM
        base = _base_algorithm(algorithm)
        stored = {k.upper(): v for k, v in ha1_by_algorithm.items()}.get(base)
        if stored is None:
            return AuthResult.UNSUPPORTED_ALGORITHM
        if creds.realm != self.realm:
            return AuthResult.INVALID
        if (
            self._opaque is not None
            and creds.opaque is not None
            and not hmac.compare_digest(creds.opaque.encode(), self._opaque.encode())
        ):
            return AuthResult.INVALID
        expiry_ms = self._check_nonce(creds.nonce)
        if expiry_ms is None:
            return AuthResult.INVALID
        nc_value: int | None = None
        if creds.qop is not None:
            if creds.qop.lower() != "auth" or creds.cnonce is None or creds.nc is None:
                return AuthResult.INVALID
            if len(creds.nc) != 8 or not all(c in "0123456789abcdefABCDEF" for c in creds.nc):
                return AuthResult.INVALID
            nc_value = int(creds.nc, 16)
            qop: str | None = "auth"
        else:
            qop = None
        if algorithm.endswith(_SESS) and creds.cnonce is None:
            return AuthResult.INVALID
        expected = digest_response(
            algorithm,
            stored,
            creds.nonce,
            method,
            creds.uri,
            qop=qop,
            nc=creds.nc,
            cnonce=creds.cnonce,
        )
        if not hmac.compare_digest(expected.encode(), creds.response.lower().encode("utf-8")):
            return AuthResult.INVALID
        now_ms = int(now * 1000)
        if expiry_ms <= now_ms or (
            self._stale_up_to_ms is not None and expiry_ms <= self._stale_up_to_ms
        ):
            return AuthResult.STALE
        return self._check_count(creds.nonce, expiry_ms, nc_value, now_ms)

    def _check_nonce(self, nonce: str) -> int | None:
        """The nonce's expiry (ms) if we issued it, else None."""
        raw = _unb64(nonce)
        if raw is None or len(raw) != _NONCE_LEN:
            return None
        body, mac = raw[:-_NONCE_MAC_BYTES], raw[-_NONCE_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        (expiry_ms,) = struct.unpack(">q", body[_NONCE_RANDOM_BYTES:])
        return int(expiry_ms)

    def _check_count(self, nonce: str, expiry_ms: int, nc: int | None, now_ms: int) -> AuthResult:
        seen = self._seen.get(nonce)
        if seen is not None:
            last = seen[1]
            if nc is None:
                # RFC 2069 form has no count: each nonce is good for one request; a second
                # use gets a fresh nonce (stale=true) rather than a replayed success.
                return AuthResult.STALE
            if nc <= last:
                return AuthResult.INVALID
            self._seen[nonce] = (expiry_ms, nc)
            return AuthResult.OK
        self._forget_expired(now_ms)
        self._seen[nonce] = (expiry_ms, nc or 0)
        while len(self._seen) > self._max_tracked:
            _, (dropped_expiry, _) = self._seen.popitem(last=False)
            floor = self._stale_up_to_ms
            self._stale_up_to_ms = dropped_expiry if floor is None else max(floor, dropped_expiry)
        return AuthResult.OK

    def _forget_expired(self, now_ms: int) -> None:
        # First-use order is close to expiry order (one TTL), so expired entries sit in front.
        while self._seen:
            nonce, (expiry_ms, _) = next(iter(self._seen.items()))
            if expiry_ms > now_ms:
                break
            del self._seen[nonce]


def _parse_credentials(value: str, proxy: bool) -> DigestCredentials | None:
    try:
        scheme, params = parse_auth_header(value)
    except SipParseError as exc:
        logger.debug("ignoring malformed credentials: %s", exc)
        return None
    if scheme.lower() != "digest":
        return None
    username = params.get("username")
    if username is None and "username*" in params:
        try:
            username = _decode_ext_value(params["username*"])
        except SipParseError as exc:
            logger.debug("ignoring credentials: %s", exc)
            return None
    required = (username, params.get("realm"), params.get("nonce"), params.get("uri"))
    response = params.get("response")
    if any(v is None for v in required) or response is None:
        return None
    return DigestCredentials(
        username=username or "",
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=response,
        algorithm=params.get("algorithm"),
        qop=params.get("qop"),
        nc=params.get("nc"),
        cnonce=params.get("cnonce"),
        opaque=params.get("opaque"),
        proxy=proxy,
    )


# --- client side ---------------------------------------------------------------------


def build_authorization(
    challenge_header_value: str,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int,
) -> str:
    """Answer one ``WWW-Authenticate`` / ``Proxy-Authenticate`` value (RFC 7616 §3.4).

    Uses ``qop=auth`` when offered, else the RFC 2069 form. Raises :class:`SipParseError`
    for a malformed challenge and ``ValueError`` for an algorithm or qop we cannot answer.
    """
    scheme, params = parse_auth_header(challenge_header_value)
    if scheme.lower() != "digest":
        raise ValueError(f"not a digest challenge: {scheme!r}")
    realm = params.get("realm")
    nonce = params.get("nonce")
    if realm is None or nonce is None:
        raise SipParseError("digest challenge without realm or nonce")
    algorithm = params.get("algorithm")
    try:
        _base_algorithm(algorithm or "MD5")
    except KeyError:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}") from None
    offered = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
    if offered and "auth" not in offered:
        raise ValueError(f"no supported qop in {offered!r}")
    qop = "auth" if offered else None
    nc_text = f"{nc:08x}"
    key = ha1(algorithm or "MD5", username, realm, password)
    response = digest_response(
        algorithm or "MD5",
        key,
        nonce,
        method,
        uri,
        qop=qop,
        nc=nc_text if qop else None,
        cnonce=cnonce if qop or (algorithm or "").upper().endswith(_SESS) else None,
    )
    parts = [
        f"username={_quote(username)}",
        f"realm={_quote(realm)}",
        f"nonce={_quote(nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
    ]
    if algorithm is not None:
        parts.append(f"algorithm={algorithm}")
    if qop is not None:
        parts += [f"qop={qop}", f"nc={nc_text}", f"cnonce={_quote(cnonce)}"]
    if "opaque" in params:
        parts.append(f"opaque={_quote(params['opaque'])}")
    return "Digest " + ", ".join(parts)
