"""Handshake authentication, decided before the WebSocket is accepted.

Accepted credentials: the console's stream token (Telnyx's `x-telnyx-streaming-auth-token`
header, `?token=`, `Authorization: Bearer`, or either half of Basic as Exotel sends it), or
a valid `X-Twilio-Signature` when a Twilio auth token is configured. Tokens are compared in
constant time.

Whatever a peer sends, the answer is 401 (nothing usable presented) or 403 (something
presented and wrong), never an error: values that are not ASCII, huge, empty or repeated are
wrong credentials like any other.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from console.protocol.twilio import signature_matches

__all__ = ["CREDENTIAL_HEADERS", "AuthPolicy", "AuthResult", "check_handshake",
           "signed_url_candidates"]

log = logging.getLogger("console.server")

TELNYX_HEADER = "x-telnyx-streaming-auth-token"
TWILIO_HEADER = "x-twilio-signature"
# Headers that carry a credential: also the ones the log masking hides.
CREDENTIAL_HEADERS = (TELNYX_HEADER, "authorization", TWILIO_HEADER)


@dataclass(frozen=True)
class AuthPolicy:
    token: str = ""
    no_auth: bool = False
    public_url: str = ""
    twilio_auth_token: str = ""


@dataclass(frozen=True)
class AuthResult:
    ok: bool
    status: int = 200  # 401 no credentials, 403 wrong credentials
    method: str = ""
    reason: str = ""


def _bytes(text: str) -> bytes:
    # Header values arrive as ISO-8859-1 text, query values as UTF-8 with replacements;
    # surrogatepass makes any str encodable, so no input can raise here.
    return text.encode("utf-8", "surrogatepass")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(_bytes(a), _bytes(b))


def _basic(credential: str) -> tuple[str | None, str | None]:
    """user and password of a Basic credential; (None, None) when it is not one."""
    import base64
    import binascii

    if len(credential) > 8192:
        return None, None
    try:
        text = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None, None
    user, sep, password = text.partition(":")
    return (user, password) if sep else (None, None)


def signed_url_candidates(public_url: str, path: str, host: str | None) -> list[str]:
    """URLs Twilio may have signed: the configured public URL as given, and its origin with
    the request's path; failing configuration, the Host the request came to."""
    out: list[str] = []
    if public_url:
        out.append(public_url)
        parts = urlsplit(public_url)
        out.append(urlunsplit((parts.scheme, parts.netloc, path.split("?")[0], "", "")))
        if parts.port is not None:  # some signers drop an explicit port
            bare = parts.netloc.rsplit(":", 1)[0]
            out.append(urlunsplit((parts.scheme, bare, path.split("?")[0], "", "")))
    elif host:
        for scheme in ("wss", "ws"):
            out.append(f"{scheme}://{host}{path.split('?')[0]}")
    return list(dict.fromkeys(out))


def check_handshake(policy: AuthPolicy, path: str,
                    headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> AuthResult:
    """Decide one upgrade request. `headers` is a mapping or every (name, value) pair as
    received (pairs let a repeated credential header be seen and refused)."""
    if policy.no_auth:
        return AuthResult(True, method="none")
    try:
        return _check(policy, path, headers)
    except Exception:  # a credential that cannot even be read is a wrong one, not a 500
        log.warning("could not read the credentials of a handshake; refused", exc_info=True)
        return AuthResult(False, 403, "", "credentials could not be read")


def _check(policy: AuthPolicy, path: str,
           headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> AuthResult:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    received: dict[str, list[str]] = {}
    for name, value in pairs:
        received.setdefault(name.lower(), []).append(value)
    # Twice the same credential (with proxies in between, each may read a different one)
    # is refused outright rather than guessing which one counts.
    for name in CREDENTIAL_HEADERS:
        if len(received.get(name, ())) > 1:
            return AuthResult(False, 403, name, f"{name} header sent more than once")
    tokens = parse_qs(urlsplit(path).query, keep_blank_values=True).get("token", [])
    if len(tokens) > 1:
        return AuthResult(False, 403, "query", "token given more than once in the URL")

    def one(name: str) -> str | None:
        values = received.get(name)
        return values[0] if values else None

    presented = [("telnyx-header", one(TELNYX_HEADER)),
                 ("query", tokens[0] if tokens else None)]
    authorization = one("authorization")
    if authorization is not None:
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            presented.append(("bearer", credential.strip()))
        elif scheme.lower() == "basic":
            # Exotel: wss://KEY:TOKEN@host arrives as Basic; the stream token may be given
            # as either part (wss://console:TOKEN@host or wss://TOKEN@host).
            user, password = _basic(credential.strip())
            presented += [("basic", password), ("basic", user or None)]
    signature = one(TWILIO_HEADER)
    tried = False
    for method, value in presented:
        if value is None:
            continue
        tried = True
        if policy.token and _same(value, policy.token):
            return AuthResult(True, method=method)
    if signature is not None:
        tried = True
        if not policy.twilio_auth_token:
            return AuthResult(False, 403, "twilio-signature",
                              "X-Twilio-Signature sent but no Twilio auth token is configured")
        urls = signed_url_candidates(policy.public_url, path, one("host"))
        if signature_matches(policy.twilio_auth_token, urls, signature):
            return AuthResult(True, method="twilio-signature")
        return AuthResult(False, 403, "twilio-signature",
                          "X-Twilio-Signature does not match (check the public URL setting: "
                          "it must be exactly the <Stream url>)")
    if not tried:
        if authorization is not None:
            return AuthResult(False, 401, "authorization",
                              "Authorization header is not 'Bearer <stream token>' or Basic "
                              "with the stream token")
        return AuthResult(False, 401, "", "no stream token or signature presented")
    return AuthResult(False, 403, "token", "wrong stream token")
