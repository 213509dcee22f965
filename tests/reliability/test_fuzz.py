"""Property-based fuzzing of every parser that reads untrusted bytes, beyond tests/bam/test_fuzz.py.

That module mutates whole BAMs, records and BAIs. This one covers the rest of what bams3 reads
from outside: the BAMS3 metadata (as bytes and as JSON values), chunk objects read back
through a store, chunk footers, CSI indexes, BAM reads that start at arbitrary virtual
offsets (a tampered shard plan), region strings and region files, staging manifests and
object keys. The properties: the outcome is a result or one of the project's error types
(one line), never another exception or a hang; and where bams3 returns a result from
damaged input it is the *right* result (a chunk whose bytes were changed either fails a
check or reads back exactly as before: never silently different records). Accepted names
and keys never point outside their directory.

Examples per test: ``BAMS3_FUZZ_EXAMPLES`` (default 60; ``make fuzz`` runs 20000).
"""
from __future__ import annotations

import base64
import io
import json
import os
import posixpath
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.helpers.mutations import apply
from tests.helpers.mutations import mutations as _mutations

from bams3.errors import Bams3Error, ConfigError, DatasetError, IndexFormatError, RegionError, UsageError
from tests.helpers import bamgen

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("BAMS3_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    derandomize=EXAMPLES <= 1000,  # the time-boxed run is reproducible; `make fuzz` explores
)
def one_line(exc: BaseException) -> None:
    assert "\n" not in str(exc) and str(exc), repr(exc)


def mutations(size: int) -> st.SearchStrategy:
    return _mutations(size, max_edits=3)


# ------------------------------------------------------------------ a small dataset, on disk and in memory


class SmallDataset:
    """A converted BAM: its objects, and what reading them gives when nothing is damaged."""

    def __init__(self, root: Path) -> None:
        from bams3.dataset import Dataset

        self.objects = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        self.dataset = Dataset.open(str(root))
        self.metadata_bytes = self.objects["_metadata.json"]
        self.chunk_keys = [self.dataset.metadata.chunk_key(i) for i in range(len(self.dataset.metadata.chunks))]
        self.region_of = {key: self._region(i) for i, key in enumerate(self.chunk_keys)}
        self.expected = {key: self._read(self.dataset, region) for key, region in self.region_of.items()}

    def _region(self, index: int) -> str | None:
        """A region covering chunk ``index`` (None for unplaced chunks: read them with the whole dataset)."""
        chunks = self.dataset.metadata.chunks
        ref_id = int(chunks.columns["ref_id"][index])
        if ref_id < 0:
            return None
        name = self.dataset.header.ref_name(ref_id)
        return f"{name}:{int(chunks.columns['min_pos'][index]) + 1}-{int(chunks.columns['max_end'][index])}"

    @staticmethod
    def _read(dataset: Any, region: str | None) -> tuple[bytes, int | None]:
        raw = b"".join(dataset.iter_raw(region))
        return raw, (dataset.count(region) if region is not None else None)

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"SmallDataset({len(self.chunk_keys)} chunks)"


@pytest.fixture(scope="module", params=[1, 2], ids=["format1", "format2"])
def small_dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SmallDataset:
    from bams3.dataset import convert

    root = tmp_path_factory.mktemp("fuzz-dataset")
    bam = bamgen.write_bam(root / "f.bam", n_pairs=400, seed=13, long_reads=2)
    convert(str(bam), str(root / "f.bams3"), bin_size=64_000, format=request.param, frame_bytes=1024,
            show_progress=False)
    return SmallDataset(root / "f.bams3")


def memory_dataset(objects: dict[str, bytes]) -> Iterator[str]:
    """Put ``objects`` in a fresh memory store; yield its URL; forget it afterwards."""
    from bams3.io._memory import MemoryStore

    name = "reliability-fuzz"
    MemoryStore.clear(name)
    store = MemoryStore(name)
    for key, data in objects.items():
        store.put(key, data)
    yield f"memory://{name}/"
    MemoryStore.clear(name)


@FUZZ
@given(data=st.data())
def test_damaged_chunks_fail_or_read_back_unchanged(small_dataset: SmallDataset, data: st.DataObject) -> None:
    """Change a chunk's bytes: every read either raises a project error or returns exactly the original."""
    from bams3.dataset import Dataset

    key = data.draw(st.sampled_from(small_dataset.chunk_keys))
    original = small_dataset.objects[key]
    damaged = apply(original, data.draw(mutations(len(original))))
    assume(damaged != original)
    for url in memory_dataset({**small_dataset.objects, key: damaged}):
        region = small_dataset.region_of[key]
        try:
            got = SmallDataset._read(Dataset.open(url), region)
        except Bams3Error as exc:
            one_line(exc)
            continue
        assert got == small_dataset.expected[key], "damaged chunk read back as different records"


@FUZZ
@given(data=st.data())
def test_damaged_footers(small_dataset: SmallDataset, data: st.DataObject) -> None:
    from bams3.dataset.codecs import FrameTable

    index = data.draw(st.integers(0, len(small_dataset.chunk_keys) - 1))
    chunk = small_dataset.objects[small_dataset.chunk_keys[index]]
    footer_size = int(small_dataset.dataset.metadata.chunks.footer_size[index])
    footer = chunk[len(chunk) - footer_size :]
    damaged = apply(footer, data.draw(mutations(len(footer))))
    assume(damaged != footer)
    try:
        FrameTable.decode_footer(damaged, chunk_size=len(chunk), name="f.bch")
    except Bams3Error as exc:
        one_line(exc)
        return
    raise AssertionError("a damaged footer passed its checks")  # its CRC-32 covers the table, magics the rest


@FUZZ
@given(data=st.data())
def test_metadata_bytes(small_dataset: SmallDataset, data: st.DataObject) -> None:
    from bams3.dataset.metadata import parse_metadata

    raw = small_dataset.metadata_bytes
    try:
        parse_metadata(apply(raw, data.draw(mutations(len(raw)))), name="_metadata.json")
    except DatasetError as exc:
        one_line(exc)


def json_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_paths(item, (*path, index))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**20), 2**20) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


def replace(document: Any, path: tuple[Any, ...], value: Any, *, delete: bool) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


@FUZZ
@given(data=st.data())
def test_metadata_values(small_dataset: SmallDataset, data: st.DataObject) -> None:
    """Any value anywhere in the document replaced (or removed), including the packed tables' bytes.

    Numbers stay within +-2^20: the claims beyond that are test_bombs.py's (some fail today).
    """
    from bams3.dataset import Dataset
    from bams3.dataset.metadata import parse_metadata
    from bams3.io import open_store

    document = json.loads(small_dataset.metadata_bytes)
    paths = list(json_paths(document))
    path = data.draw(st.sampled_from(paths))
    if path and path[-1] == "data":  # base64 blobs: damage the bytes inside, keep the encoding
        blob = base64.b64decode(replace_target(document, path))
        value: Any = base64.b64encode(apply(blob, data.draw(mutations(len(blob))))).decode()
    else:
        value = data.draw(JSON_VALUES)
    document = replace(document, path, value, delete=data.draw(st.booleans()))
    try:
        metadata = parse_metadata(json.dumps(document).encode(), name="_metadata.json")
    except DatasetError as exc:
        one_line(exc)
        return
    # accepted: the statistics (from the metadata alone) work
    Dataset(open_store("memory://reliability-unused/"), metadata).stats()


def replace_target(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


# ------------------------------------------------------------------ indexes and virtual offsets


@pytest.fixture(scope="module")
def csi_bam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-csi")
    bam = bamgen.write_bam(root / "c.bam", n_pairs=500, seed=17, long_reads=2, index=False)
    bamgen.write_index(bam, csi=True, min_shift=12)
    return bam


@FUZZ
@given(data=st.data())
def test_mutated_csi_index(csi_bam: Path, data: st.DataObject) -> None:
    """tests/bam/test_fuzz.py mutates BAIs; CSIs (levels, min_shift, loffsets, auxiliary data) here."""
    from bams3.bam.bai import parse_index

    raw = csi_bam.with_name(csi_bam.name + ".csi").read_bytes()
    try:
        index = parse_index(apply(raw, data.draw(mutations(len(raw)))), name="fuzz.csi")
    except IndexFormatError as exc:
        one_line(exc)
        return
    for ref_id in range(min(len(index.references), 3)):
        starts = [c.start for c in index.query_chunks(ref_id, 0, 200_000)]
        assert starts == sorted(starts)


def block_offsets(data: bytes) -> list[int]:
    """Compressed offsets of the BGZF blocks of a well-formed file (BSIZE at byte 16 of each header)."""
    offsets, at = [], 0
    while at < len(data):
        offsets.append(at)
        at += struct.unpack_from("<H", data, at + 16)[0] + 1
    return offsets


@FUZZ
@given(data=st.data())
def test_reads_from_arbitrary_virtual_offsets(csi_bam: Path, data: st.DataObject) -> None:
    """A shard plan names virtual offsets; a tampered one names any: records or a project error."""
    from bams3.bam.bgzf import VirtualPosition
    from bams3.bam.flagstat import flagstat
    from bams3.bam.reader import BamReader

    raw = csi_bam.read_bytes()
    with BamReader(io.BytesIO(raw), name="c.bam") as reader:
        header = reader.header
    offsets = block_offsets(raw)
    start_block = data.draw(st.sampled_from(offsets) | st.integers(0, len(raw) + 10))
    start = VirtualPosition(start_block, data.draw(st.integers(0, 65_535)))
    end = data.draw(st.none() | st.builds(VirtualPosition, st.sampled_from(offsets), st.integers(0, 65_535)))
    try:
        with BamReader.from_virtual_range(io.BytesIO(raw[start_block:]), start, end, header=header,
                                          name="c.bam") as reader:
            flagstat(reader)
    except Bams3Error as exc:
        one_line(exc)


# ------------------------------------------------------------------ regions

REFERENCES = {"chr1": 248_956_422, "chr2": 242_193_529, "HLA-A*01:01:01:01": 3503, "chrM": 16569, "1": 1000}

NUMBER = st.one_of(st.integers(-5, 10**12).map(str),
                   st.integers(0, 10**9).map(lambda n: f"{n:,}"),
                   st.tuples(st.integers(0, 999), st.sampled_from(["k", "K", "m", "M", "g", "G", ".5k", "e3"]))
                   .map(lambda t: f"{t[0]}{t[1]}"),
                   st.text(alphabet="0123456789,.-+kKmMgGe_ ", max_size=12))
REGION_TEXT = st.one_of(
    st.text(max_size=40),
    st.tuples(st.sampled_from([*REFERENCES, "chrUn", "", "{chr1}", "{HLA-A*01:01:01:01}", "chr1:1", "{", "}"]),
              st.sampled_from(["", ":", "::", ":-"]), NUMBER, st.sampled_from(["", "-", "--", ":"]), NUMBER)
    .map("".join),
)


@FUZZ
@given(text=REGION_TEXT, known=st.booleans())
def test_region_strings(text: str, known: bool) -> None:
    from bams3.regions import Region, parse_region

    try:
        region = parse_region(text, REFERENCES if known else None)
    except RegionError as exc:
        one_line(exc)
        return
    assert isinstance(region, Region) and region.start >= 0
    assert region.end is None or region.end > region.start
    if known:
        try:
            checked = region.check(REFERENCES)
        except RegionError as exc:
            one_line(exc)
            return
        assert checked.contig in REFERENCES


def test_adversarial_region_strings_do_not_hang() -> None:
    """Long inputs shaped to make a backtracking parser explode are answered (pytest-timeout guards)."""
    from bams3.regions import parse_region

    for text in ["chr1:" + "9" * 400, "chr1:1-" + "9" * 400 + "k", "chr1:" + "1," * 50_000 + "x", "{" * 50_000, "chr1:" + "1" * 100_000 + "-" + "2" * 100_000 + "k",
                 ":" * 100_000, "chr1:1-" + "-" * 100_000, "{" + "a:" * 50_000 + "}:1-2"]:
        try:
            parse_region(text, REFERENCES)
        except RegionError as exc:
            one_line(exc)


@FUZZ
@given(lines=st.lists(st.one_of(st.text(max_size=30), REGION_TEXT,
                                st.tuples(st.sampled_from(["chr1", "chr2", "x"]), NUMBER, NUMBER, st.text(max_size=5))
                                .map("\t".join)), max_size=6),
       suffix=st.sampled_from([".bed", ".txt", ""]))
def test_region_files(tmp_path_factory: pytest.TempPathFactory, lines: list[str], suffix: str) -> None:
    from bams3.regions import read_regions

    folder = tmp_path_factory.getbasetemp() / "fuzz-regions"
    folder.mkdir(exist_ok=True)
    path = folder / f"regions{suffix}"
    try:
        path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    except (UnicodeEncodeError, ValueError):
        assume(False)
    try:
        read_regions(path, REFERENCES)
    except (RegionError, ConfigError) as exc:
        one_line(exc)


# ------------------------------------------------------------------ staging manifests and object keys

NASTY_NAMES = st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(["..", ".", "", "a", "b.bam", "/", "\\", "~", "\x00", "..\\..", "%2e%2e", ".part",
                              ".bams3-stage", "é", "a" * 300]), min_size=1, max_size=5).map("/".join),
)
MANIFEST_VALUE = st.one_of(
    st.sampled_from(["s3://bucket/k.bam", "https://h/x.bam?Signature=ff", "file:///tmp/x", "/abs/path", "rel/path",
                     "gs://b/k", "ftp://h/x", "s3://", "https://", "", " "]),
    st.fixed_dictionaries({"url": st.sampled_from(["s3://b/k", "https://h/x"])},
                          optional={"sha256": st.text(alphabet="0123456789abcdefABCDEFx", max_size=66),
                                    "decompress": JSON_VALUES, "extra": JSON_VALUES}),
    JSON_VALUES,
)
REQUEST = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({"data_manifest": st.dictionaries(NASTY_NAMES, MANIFEST_VALUE, max_size=4)},
                          optional={"params": JSON_VALUES, "other": JSON_VALUES}),
)


@FUZZ
@given(request=REQUEST)
def test_stage_requests(request: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Any JSON: a request or one ConfigError line; an accepted name stays inside the run directory."""
    from bams3.stage.models import StageRequest

    try:
        parsed = StageRequest.from_dict(request)
    except ConfigError as exc:
        one_line(exc)
        return
    run_dir = Path("/run/dir")
    for entry in parsed.manifest:
        target = posixpath.normpath(posixpath.join(str(run_dir), entry.name))
        assert target.startswith(f"{run_dir}/") and "\x00" not in entry.name, entry.name
        assert not any(part in ("", ".", "..") for part in entry.name.split("/")), entry.name


@FUZZ
@given(key=NASTY_NAMES)
def test_object_keys_stay_inside_their_store(key: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keys come from metadata, plans and listings: an accepted key names a file under the store's root."""
    from bams3.io import open_store
    from bams3.io.keys import check_key

    root = tmp_path_factory.getbasetemp() / "keys-root"
    store = open_store(str(root))
    try:
        path = store.path_of(check_key(key))  # type: ignore[attr-defined]
    except UsageError as exc:
        one_line(exc)
        return
    assert root.resolve() in Path(os.path.abspath(path)).parents, (key, path)
