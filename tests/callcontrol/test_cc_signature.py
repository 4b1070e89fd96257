"""Telnyx webhook signatures: Ed25519 itself (RFC 8032), then Telnyx's `timestamp|body` scheme
with a fixed key, and every way a delivery can be wrong, each refused with its own message."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from console.callcontrol.signature import SignatureError, load_public_key, sign, verify

# RFC 8032 section 7.1, TEST 1 (empty message).
RFC_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC_SIGNATURE = ("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a"
                 "33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")

# A Telnyx-style delivery from a fixed seed; the signature was computed once and is pinned
# here, so a change in how the message is built (separator, order, encoding) fails the test.
SEED = bytes(range(1, 33))
PUBLIC_B64 = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="
TIMESTAMP = 1767225600  # 2026-01-01T00:00:00Z
BODY = (b'{"data":{"event_type":"call.answered","id":"8f3d1c2e-0b1a-4c55-9d1e-3a7b2c4d5e6f",'
        b'"occurred_at":"2026-01-01T00:00:00.000000Z","payload":{"call_control_id":'
        b'"v3:test-leg-1","state":"answered"},"record_type":"event"}}')
SIGNATURE_B64 = ("1cK6vTgrVKuzU6OF1ELmdE5w0fQJdjRNo/mZsnZM5NwMf2zbZdNbMrFaL2WSfvrdy99Bft7vnXi4"
                 "/xPjksnxDg==")


@pytest.fixture
def key() -> Ed25519PublicKey:
    return load_public_key(PUBLIC_B64)


def test_cc_rfc8032_vector_1() -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC_SECRET))
    public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw)
    assert public.hex() == RFC_PUBLIC
    assert private.sign(b"").hex() == RFC_SIGNATURE
    # And the loader takes the RFC's public key in the portal's form (base64 of 32 bytes).
    loaded = load_public_key(base64.b64encode(bytes.fromhex(RFC_PUBLIC)).decode())
    loaded.verify(bytes.fromhex(RFC_SIGNATURE), b"")


def test_cc_known_good_telnyx_vector(key: Ed25519PublicKey) -> None:
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    assert base64.b64encode(private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode() == PUBLIC_B64
    assert sign(private, TIMESTAMP, BODY) == SIGNATURE_B64
    # The pinned signature is over exactly b"<timestamp>|<raw body>" (checked without verify()).
    key.verify(base64.b64decode(SIGNATURE_B64), b"1767225600|" + BODY)
    assert verify(key, str(TIMESTAMP), SIGNATURE_B64, BODY, now=TIMESTAMP + 5) == TIMESTAMP
    # Inside the window on either side.
    assert verify(key, str(TIMESTAMP), SIGNATURE_B64, BODY, now=TIMESTAMP + 300) == TIMESTAMP
    assert verify(key, str(TIMESTAMP), SIGNATURE_B64, BODY, now=TIMESTAMP - 300) == TIMESTAMP


def _refused(key: Ed25519PublicKey, timestamp: str | None, signature: str | None,
             body: bytes = BODY, now: float = TIMESTAMP + 1) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(key, timestamp, signature, body, now)
    message = str(caught.value)
    # Never echoes what it was given.
    if signature:
        assert signature not in message
    assert BODY.decode() not in message
    return message


def test_cc_tampered_body(key: Ed25519PublicKey) -> None:
    tampered = BODY.replace(b"v3:test-leg-1", b"v3:test-leg-2")
    assert "does not match" in _refused(key, str(TIMESTAMP), SIGNATURE_B64, tampered)
    # One trailing byte is enough (a re-serialised body would fail the same way).
    assert "does not match" in _refused(key, str(TIMESTAMP), SIGNATURE_B64, BODY + b"\n")


def test_cc_tampered_timestamp(key: Ed25519PublicKey) -> None:
    assert "does not match" in _refused(key, str(TIMESTAMP + 1), SIGNATURE_B64)


def test_cc_signature_of_another_body(key: Ed25519PublicKey) -> None:
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    other = sign(private, TIMESTAMP, b'{"data":{}}')
    assert "does not match" in _refused(key, str(TIMESTAMP), other)


def test_cc_expired_and_future(key: Ed25519PublicKey) -> None:
    expired = _refused(key, str(TIMESTAMP), SIGNATURE_B64, now=TIMESTAMP + 301)
    assert "301 s old" in expired and "300 s tolerance" in expired
    future = _refused(key, str(TIMESTAMP), SIGNATURE_B64, now=TIMESTAMP - 301)
    assert "301 s in the future" in future
    # A custom tolerance is honoured.
    with pytest.raises(SignatureError, match="61 s old"):
        verify(key, str(TIMESTAMP), SIGNATURE_B64, BODY, TIMESTAMP + 61, tolerance_s=60)


def test_cc_missing_headers(key: Ed25519PublicKey) -> None:
    assert _refused(key, None, SIGNATURE_B64) == "missing telnyx-timestamp header"
    assert _refused(key, "", SIGNATURE_B64) == "missing telnyx-timestamp header"
    assert _refused(key, str(TIMESTAMP), None) == "missing telnyx-signature-ed25519 header"
    assert _refused(key, str(TIMESTAMP), "  ") == "missing telnyx-signature-ed25519 header"


@pytest.mark.parametrize("stamp", ["abc", "1767225600.5", "+1767225600", "-5", "1_767_225_600",
                                   "١٧٦٧٢٢٥٦٠٠", "9" * 40])
def test_cc_timestamp_not_a_number(key: Ed25519PublicKey, stamp: str) -> None:
    assert "not a Unix time" in _refused(key, stamp, SIGNATURE_B64)


def test_cc_bad_base64(key: Ed25519PublicKey) -> None:
    assert "not valid base64" in _refused(key, str(TIMESTAMP), "not base64 at all!")
    assert "not valid base64" in _refused(key, str(TIMESTAMP), SIGNATURE_B64[:-3])


def test_cc_wrong_length(key: Ed25519PublicKey) -> None:
    short = base64.b64encode(base64.b64decode(SIGNATURE_B64)[:63]).decode()
    assert "63 bytes" in _refused(key, str(TIMESTAMP), short)
    long = base64.b64encode(base64.b64decode(SIGNATURE_B64) + b"\0").decode()
    assert "65 bytes" in _refused(key, str(TIMESTAMP), long)
    assert "far too long" in _refused(key, str(TIMESTAMP), "A" * 4000)


def test_cc_wrong_key() -> None:
    other = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    assert "does not match" in _refused(other, str(TIMESTAMP), SIGNATURE_B64)


def test_cc_load_public_key_forms() -> None:
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    for text in (PUBLIC_B64, f"  {PUBLIC_B64}\n", pem, f"\n{pem}\n"):
        verify(load_public_key(text), str(TIMESTAMP), SIGNATURE_B64, BODY, TIMESTAMP)


@pytest.mark.parametrize(("text", "expected"), [
    ("", "empty"),
    ("not a key!", "neither base64 nor PEM"),
    (base64.b64encode(bytes(31)).decode(), "31 bytes"),
    (base64.b64encode(bytes(64)).decode(), "64 bytes"),
    ("-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n", "not a readable PEM"),
])
def test_cc_load_public_key_refuses(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        load_public_key(text)


def test_cc_load_public_key_refuses_other_algorithms() -> None:
    ec_pem = generate_private_key(SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(ValueError, match="not an Ed25519 key"):
        load_public_key(ec_pem)
