"""Remove secrets from URLs and from free text before anyone prints them.

Signed URLs carry their credential in the query string (``X-Amz-Signature``,
``Signature``, ``X-Amz-Security-Token``...), and URLs may carry ``user:password@``.
A signed URL in a log file or a JSON report is a leaked credential for as long as it
is valid, so every URL that reaches a log line, an error message, a progress label or
a report goes through :func:`redact` (one URL) or :func:`redact_text` (any text).

This module imports only the standard library: the CLI's logging filter loads it for
every process, including ones that never touch the network.
"""
from __future__ import annotations

import logging
import re

__all__ = ["REDACTED", "redact", "redact_text", "RedactingFilter", "redact_logger"]

#: what replaces a removed query string or secret value
REDACTED = "<redacted>"

# A URL inside free text: a scheme, "://", then anything up to whitespace, a quote or an
# angle bracket -- except that the marker this module writes (``<redacted>``) is part of
# the URL. Stopping at its ``<`` would make redacting twice append a second marker
# (``?<redacted><redacted>``), and the CLI's logging filter re-redacts messages that
# already hold redacted URLs.
_URL_IN_TEXT = re.compile(r"""(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://(?:<redacted>|[^\s'"<>`])+""")

# Query parameters and header fields whose values are secrets, wherever they appear:
# ``name=value`` in queries, ``name: value`` in echoed headers and logs, and the
# ``'Name': b'value'`` of a Python dict repr (botocore logs request headers that way at
# DEBUG level).
_SECRET_FIELDS = (
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Credential",
    "x-goog-signature",
    "x-goog-credential",
    "sig",
    "token",
    "access_token",
)
# A value is one or more characters that a URL may hold too (so masking a value inside
# a URL never changes where a later pass finds that URL's end), stopping at the
# separators of queries and header lists. ``<redacted>`` counts as a value, so that
# masking is idempotent.
_SECRET_VALUE = re.compile(
    r"(?:(?<=%3F)|(?<=%26)|(?<![A-Za-z0-9_\-]))"  # start of a field, also inside an encoded URL
    r"(" + "|".join(re.escape(f) for f in _SECRET_FIELDS) + r")"
    r"((?:=|%3D)['\"]?|['\"]?:\s*(?:b?['\"])?)"
    r"((?:<redacted>|(?!%26)[^&\s'\",;<>`])+)",
    re.IGNORECASE,
)


def redact(url: str) -> str:
    """Return ``url`` without its query string, fragment or ``user:password@`` part.

    The query is replaced by ``?<redacted>`` (so a reader can still tell the URL was
    signed); strings without ``://`` (local paths) are returned unchanged. The URL is
    cut by hand rather than parsed: a parser rejects some malformed URLs (which must
    still be redacted) and normalises others (which would make redacting a redacted URL
    change it again). ``redact(redact(url)) == redact(url)``.

    Examples
    --------
    >>> redact("https://host/a/b.bam?X-Amz-Signature=abc&X-Amz-Expires=60")
    'https://host/a/b.bam?<redacted>'
    >>> redact("https://user:secret@host/x")
    'https://host/x'
    >>> redact("/data/sample.bam")
    '/data/sample.bam'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    rest = rest.split("#", 1)[0]
    base, query_sep, _ = rest.partition("?")
    authority, slash, path = base.partition("/")
    authority = authority.rpartition("@")[2]
    return f"{scheme}://{authority}{slash}{path}" + (f"?{REDACTED}" if query_sep else "")


def redact_text(text: str) -> str:
    """Redact every URL inside ``text`` and mask secret-looking ``name=value`` pairs.

    The second pass catches secrets that are not part of a recognisable URL: an
    ``Authorization`` header echoed in an error (``Credential=...``, ``Signature=...``),
    a query string printed on its own, or a percent-encoded URL. Redacting is
    idempotent (``redact_text(redact_text(t)) == redact_text(t)``): log filters and
    error wrappers may apply it to text that is already redacted.

    Examples
    --------
    >>> redact_text("GET https://h/x.bam?Expires=1&Signature=ff failed")
    'GET https://h/x.bam?<redacted> failed'
    >>> redact_text("Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=abc")
    'Authorization: AWS4-HMAC-SHA256 Credential=<redacted>, Signature=<redacted>'
    >>> redact_text(redact_text("see https://h/x.bam?Signature=ff"))
    'see https://h/x.bam?<redacted>'
    """
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)
    return _SECRET_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record through :func:`redact_text`.

    Attach it to a handler to scrub everything that handler writes, or to a third-party
    logger that prints URLs (urllib3 logs each request line, query string included, at
    DEBUG level) so that no handler ever sees the secret.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # A traceback quotes exception messages (urllib3's name the request URL, query
        # string included): format it now, redacted, where handlers will reuse it.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def redact_logger(name: str) -> None:
    """Attach a :class:`RedactingFilter` to the logger ``name`` (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
