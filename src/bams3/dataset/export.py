"""Records out of a dataset: BAM files (``to-bam``, ``query -o x.bam``) and SAM text.

BAM output is written byte for byte from the stored records (the header's raw bytes, then
each record's raw bytes) through :class:`~bams3.bam.bgzf_writer.BgzfWriter`, so a whole-dataset
``to-bam`` gives back the source BAM's uncompressed stream exactly; only the BGZF block
boundaries may differ. The header ends its own BGZF block, as htslib does.

SAM text is produced by htslib itself (through pysam), so it is exactly what ``samtools view``
prints: the raw records are fed as an uncompressed BAM stream through a pipe to a
``pysam.AlignmentFile`` (htslib reads uncompressed BAM transparently) and each record is
formatted with ``to_string()``. That costs a Python call per record, which is fine for what
a person reads and bounded by the records the query returns.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from ..bam.header import BamHeader
    from ..bam.records import RecordBatch
    from .reader import Dataset

__all__ = ["write_bam", "sam_lines", "write_sam", "write_sam_file", "raw_records"]

#: deflate level of BAM output (htslib's default)
DEFAULT_BAM_LEVEL = 6


def write_bam(dataset: Dataset, output: str, *, region: str | None = None, index: bool = False,
              level: int = DEFAULT_BAM_LEVEL) -> int:
    """Write the dataset (or the records overlapping ``region``) as a sorted BAM at ``output``.

    ``output`` is a local path or an ``s3://`` URL; nothing appears there unless the whole
    file was written (atomic rename locally, multipart commit on S3). With ``index`` a
    ``.bai`` is written next to a local output (samtools' indexer, through pysam).

    Returns
    -------
    int
        Records written.
    """
    from ..bam.bgzf_writer import BgzfWriter
    from ..io import open_url, url_scheme

    if index and url_scheme(output) != "file":
        raise UsageError(f"{output}: --index needs a local output path")
    store, key = open_url(output)
    records = 0
    if region is None:
        pieces: Iterable[bytes] = dataset.iter_raw()
        records = dataset.metadata.totals.records
    else:
        def counted() -> Iterator[bytes]:
            nonlocal records
            for batch in dataset.query(region):
                records += len(batch)
                yield batch.raw_bytes()

        pieces = counted()
    with store.open_write(key) as out:
        writer = BgzfWriter(out, level=level)  # type: ignore[arg-type]
        writer.write(dataset.header.raw)
        writer.flush()
        for data in pieces:
            writer.write(data)
        writer.close()
    if index:
        import pysam

        path = output[len("file://"):] if output.startswith("file://") else output
        pysam.index(path)
    return records


def _feed(header: BamHeader, raw: Iterable[bytes], fd: int, errors: list[BaseException]) -> None:
    """Thread body: write an uncompressed BAM stream (header, then records) into a pipe."""
    try:
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(header.raw)
            for data in raw:
                pipe.write(data)
    except BrokenPipeError:
        pass  # the reader stopped early (``--show N``)
    except BaseException as exc:  # handed to the consuming thread, which raises it
        errors.append(exc)


def sam_lines(header: BamHeader, raw: Iterable[bytes]) -> Iterator[str]:
    """SAM text lines (no newline) of raw BAM records, formatted by htslib as samtools does."""
    import pysam

    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []
    feeder = threading.Thread(target=_feed, args=(header, raw, write_fd, errors), name="bams3-sam-feed", daemon=True)
    feeder.start()
    try:
        with os.fdopen(read_fd, "rb") as pipe, pysam.AlignmentFile(pipe, "rb", check_sq=False) as bam:
            for record in bam:
                yield record.to_string()
    finally:
        feeder.join()
        if errors:
            raise errors[0]


def write_sam(header: BamHeader, raw: Iterable[bytes], out: IO[str], *, with_header: bool) -> int:
    """Write SAM text (optionally the header first) to ``out``; return the records written."""
    if with_header:
        out.write(header.text if header.text.endswith("\n") or not header.text else header.text + "\n")
    n = 0
    for line in sam_lines(header, raw):
        out.write(line)
        out.write("\n")
        n += 1
    return n


def write_sam_file(header: BamHeader, raw: Iterable[bytes], output: str) -> int:
    """Write a SAM file (header, then records) at ``output`` (local path or ``s3://`` URL), atomically."""
    import io

    from ..io import open_url

    store, key = open_url(output)
    with store.open_write(key) as out:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="\n")  # type: ignore[arg-type]
        n = write_sam(header, raw, text, with_header=True)
        text.flush()
        text.detach()  # the object is committed by the ``with``, not by closing the wrapper
    return n


def raw_records(batches: Iterable[RecordBatch], *, limit: int | None = None) -> Iterator[bytes]:
    """The raw bytes of the records of ``batches``, only the first ``limit`` when given."""
    left = limit
    for batch in batches:
        if left is not None:
            if left <= 0:
                return
            batch = batch[:left]
            left -= len(batch)
        yield batch.raw_bytes()
