"""A real S3 API on loopback: ``moto_server`` in a child process.

Tests (and benchmarks) talk HTTP to it exactly as they would to AWS, through boto3
and through bams3.io. It is started once per test session by the ``s3_server``
fixture (tests/conftest.py), or by hand::

    with S3Server.start() as server:
        bucket = server.make_bucket()
        ...

The child dies with its parent even when the parent is killed (Linux
``PR_SET_PDEATHSIG``), so an interrupted test run leaves no server behind.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["S3Server", "free_port", "TEST_CREDENTIALS"]

#: the credentials tests use (moto accepts any by default)
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

_bucket_counter = itertools.count(1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to send SIGTERM to this child when its parent exits, however it exits."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _moto_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script), "-H", "127.0.0.1", "-p", str(port)]
    found = shutil.which("moto_server")
    if found:
        return [found, "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


class S3Server:
    """A running ``moto_server`` (use :meth:`start`; stop with :meth:`stop` or ``with``)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self._client: Any = None

    @classmethod
    def start(cls, *, timeout: float = 30.0, extra_env: dict[str, str] | None = None) -> S3Server:
        """Start a server on a free loopback port and wait until it answers.

        ``extra_env`` reaches the server process (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT=0``
        to make it check credentials).
        """
        port = free_port()
        log_file = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)  # noqa: SIM115
        env = {**os.environ, **TEST_CREDENTIALS, **(extra_env or {})}
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
            env.pop(name, None)
        process = subprocess.Popen(
            _moto_command(port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        log_file.close()
        server = cls(process, port, Path(log_file.name))
        try:
            server._wait_ready(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers: ready
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"moto_server did not start within {timeout} s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (idempotent) and remove its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> S3Server:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- helpers

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point AWS tools, bams3 and Snakemake at this server."""
        return {
            **TEST_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "SNAKEMAKE_STORAGE_S3_ENDPOINT_URL": self.endpoint_url,
            "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "SNAKEMAKE_STORAGE_S3_SECRET_KEY": TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "SNAKEMAKE_STORAGE_S3_REGION": TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
        }

    def client(self, **config: Any) -> Any:
        """A plain boto3 client for this server (for test set-up and back-door checks).

        Without ``config`` the same client is returned each time (creating one is slow).
        """
        import boto3
        import botocore.config

        if not config and self._client is not None:
            return self._client
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=botocore.config.Config(s3={"addressing_style": "path"}, **config),
        )
        if not config:
            self._client = client
        return client

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name unless ``name`` is given) and return its name."""
        if name is None:
            name = f"test-{next(_bucket_counter)}-{uuid.uuid4().hex[:8]}"
        self.client().create_bucket(Bucket=name)
        return name
