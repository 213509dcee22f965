"""Fixtures of the handler tests: a BAMS3 dataset in the loopback S3 server, secrets to look for."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bams3.dataset import convert
from bams3.handlers._base import Handler
from tests.helpers.bamgen import write_preset

DOCS_SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"

#: a secret access key the S3 server accepts (moto takes any); no response or log line may hold it
SECRET_KEY = "hAndLeRsEcReTkEy0123456789"
#: the signature of signed URLs in requests; no response or log line may hold it
SIGNATURE = "SiGnAtUrEsEcReT42"


@pytest.fixture(autouse=True)
def _quiet_and_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A distinctive secret key, no progress output, no cache or scratch outside the test's tmp dir."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("BAMS3_PROGRESS", "off")
    monkeypatch.setenv("BAMS3_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BAMS3_SCRATCH_PREFIX", raising=False)


@pytest.fixture(autouse=True)
def _responses_fit_the_published_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every envelope a test gets, success or failure, validates against docs/schemas/<name>.response.json."""
    import json

    import jsonschema

    invoke = Handler.invoke

    def checked(self: Handler, event: Any) -> dict[str, Any]:  # type: ignore[type-arg]
        response = invoke(self, event)
        schema = json.loads((DOCS_SCHEMAS / f"{self.name}.response.json").read_text())
        jsonschema.validate(json.loads(json.dumps(response)), schema, cls=jsonschema.Draft202012Validator)
        return response

    monkeypatch.setattr(Handler, "invoke", checked)


@pytest.fixture(scope="session")
def handler_bam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The edge-case preset: secondary, supplementary, unmapped, duplicates, long reads, a reference without reads."""
    return write_preset("edge_cases", tmp_path_factory.mktemp("handler-bams"))


@pytest.fixture(scope="session")
def s3_dataset(handler_bam: Path, s3_server: Any) -> str:
    """The BAM converted straight into S3 with small bins, so that regions cross chunk edges."""
    url = f"s3://{s3_server.make_bucket()}/cohort/edge.bams3"
    convert(str(handler_bam), url, bin_size=65_536, frame_bytes=8 * 1024, show_progress=False)
    return url


def assert_clean(text: str) -> None:
    """No secret and no traceback in ``text`` (a response or a log)."""
    assert SECRET_KEY not in text and SIGNATURE not in text
    assert "Traceback" not in text
