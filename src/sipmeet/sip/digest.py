"""HTTP digest authentication for SIP (RFC 7616, RFC 3261 §22)."""

from __future__ import annotations

import hashlib

__all__ = ["ALGORITHMS", "ha1"]

# RFC 7616 §3.3 algorithm names -> hashlib constructor names.
ALGORITHMS: dict[str, str] = {
    "MD5": "md5",
    "SHA-256": "sha256",
    "SHA-512-256": "sha512_256",
}


def _h(algorithm: str, data: str) -> str:
    name = ALGORITHMS[algorithm.upper()]
    if name == "sha512_256":
        return hashlib.new("sha512_256", data.encode("utf-8")).hexdigest()
    return hashlib.new(name, data.encode("utf-8")).hexdigest()


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """RFC 7616 §3.4.2: ``H(username ":" realm ":" password)`` as lower-case hex."""
    return _h(algorithm, f"{username}:{realm}:{password}")
