"""Keep credentials out of every log record, whoever logs it and wherever it goes.

botocore's DEBUG log prints each signed request's headers: the access key id (``Credential=`` in
``Authorization``) and the session token (``X-Amz-Security-Token``). pytest shows such records live,
writes them to ``--log-file`` and attaches them to failed tests in the Allure results. A log record
factory sees every record before any handler does, so the scrubbing happens once, at the source.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import botocore.credentials

MASK = "****"
#: Credential shapes, whatever their value: SigV4's ``Credential=<key id>/...``, the session token
#: header (as botocore prints headers: ``'X-Amz-Security-Token': b'...'``), and AWS access key ids.
PATTERNS = (
    re.compile(r"(Credential=)[^/\s'\",]+"),
    re.compile(r"(X-Amz-Security-Token['\"]?\s*[:=]\s*b?['\"]?)[^'\"\s,&}]+", re.IGNORECASE),
    re.compile(r"()\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,124}\b"),
)
_known: set[str] = set()
_lock = threading.Lock()
_installed = False


def scrub(text: str) -> str:
    """``text`` with every registered secret and every credential-shaped value masked."""
    for secret in sorted(_known, key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern in PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


def register(*values: str | None) -> None:
    """Remember credential values to mask (too-short values are ignored: they would mask ordinary text)."""
    with _lock:
        _known.update(value for value in values if value and len(value) >= 8)


def install() -> None:
    """Scrub every log record made from now on in this process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        make_record = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call: leave it to logging's own error report
            return record
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)


def protect(session: Any) -> None:
    """Install the scrubber and register the session's static credentials (key id, secret, token).

    Refreshable credentials (SSO, assumed roles) are not fetched here, which would move their first
    fetch and its errors out of the API calls; the patterns mask what botocore logs of them.
    """
    install()
    try:
        credentials = session.get_credentials()
    except Exception:  # resolved again, and reported, by the first API call
        return
    if type(credentials) is botocore.credentials.Credentials:
        register(credentials.access_key, credentials.secret_key, credentials.token)
