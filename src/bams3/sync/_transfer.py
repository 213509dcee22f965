"""Moving one object, and proving two objects hold the same bytes.

Every write goes through :mod:`bams3.io`, which never leaves a partial object under the
final name (local files are renamed into place, S3 multipart uploads are completed only
when every part is in, and aborted otherwise). So a sync that dies half-way leaves each
destination object either as it was or complete, and a rerun finishes the job: that is
the whole of "nothing is ever lost".

Which io call moves the bytes:

- to a local folder from S3: :meth:`Store.get_file`, resumable (a rerun continues an
  interrupted download where it stopped);
- S3 to S3 on one endpoint: :meth:`Store.copy_to`, a server-side copy (no object bytes
  through this machine);
- local to local: :meth:`Store.copy_to` (a file copy renamed into place);
- local to S3: :meth:`Store.put_file`, one PUT, or a multipart upload above one part
  (``part_size``) whose parts are read from the file by the threads that send them.

A local copy gets the source's modification time, so that the default size-and-time rule
finds it unchanged on the next run.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Bams3Error, IntegrityError

if TYPE_CHECKING:
    from ..io import ObjectInfo, Store

__all__ = ["copy_object", "same_content"]

#: a single-part S3 ETag is the hex MD5 of the content (multipart ones end in "-<parts>")
_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
_HASH_BLOCK = 8 * 1024 * 1024
_COPY_BLOCK = 8 * 1024 * 1024


def _local_file(store: Store, key: str) -> Path | None:
    """The path of ``key`` when ``store`` is a local folder, else None."""
    if store.scheme != "file":
        return None
    return store.path_of(key)  # type: ignore[attr-defined,no-any-return]


def _stream_copy(src: Store, info: ObjectInfo, dst: Store, dst_key: str, *, part_size: int | None) -> ObjectInfo:
    """Read ``info`` as a stream into a writer that commits only complete (multipart above one part)."""
    with src.open_read(info.key) as reader, dst.open_write(dst_key, part_size=part_size, size_hint=info.size) as writer:
        while block := reader.read(_COPY_BLOCK):
            writer.write(block)
        if writer.tell() != info.size:
            raise IntegrityError(f"{info.url}: read {writer.tell()} bytes, expected {info.size}; "
                                 "the source changed during the copy")
    assert writer.info is not None
    return writer.info


def copy_object(src: Store, info: ObjectInfo, dst: Store, dst_key: str, *, part_size: int | None = None) -> ObjectInfo:
    """Copy the object ``info`` describes from ``src`` to ``dst_key`` in ``dst``, and check it arrived.

    Parameters
    ----------
    part_size
        Multipart part size for uploads streamed through this machine (None: io's
        choice). Server-side S3 copies choose their own.

    Returns
    -------
    ObjectInfo
        The destination object, as a fresh stat sees it.

    Raises
    ------
    bams3.errors.IntegrityError
        The destination does not hold exactly ``info.size`` bytes afterwards.
    bams3.errors.Bams3Error
        Whatever :mod:`bams3.io` raises (missing source, access denied, retries exhausted).
    """
    target = _local_file(dst, dst_key)
    source_file = _local_file(src, info.key)
    stored: ObjectInfo | None = None
    try:
        if target is not None and src.scheme != "file":
            # ``info`` (from the listing or a fresh stat) pins the download to the version the
            # decision was made on, and spares a metadata request
            src.get_file(info.key, target, resume=True, info=info)
        elif src.scheme == dst.scheme == "s3" or target is not None:
            stored = src.copy_to(info.key, dst, dst_key)
        elif source_file is not None:
            # parts are read from the file by the threads that send them: memory stays bounded
            if os.stat(source_file).st_size != info.size:
                raise IntegrityError(f"{info.url}: the file changed size since it was listed "
                                     f"({info.size} bytes then); sync again")
            stored = dst.put_file(dst_key, source_file, part_size=part_size)
            if stored.size != info.size:
                raise IntegrityError(f"{info.url}: uploaded {stored.size} bytes, expected {info.size}; "
                                     "the source changed during the copy")
        else:
            stored = _stream_copy(src, info, dst, dst_key, part_size=part_size)
        if target is not None and info.mtime is not None:
            os.utime(target, (info.mtime, info.mtime))
    except Bams3Error:
        raise
    except OSError as exc:  # local disk trouble: say which object, in one line, without temp names
        raise Bams3Error(f"{dst.key_url(dst_key)}: cannot write: {exc.strerror or exc}") from exc
    # an S3 write is trusted only once the server showed it holds every byte (io checks the
    # ETag against the MD5, or HEADs the object): asking again would only repeat that
    written = stored if stored is not None and dst.scheme == "s3" else dst.stat(dst_key)
    if written is None or written.size != info.size:
        found = "nothing" if written is None else f"{written.size} bytes"
        raise IntegrityError(f"{dst.key_url(dst_key)}: holds {found} after the copy, expected {info.size} "
                             f"bytes from {info.url}")
    return written


def _md5(store: Store, info: ObjectInfo) -> str:
    """Hex MD5 of an object: from a single-part S3 ETag when there is one, else read and hashed."""
    if store.scheme == "s3" and info.etag:
        match = _MD5_ETAG.match(info.etag)
        if match:
            return match.group(1).lower()
    digest = hashlib.md5(usedforsecurity=False)
    with store.open_read(info.key) as stream:
        while block := stream.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def same_content(src: Store, src_info: ObjectInfo, dst: Store, dst_info: ObjectInfo) -> bool:
    """Whether two objects hold the same bytes, reading as little as possible.

    Equal S3 ETags prove equal content (even multipart ones: the same parts in the same
    order). Otherwise MD5s are compared, taken from single-part ETags or computed by
    reading. An S3 ETag that is not an MD5 (SSE-KMS) only makes equal objects look
    different, which costs a copy, never a loss.
    """
    if src_info.size != dst_info.size:
        return False
    if src.scheme == dst.scheme == "s3" and src_info.etag and src_info.etag == dst_info.etag:
        return True
    return _md5(src, src_info) == _md5(dst, dst_info)
