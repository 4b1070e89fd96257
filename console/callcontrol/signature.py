"""Telnyx webhook signatures (Ed25519).

Telnyx signs each webhook with the account's Ed25519 key: the `telnyx-signature-ed25519`
header holds the base64 of a 64-byte signature over `"{telnyx-timestamp}|"` followed by the raw
request body, and `telnyx-timestamp` is the send time in Unix seconds. The console holds the
account's public key (32 raw bytes, base64, as the portal shows it) and rejects anything that
does not verify or that falls outside the replay window.

Error messages say what is wrong and never repeat the signature, the body or a key.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import load_pem_public_key

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureError",
    "load_public_key",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"

_SIGNATURE_BYTES = 64
_KEY_BYTES = 32
# base64 of 64 bytes is 88 characters; anything much longer is not worth decoding.
_MAX_SIGNATURE_CHARS = 128
# Unix seconds as digits only: int() alone would take "+1", " 1", "1_0" and "١".
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(ValueError):
    """A webhook's signature headers are missing, malformed, out of date or do not verify."""


def load_public_key(text: str) -> Ed25519PublicKey:
    """The account's Ed25519 public key from the base64 of its 32 raw bytes (as Telnyx's
    portal shows it) or from a PEM SubjectPublicKeyInfo. ValueError saying why otherwise."""
    text = (text or "").strip()
    if not text:
        raise ValueError("the Telnyx public key is empty")
    if text.startswith("-----BEGIN"):
        try:
            key = load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm):
            raise ValueError("the Telnyx public key is not a readable PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the Telnyx public key in PEM form is not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "the Telnyx public key is neither base64 nor PEM (copy it from the portal's "
            "Public Key field)") from None
    if len(raw) != _KEY_BYTES:
        raise ValueError(f"the Telnyx public key is {len(raw)} bytes; an Ed25519 public key "
                         f"is {_KEY_BYTES}")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(key: Ed25519PublicKey, timestamp: str | None, signature: str | None,
           body: bytes, now: float, tolerance_s: float = 300.0) -> int:
    """Check a webhook's `telnyx-timestamp` and `telnyx-signature-ed25519` headers against
    its raw body; returns the timestamp. Raises SignatureError saying what is wrong.

    The cheap checks come first so that junk costs no elliptic-curve work."""
    if timestamp is None or not timestamp.strip():
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if signature is None or not signature.strip():
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    stamp = timestamp.strip()
    if not _TIMESTAMP.fullmatch(stamp):
        raise SignatureError(f"{TIMESTAMP_HEADER} is not a Unix time in whole seconds")
    when = int(stamp)
    age = now - when
    if age > tolerance_s:
        raise SignatureError(f"{TIMESTAMP_HEADER} is {age:.0f} s old, beyond the "
                             f"{tolerance_s:.0f} s tolerance (a replay or a late delivery)")
    if -age > tolerance_s:
        raise SignatureError(f"{TIMESTAMP_HEADER} is {-age:.0f} s in the future, beyond the "
                             f"{tolerance_s:.0f} s tolerance (check this machine's clock)")
    sig_text = signature.strip()
    if len(sig_text) > _MAX_SIGNATURE_CHARS:
        raise SignatureError(f"{SIGNATURE_HEADER} is {len(sig_text)} characters, far too long "
                             f"for a {_SIGNATURE_BYTES}-byte signature")
    try:
        raw = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SIGNATURE_HEADER} is not valid base64") from None
    if len(raw) != _SIGNATURE_BYTES:
        raise SignatureError(f"{SIGNATURE_HEADER} decodes to {len(raw)} bytes; an Ed25519 "
                             f"signature is {_SIGNATURE_BYTES}")
    try:
        key.verify(raw, stamp.encode("ascii") + b"|" + body)
    except InvalidSignature:
        raise SignatureError(
            "the signature does not match this body and timestamp (altered in transit, or "
            "signed with another account's key)") from None
    return when


def sign(key: Ed25519PrivateKey, timestamp: int, body: bytes) -> str:
    """The base64 `telnyx-signature-ed25519` value for `body` sent at `timestamp`; the
    counterpart of verify(), for tests and local tools."""
    return base64.b64encode(key.sign(f"{timestamp}|".encode("ascii") + body)).decode("ascii")
