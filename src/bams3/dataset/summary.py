"""``bams3 stats``: a dataset's statistics, from ``_metadata.json`` alone.

:func:`dataset_stats` builds a JSON-able dict (``bams3 stats --json``); :func:`format_stats`
turns it into the human summary. Both work on the metadata model only, so answering costs the
one GET that opened the dataset.
"""
from __future__ import annotations

from typing import Any

from ..units import format_bytes
from .metadata import DatasetMetadata

__all__ = ["dataset_stats", "format_stats"]


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def dataset_stats(metadata: DatasetMetadata, *, url: str, metadata_bytes: int | None = None) -> dict[str, Any]:
    """Every number ``bams3 stats`` shows, as a JSON-able dict."""
    t = metadata.totals
    genome = sum(r.length for r in metadata.header.references)
    total_bytes = t.stored_size + (metadata_bytes or 0)
    return {
        "dataset": url,
        "format": "bams3",
        "format_version": metadata.format_version,
        "run_id": metadata.run_id,
        "created_at": metadata.created_at,
        "created_by": metadata.created_by,
        "source": {"url": metadata.source_url, "size": metadata.source_size},
        "reads": {
            "total": t.records,
            "mapped": t.mapped,
            "mapped_percent": round(100.0 * t.mapped / t.records, 2) if t.records else None,
            "unmapped": t.unmapped,
            "unplaced": t.unplaced,
            "secondary": t.secondary,
            "supplementary": t.supplementary,
            "duplicates": t.duplicates,
            "qc_fail": t.qc_fail,
            "paired": t.paired,
            "proper_pair": t.proper_pair,
        },
        "bases": {
            "total": t.bases,
            "aligned": t.aligned_bases,
            "genome_length": genome,
            "mean_coverage": round(t.aligned_bases / genome, 3) if genome else None,
        },
        "structure": {
            "bin_size": metadata.bin_size,
            "chunks": t.chunks,
            "references": metadata.header.n_references,
            "codecs": [codec.to_dict() for codec in metadata.codecs],
            "compression": "; ".join(codec.describe() for codec in metadata.codecs),
        },
        "storage": {
            "chunk_bytes": t.stored_size,
            "metadata_bytes": metadata_bytes,
            "total_bytes": total_bytes,
            "raw_record_bytes": t.raw_size,
            "compression_ratio": _ratio(t.raw_size, t.stored_size),
            "size_vs_source": _ratio(total_bytes, metadata.source_size or 0),
        },
    }


def format_stats(stats: dict[str, Any]) -> str:
    """The human summary of :func:`dataset_stats`' output."""
    reads, bases, structure, storage = stats["reads"], stats["bases"], stats["structure"], stats["storage"]
    source = stats["source"]
    source_text = source["url"] + (f" ({format_bytes(source['size'])})" if source["size"] is not None else "")
    mapped = f"{reads['mapped']:,}"
    if reads["mapped_percent"] is not None:
        mapped += f" ({reads['mapped_percent']:.2f}%)"
    coverage = "n/a" if bases["mean_coverage"] is None else f"{bases['mean_coverage']:.2f}x"
    ratio = "n/a" if storage["compression_ratio"] is None else f"{storage['compression_ratio']:.2f}x"
    vs_source = "n/a" if storage["size_vs_source"] is None else f"{storage['size_vs_source']:.2f}x"
    lines = [
        f"BAMS3 dataset {stats['dataset']}",
        "",
        f"Format:            BAMS3 v{stats['format_version']} (run {stats['run_id']}, {stats['created_by']})",
        f"Source:            {source_text}",
        "",
        "Statistics:",
        f"  Total reads:     {reads['total']:,}",
        f"  Mapped reads:    {mapped}",
        f"  Unplaced reads:  {reads['unplaced']:,}",
        f"  Total bases:     {bases['total']:,}",
        f"  Mean coverage:   {coverage} over {bases['genome_length']:,} bp",
        "",
        "Structure:",
        f"  Chunk size:      {structure['bin_size']:,} bp",
        f"  Total chunks:    {structure['chunks']:,}",
        f"  Compression:     {structure['compression']}",
        "",
        "Storage:",
        f"  Total size:      {format_bytes(storage['total_bytes'])} ({storage['total_bytes']:,} bytes)",
        f"  Compression ratio: {ratio} vs raw records ({format_bytes(storage['raw_record_bytes'])})",
        f"  Size vs source:  {vs_source} the source BAM",
    ]
    return "\n".join(lines)
