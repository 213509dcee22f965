"""Object access: local disk, ``file://``, ``s3://`` and ``http(s)://`` behind one store API.

Everything else in bams3 touches bytes through this package: ranged reads of BAMs and
indexes, resumable read-ahead streams, atomic and conditional writes, multipart
uploads, listings, copies, resumable downloads. It depends on nothing of the project
but :mod:`bams3.errors`, and importing it is cheap: botocore is imported when the first
``s3://`` URL is opened, urllib3 with the first ``http(s)://`` one.

Layout
------
``store``       the :class:`Store` protocol, :class:`ObjectInfo`, writers, generic helpers
``urls``        :func:`open_store` / :func:`open_url` dispatch and single-URL conveniences
``ranges``      byte-range requests and the range-coalescing planner
``retry``       :class:`RetryPolicy`, :class:`~bams3.io.retry.Timeouts`, the retry loop
``multipart``   S3 part sizing (grows with the object, within S3's limits)
``metrics``     :data:`~bams3.io.metrics.IO_STATS`, request/byte accounting
``redact``      :func:`redact` / :func:`redact_text`: no secret in any message
``keys``        key validation (no escaping the store's root)
``localfiles``  :func:`~bams3.io.localfiles.atomic_path` / ``atomic_dir`` / ``write_text_atomic``:
                all-or-nothing local files for writers that need a path of their own
``_local``, ``_s3``, ``_http``, ``_memory``  the backends; ``_remote`` and ``_stream`` are
what the HTTP-based backends share (checked, resumable ranged reads).

Why retries and accounting live inside the backends rather than in wrapper stores:
they apply per HTTP request, and one store call can be many requests (a stream's
blocks, a multipart upload's parts, a listing's pages, a resumed body); a wrapper
around the store API would count calls, not requests, and could only retry whole
calls. They are still written once: :func:`bams3.io.retry.call_with_retries` and
:meth:`bams3.io._remote.RemoteStore._read_resuming`.
"""
from __future__ import annotations

from .metrics import IO_STATS, IoStats, OpCounts
from .ranges import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from .redact import redact, redact_text
from .retry import RetryPolicy, Timeouts
from .store import ObjectInfo, ObjectWriter, PutMode, Store
from .urls import open_input, open_store, open_url, read_range, stat, url_scheme

__all__ = [
    "ObjectInfo",
    "Store",
    "ObjectWriter",
    "PutMode",
    "open_store",
    "open_url",
    "stat",
    "read_range",
    "open_input",
    "url_scheme",
    "redact",
    "redact_text",
    "RetryPolicy",
    "Timeouts",
    "ByteRequest",
    "RangeByteRequest",
    "OffsetByteRequest",
    "SuffixByteRequest",
    "IO_STATS",
    "IoStats",
    "OpCounts",
]
