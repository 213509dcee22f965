"""What the fuzzers found, as plain examples that run every time (not only under ``-m fuzz``)."""
from __future__ import annotations

import json

import pytest

from bams3.errors import DatasetError, RegionError


@pytest.fixture(scope="module")
def metadata_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from bams3.dataset import convert
    from tests.helpers import bamgen

    root = tmp_path_factory.mktemp("findings")
    bam = bamgen.write_bam(root / "f.bam", n_pairs=100, seed=21)
    convert(str(bam), str(root / "f.bams3"), show_progress=False)
    return (root / "f.bams3" / "_metadata.json").read_bytes()


@pytest.mark.parametrize("text", ["chr1:" + "9" * 400, "chr1:1-" + "9" * 400, "chr1:" + "9" * 400 + ".5k"])
def test_region_positions_of_hundreds_of_digits(text: str) -> None:
    """Parsed as float infinity, they raised OverflowError (fixed in bams3.regions)."""
    from bams3.regions import parse_region

    with pytest.raises(RegionError, match="bad position"):
        parse_region(text)


@pytest.mark.parametrize("field", ["chunks", "header"])
def test_metadata_blob_with_a_non_ascii_character(metadata_bytes: bytes, field: str) -> None:
    from bams3.dataset.metadata import parse_metadata

    document = json.loads(metadata_bytes)
    document[field]["data"] = "\u0080" + document[field]["data"][1:]
    with pytest.raises(DatasetError):
        parse_metadata(json.dumps(document).encode(), name="_metadata.json")


