"""Secrets at rest: AES-256-GCM under the server's master key.

The master key is 32 bytes, written as url-safe base64. It comes from ``SIPMEET_MASTER_KEY``
(``settings.master_key``) or from ``<data_dir>/master.key``, created with mode 0600 on first use.
Each stored secret is ``"v1:" + base64url(nonce || ciphertext || tag)``; the associated data
names the column and row (``"api_keys.secret:APIxxx"``), so a ciphertext copied to another row
does not decrypt there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import MasterKeyError, StorageError

__all__ = [
    "MASTER_KEY_FILE",
    "SecretBox",
    "decode_master_key",
    "generate_master_key",
    "read_master_key",
]

log = logging.getLogger(__name__)

MASTER_KEY_FILE = "master.key"
_VERSION = "v1:"
_NONCE_BYTES = 12


def generate_master_key() -> str:
    """A new master key in its written form (44 url-safe base64 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def decode_master_key(text: str, source: str) -> bytes:
    """The 32 key bytes; `MasterKeyError` naming ``source`` (never the value) otherwise."""
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise MasterKeyError(f"{source}: the master key must be 32 bytes in url-safe base64")
    return raw


def read_master_key(data_dir: Path, *, create: bool) -> bytes | None:
    """Read ``<data_dir>/master.key``; create it (0600) when missing and ``create`` is set."""
    path = data_dir / MASTER_KEY_FILE
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        if not create:
            return None
        return _create_key_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterKeyError(f"{path}: cannot read the master key: {exc}") from None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s is readable by other users (mode %o); chmod 600 it", path, mode)
    return decode_master_key(text, str(path))


def _create_key_file(path: Path) -> bytes:
    # Write a private temporary file, then link it into place: the link fails if another
    # process won the race, and then that process's complete key is the one to use.
    key = generate_master_key()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return decode_master_key(path.read_text(encoding="ascii"), str(path))
    finally:
        tmp.unlink(missing_ok=True)
    log.info("created master key %s", path)
    return decode_master_key(key, str(path))


class SecretBox:
    """Encrypts and decrypts short strings bound to a context (table, column and row)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._key = key
        self._aead = AESGCM(key)
        self._check = hmac.new(key, b"sipmeet master key check v1", hashlib.sha256).hexdigest()

    @property
    def key_check(self) -> str:
        """A value that identifies the key without revealing it (HMAC of a fixed label)."""
        return self._check

    @property
    def key(self) -> bytes:
        return self._key

    def derive(self, purpose: str) -> bytes:
        """32 bytes for one purpose (HMAC-SHA256 of the master key), e.g. signing nonces."""
        return hmac.new(
            self._key, b"sipmeet derive: " + purpose.encode("utf-8"), hashlib.sha256
        ).digest()

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, context: str) -> str:
        if not token.startswith(_VERSION):
            raise StorageError(f"{context}: unknown secret format")
        try:
            blob = base64.urlsafe_b64decode(token[len(_VERSION) :].encode("ascii"))
            plain = self._aead.decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], context.encode("utf-8")
            )
        except (InvalidTag, binascii.Error, ValueError):
            raise MasterKeyError(
                f"{context}: cannot decrypt the stored secret (wrong master key?)"
            ) from None
        return plain.decode("utf-8")
