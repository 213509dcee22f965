"""Fixtures shared by the whole test suite: a real S3 API, a fault proxy, a signed file server.

``s3_server``   (session) moto_server on loopback; while it runs, the environment points
                every AWS client, bams3 and Snakemake's S3 storage plugin at it.
``s3_bucket``   a fresh, empty bucket name on that server.
``fault_proxy`` a :class:`tests.helpers.faultproxy.FaultProxy` in front of the server;
                point the code under test at ``fault_proxy.url``.
``http_server`` a :class:`tests.helpers.httpserver.SignedFileServer` over a temporary
                directory (signatures required; ``server.signed_url(path)``).

For the whole session the environment also holds dummy AWS credentials (no test can
reach a real account) and a short retry backoff (``BAMS3_RETRY_BACKOFF``), so that
fault tests spend milliseconds, not seconds, between retries.
"""
from __future__ import annotations

import atexit
from collections.abc import Iterator

import pytest

from tests.helpers.faultproxy import FaultProxy
from tests.helpers.httpserver import SignedFileServer
from tests.helpers.s3server import TEST_CREDENTIALS, S3Server

#: environment every test sees (set once per session, restored at the end)
SESSION_ENV = {
    **TEST_CREDENTIALS,
    "BAMS3_RETRY_BACKOFF": "0.01",
    "BAMS3_RETRY_TIMEOUT": "30",
}


@pytest.fixture(scope="session", autouse=True)
def _session_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy credentials, no AWS profile or config files, fast retries."""
    empty = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SESSION_ENV.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(empty))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="session")
def s3_server(_session_environment: None) -> Iterator[S3Server]:
    """A moto S3 server for the session; the environment points at it while it runs."""
    server = S3Server.start()
    atexit.register(server.stop)  # also on an interrupted run; stop() is idempotent
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in server.env.items():
                patch.setenv(name, value)
            yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A new empty bucket (unique name)."""
    return s3_server.make_bucket()


@pytest.fixture
def fault_proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    """A fault-injecting, counting proxy in front of the S3 server."""
    with FaultProxy(s3_server.endpoint_url) as proxy:
        yield proxy


@pytest.fixture
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedFileServer]:
    """A signed-URL file server over an empty temporary directory."""
    with SignedFileServer(tmp_path_factory.mktemp("www")) as server:
        yield server
