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


# --------------------------------------------------------------------------- properties

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: pieces that make up URLs, queries, headers and dict reprs, and the marker itself
_PIECES = [
    "https://", "s3://", "http://u:p@", "host", "/", "a.bam", "?", "#", "&", "=", "@", ":", ": ", " ", "\n",
    "'", '"', "b'", ",", ";", "<", ">", "`", "%3F", "%26", "%3D", "<redacted>", "redacted>", "_",
    "Signature", "X-Amz-Signature", "X-Amz-Credential", "x-amz-security-token", "sig", "token", "Expires",
]
texts = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=4)), max_size=25).map("".join)
hex_secrets = st.text(alphabet="0123456789abcdef", min_size=24, max_size=64)


@settings(max_examples=2000, deadline=None)
@given(texts)
@example("https://h/x.bam?<redacted>")
@example("http://h/sig=<x>&a?b=1")
@example("https://h/x?")
def test_redact_text_is_idempotent(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


@given(texts)
@settings(max_examples=500, deadline=None)
def test_redact_is_idempotent(text: str) -> None:
    assert redact(redact(text)) == redact(text)


def test_redacting_a_redacted_url_adds_no_second_marker() -> None:
    """The reported bug: the logging filter re-redacts messages holding redact()'s output."""
    assert redact_text(redact(SIGNED)) == "https://bucket.s3.amazonaws.com/a/b.bam?<redacted>"
    message = f"GET {redact(SIGNED)} failed: HTTP 403"
    assert redact_text(message) == message


@settings(max_examples=500, deadline=None)
@given(
    before=texts,
    after=texts,
    signature=hex_secrets,
    token=hex_secrets,
    form=st.sampled_from(["url", "query", "encoded", "header", "repr"]),
)
def test_no_signature_survives(before: str, after: str, signature: str, token: str, form: str) -> None:
    """Whatever text surrounds a signed request, neither its signature nor its token gets through."""
    query = f"X-Amz-Credential=AKIA%2Fx&X-Amz-Security-Token={token}&X-Amz-Signature={signature}"
    secret_text = {
        "url": f"https://b.s3.amazonaws.com/k.bam?{query}",
        "query": f"GET /k.bam?{query} HTTP/1.1",
        "encoded": "https%3A%2F%2Fh%2Fk%3F" + query.replace("&", "%26").replace("=", "%3D"),
        "header": f"Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, Signature={signature}\n"
        f"x-amz-security-token:{token}",
        "repr": f"headers={{'X-Amz-Security-Token': b'{token}', 'Authorization': "
        f"b'AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host, Signature={signature}'}}",
    }[form]
    # a separator keeps the secret from fusing with random neighbours into a longer word
    cleaned = redact_text(f"{before} {secret_text} {after}")
    assert signature not in cleaned
    assert token not in cleaned
    assert redact_text(cleaned) == cleaned
