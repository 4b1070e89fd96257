"""Secrets never reach a log, at any verbosity.

At `-v` websockets logs every request line and header it receives, so the stream token would
be written out in `?token=`, `x-telnyx-streaming-auth-token` and `Authorization`. Rather than
trusting every logger (ours, websockets', asyncio's) to leave secrets out, every log record is
masked where it is made (a log record factory, so it holds for any handler, any logger and any
level): credential headers and query parameters lose their values, and the configured secrets
(the stream token, the Twilio auth token) are replaced wherever they appear, tracebacks
included.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["MASK", "install", "mask", "protect_secrets"]

MASK = "***"

# Shortest configured secret masked by value: a one-letter "token" would blank every log line.
_MIN_SECRET = 4

# Header names whose values are credentials, however they are written: `name: value` (HTTP,
# websockets' debug lines), `'name': 'value'` (a dict's repr), `name=value`. A header's value
# may hold spaces ("Bearer x"): it is masked to the end of the line or the closing quote.
_HEADER = re.compile(
    r"(?i)(?<![\w-])((?:authorization|proxy-authorization|x-telnyx-streaming-auth-token"
    r"|x-twilio-signature|cookie|set-cookie|x-api-key)['\"]?\s*[:=]\s*)(['\"]?)"
    r"([^\r\n'\",}]*)")
# Other credential-like names (`token=...`, `"twilio_auth_token": "..."`): up to a space.
_NAMED = re.compile(
    r"(?i)(?<![\w-])((?:[\w-]*token|[\w-]*secret|password|[\w-]*api[_-]?key)['\"]?"
    r"\s*[:=]\s*)(['\"]?)([^\s&'\",}]*)")
# Query parameters with a credential-like name: ?token=..., &auth_token=..., &sig=...
_QUERY = re.compile(
    r"(?i)([?&;][\w.-]*(?:token|auth|key|secret|sig|pass|pwd|credential)[\w.-]*=)"
    r"([^&\s#'\"]*)")

_secrets: set[str] = set()
_secrets_re: re.Pattern[str] | None = None
_lock = threading.Lock()
_installed = False


def protect_secrets(*values: str) -> None:
    """Mask these values (the stream token, the Twilio auth token) in every log record from
    now on, and make sure masking is installed. Empty or very short values are ignored."""
    global _secrets_re
    with _lock:
        new = {v for v in values if v and len(v) >= _MIN_SECRET} - _secrets
        if new:
            _secrets.update(new)
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(_secrets, key=len, reverse=True)
            _secrets_re = re.compile("|".join(re.escape(s) for s in ordered))
    install()


def mask(text: str) -> str:
    """`text` with credential header values, credential query parameters and every
    configured secret replaced by ***."""
    pattern = _secrets_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _QUERY.sub(lambda m: m.group(1) + (MASK if m.group(2) else ""), text)
    text = _HEADER.sub(_keep_name, text)
    return _NAMED.sub(_keep_name, text)


def _keep_name(m: re.Match[str]) -> str:
    return m.group(1) + m.group(2) + (MASK if m.group(3) else "")


def _masked_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep everything, masked, instead of raising
        message = f"{record.msg!r} % {record.args!r}"
    record.msg = mask(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        # Formatters reuse exc_text when it is set: the traceback is masked once, here.
        record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
    return record


def install() -> None:
    """Mask every log record made in this process from now on (idempotent). Records are
    only made for enabled levels, so this costs nothing for debug lines that are off."""
    global _installed
    with _lock:
        if _installed:
            return
        previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return _masked_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed = True
