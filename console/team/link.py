"""Connecting to the team's bus: credentials from the URL or from options, TLS, clear errors,
and the streams and buckets the product needs (created once, idempotently)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig

from console.config import Settings
from console.server.logmask import protect_secrets
from console.team.subjects import AUDIO_STORE, CALLS_BUCKET, FACTS_STREAM, NODES_BUCKET

__all__ = ["BusError", "BusOptions", "connect", "ensure_layout"]

log = logging.getLogger("console.team")

FACTS_MAX_AGE_S = 30 * 86400.0  # the team's event log; the archive keeps history beyond
DUPLICATE_WINDOW_S = 600.0  # a fact re-sent after a reconnect within this is stored once


class _TlsCloseNoise(logging.Filter):
    """nats-py's TLS upgrade makes asyncio warn on every close ("returning true from
    eof_received() has no effect when using ssl"): noise, and a second line on errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received() has no effect when using ssl" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_TlsCloseNoise())


class BusError(RuntimeError):
    """The bus cannot be used: the one-line reason (refused credentials, unreachable...)."""


@dataclass(frozen=True)
class BusOptions:
    url: str
    user: str = ""
    password: str = ""
    token: str = ""
    creds: str = ""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    team: str = "team"

    @classmethod
    def from_settings(cls, s: Settings) -> BusOptions:
        return cls(s.bus_url, s.bus_user, s.bus_password, s.bus_token, s.bus_creds,
                   s.bus_tls_ca, s.bus_tls_cert, s.bus_tls_key, s.team)

    @property
    def shown_url(self) -> str:
        """The URL without its credentials, for screens and logs."""
        parsed = urlparse(self.url)
        host = parsed.netloc.rsplit("@", 1)[-1]
        return f"{parsed.scheme}://{host}"

    def secrets(self) -> list[str]:
        parsed = urlparse(self.url)
        found = [self.password, self.token, unquote(parsed.password or "")]
        if parsed.username and not parsed.password:  # nats://TOKEN@host
            found.append(unquote(parsed.username))
        return [s for s in found if s]

    def ssl_context(self) -> ssl.SSLContext | None:
        scheme = urlparse(self.url).scheme
        if scheme != "tls" and not (self.tls_ca or self.tls_cert):
            return None
        ctx = ssl.create_default_context(cafile=self.tls_ca or None)
        if self.tls_cert:
            ctx.load_cert_chain(self.tls_cert, self.tls_key or None)
        return ctx


async def connect(opts: BusOptions, name: str, *, wait: bool = False,
                  on_state: Callable[[str], None] | None = None,
                  timeout: float = 5.0) -> Client:
    """A connection that reconnects by itself for as long as it lives. With `wait`, a bus
    that cannot be reached yet is tried again until it can (a node starting before the bus);
    refused credentials are never retried: they raise BusError at once."""
    protect_secrets(*opts.secrets())
    state = on_state or (lambda _s: None)
    joined = [False]
    last_error: list[BaseException] = []

    async def error_cb(exc: Exception) -> None:
        last_error[:] = [exc]
        text = _reason(exc)
        if joined[0]:  # before that, the caller is told (BusError) and says it once
            log.warning("bus: %s", text)
        state(f"error: {text}")

    async def disconnected_cb() -> None:
        state("disconnected: reconnecting")

    async def reconnected_cb() -> None:
        state("connected")

    async def closed_cb() -> None:
        state("closed")

    # Credentials in the URL are taken out and decoded here: nats-py would send them
    # percent-encoded, so a password with '@' or ':' could never be given in a URL.
    parsed = urlparse(opts.url)
    server = parsed._replace(netloc=parsed.netloc.rsplit("@", 1)[-1]).geturl()
    url_user = unquote(parsed.username or "")
    url_password = unquote(parsed.password or "")
    kwargs: dict[str, Any] = dict(
        servers=[server], name=name, error_cb=error_cb, disconnected_cb=disconnected_cb,
        reconnected_cb=reconnected_cb, closed_cb=closed_cb, connect_timeout=timeout,
        max_reconnect_attempts=-1, reconnect_time_wait=0.5, ping_interval=2,
        max_outstanding_pings=2, allow_reconnect=True,
        # While reconnecting, published audio waits in a buffer of this size; facts have
        # their own outbox (console.team.outbox), so little is needed here.
        pending_size=8 * 1024 * 1024)
    if opts.user:
        kwargs.update(user=opts.user, password=opts.password)
    elif url_user and parsed.password is not None:
        kwargs.update(user=url_user, password=url_password)
    if opts.token:
        kwargs["token"] = opts.token
    elif url_user and parsed.password is None and not opts.user:
        kwargs["token"] = url_user
    if opts.creds:
        kwargs["user_credentials"] = opts.creds
    try:
        ctx = opts.ssl_context()
    except (OSError, ssl.SSLError) as exc:
        raise BusError(f"cannot use the bus TLS files: {exc}") from None
    if ctx is not None:
        kwargs["tls"] = ctx
        host = urlparse(opts.url).hostname
        if host:
            kwargs["tls_hostname"] = host
    delay = 0.5
    while True:
        try:
            # nats-py retries a failed first connection itself when allowed to reconnect;
            # that would hide refused credentials, so the first attempt is made plainly.
            # (max_reconnect_attempts > 0 is what makes nats-py give up on a server at all)
            nc = await nats.connect(**{**kwargs, "allow_reconnect": False,
                                       "max_reconnect_attempts": 1})
            await nc.close()
            nc = await nats.connect(**kwargs)
            joined[0] = True
            state("connected")
            return nc
        except Exception as exc:
            cause: BaseException = exc
            if isinstance(exc, nats.errors.NoServersError) and last_error:
                cause = last_error[0]  # what actually went wrong with the one server
            reason = _reason(cause)
            if "authorization" in reason.lower() or "authentication" in reason.lower() \
                    or not wait or isinstance(cause, BusError):
                raise BusError(f"bus {opts.shown_url}: {reason}") from None
            state(f"unreachable: {reason}; retrying")
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if "Authorization Violation" in text or "authorization violation" in text.lower():
        return "credentials refused (Authorization Violation): check the user and password or token"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {text}"
    if isinstance(exc, (ConnectionRefusedError, OSError)) or "Connect call failed" in text:
        return f"cannot reach the bus ({text})"
    if text.startswith("nats: "):
        text = text[6:]
    return text


async def ensure_layout(js: JetStreamContext) -> None:
    """The facts stream and the buckets, as this version wants them: created when missing,
    left as they are otherwise (an operator may have tuned their limits)."""
    await _ensure(lambda: js.stream_info(FACTS_STREAM), lambda: js.add_stream(StreamConfig(
        name=FACTS_STREAM, subjects=["coach.*.facts.>"], storage=StorageType.FILE,
        max_age=FACTS_MAX_AGE_S, duplicate_window=DUPLICATE_WINDOW_S,
        max_msg_size=1024 * 1024)))
    await _ensure(lambda: js.key_value(CALLS_BUCKET), lambda: js.create_key_value(
        KeyValueConfig(bucket=CALLS_BUCKET, history=1, ttl=FACTS_MAX_AGE_S,
                       storage=StorageType.FILE)))
    await _ensure(lambda: js.key_value(NODES_BUCKET), lambda: js.create_key_value(
        KeyValueConfig(bucket=NODES_BUCKET, history=1, storage=StorageType.FILE)))
    await _ensure(lambda: js.object_store(AUDIO_STORE),
                  lambda: js.create_object_store(AUDIO_STORE))


async def _ensure(check: Callable[[], Awaitable[Any]],
                  create: Callable[[], Awaitable[Any]]) -> None:
    from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError

    try:
        await check()
    except (NotFoundError, BucketNotFoundError):
        with contextlib.suppress(BadRequestError):  # another node created it meanwhile
            await create()
