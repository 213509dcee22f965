"""No signature, token or password survives redaction."""
from __future__ import annotations

import logging

import pytest

from bams3.io import redact, redact_text
from bams3.io.redact import RedactingFilter

SIGNED = (
    "https://bucket.s3.amazonaws.com/a/b.bam?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z"
    "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FQoGZXIvYXdzEJr"
    "&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)
SECRETS = ["AKIAEXAMPLE", "FQoGZXIvYXdzEJr", "0123456789abcdef0123456789abcdef"]


def test_redact_drops_query_and_userinfo() -> None:
    assert redact(SIGNED) == "https://bucket.s3.amazonaws.com/a/b.bam?<redacted>"
    assert redact("https://user:pw@host:8443/x?y=1#frag") == "https://host:8443/x?<redacted>"
    assert redact("http://host/plain") == "http://host/plain"
    assert redact("s3://bucket/key") == "s3://bucket/key"
    assert redact("/local/path?odd") == "/local/path?odd"
    assert redact("https://[::1/bad?Signature=abc") == "https://[::1/bad?<redacted>"


@pytest.mark.parametrize(
    "text",
    [
        f"failed to read {SIGNED}: 403",
        f"url='{SIGNED}'",
        f"GET {SIGNED.split('?', 1)[1]}",  # a query string on its own
        SIGNED.replace("?", "%3F").replace("&", "%26").replace("=", "%3D"),  # percent-encoded
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20250101, SignedHeaders=host, "
        "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "x-amz-security-token: FQoGZXIvYXdzEJr",
        "?AWSAccessKeyId=AKIAEXAMPLE&Signature=0123456789abcdef0123456789abcdef%3D&Expires=1",
    ],
)
def test_redact_text_masks_secrets(text: str) -> None:
    cleaned = redact_text(text)
    for secret in SECRETS:
        assert secret not in cleaned
    assert "<redacted>" in cleaned


def test_redact_text_keeps_ordinary_text() -> None:
    text = "read 3 chunks of s3://bucket/sample.bams3/ in 1.2 s (signature checks passed)"
    assert redact_text(text) == text


def test_logging_filter(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("bams3.test.redaction")
    logger.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="bams3.test.redaction"):
            logger.info("fetching %s", SIGNED)
    finally:
        logger.filters.clear()
    assert "a/b.bam?<redacted>" in caplog.text
    for secret in SECRETS:
        assert secret not in caplog.text
