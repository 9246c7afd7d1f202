from __future__ import annotations

import hashlib
import hmac

from sipmeet.webhooks import (
    compute_signature,
    new_secret,
    signature_header,
    verify_signature,
)

SECRET = "whsec_test"
BODY = b'{"event":"participant-joined","id":"evt_1"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # Computed here independently: HMAC-SHA256(key=secret, msg="1700000000." + body).
    expected = hmac.new(b"whsec_test", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, 1700000000, BODY) == expected
    assert signature_header(SECRET, BODY, 1700000000.9) == f"t=1700000000,v1={expected}"


def test_fixed_vector() -> None:
    # RFC 4231 test case 2 uses key "Jefe" and "what do ya want for nothing?"; here the message
    # is "<t>.<body>" = "1.what do ya want for nothing?", checked against hashlib's HMAC.
    body = b"what do ya want for nothing?"
    expected = hmac.new(b"Jefe", b"1." + body, hashlib.sha256).hexdigest()
    assert compute_signature("Jefe", 1, body) == expected
    assert len(expected) == 64


def test_verify_accepts_own_signature_and_rejects_tampering() -> None:
    header = signature_header(SECRET, BODY, 1000.0)
    assert verify_signature(SECRET, BODY, header, 1000.0)
    assert verify_signature(SECRET, BODY, header, 1299.0)
    assert not verify_signature(SECRET, BODY, header, 1301.0)  # too old: a replay
    assert not verify_signature(SECRET, BODY + b" ", header, 1000.0)
    assert not verify_signature("whsec_other", BODY, header, 1000.0)
    assert not verify_signature(SECRET, BODY, header.replace("t=1000", "t=1001"), 1000.0)
    assert not verify_signature(SECRET, BODY, "v1=abc", 1000.0)
    assert not verify_signature(SECRET, BODY, "", 1000.0)


def test_new_secret_uses_the_given_randomness() -> None:
    assert new_secret(lambda n: "x" * n) == "whsec_" + "x" * 32
    assert new_secret() != new_secret()
