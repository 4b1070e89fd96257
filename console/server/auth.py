"""Handshake authentication, decided before the WebSocket is accepted.

Accepted credentials: the console's stream token (Telnyx's `x-telnyx-streaming-auth-token`
header, `?token=`, or `Authorization: Bearer`), or a valid `X-Twilio-Signature` when a Twilio
auth token is configured. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from console.protocol.twilio import signature_matches

__all__ = ["AuthPolicy", "AuthResult", "check_handshake", "signed_url_candidates"]


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


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


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


def check_handshake(policy: AuthPolicy, path: str, headers: Mapping[str, str]) -> AuthResult:
    if policy.no_auth:
        return AuthResult(True, method="none")
    lower = {k.lower(): v for k, v in headers.items()}
    query = parse_qs(urlsplit(path).query)
    presented = [
        ("telnyx-header", lower.get("x-telnyx-streaming-auth-token")),
        ("query", (query.get("token") or [None])[0]),
    ]
    bearer = lower.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        presented.append(("bearer", bearer[7:].strip()))
    signature = lower.get("x-twilio-signature")
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
        urls = signed_url_candidates(policy.public_url, path, lower.get("host"))
        if signature_matches(policy.twilio_auth_token, urls, signature):
            return AuthResult(True, method="twilio-signature")
        return AuthResult(False, 403, "twilio-signature",
                          "X-Twilio-Signature does not match (check the public URL setting: "
                          "it must be exactly the <Stream url>)")
    if not tried:
        return AuthResult(False, 401, "", "no stream token or signature presented")
    return AuthResult(False, 403, "token", "wrong stream token")
