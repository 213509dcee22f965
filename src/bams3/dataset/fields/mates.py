"""Read names and mate fields, modelled within a block: a pair's second read repeats little.

Names: in a coordinate-sorted BAM both reads of a pair (and secondary or supplementary alignments)
carry the same name, usually a few records apart. A record whose name equals an earlier record's in
the same block stores only the distance back to the latest such record (its *name link*); other
names are stored in full, concatenated.

Mates: the *mate* of record j is the latest earlier primary record of the block with the same name
and the other segment bit (READ1 <-> READ2). When it exists, j's ``next_ref_id``, ``next_pos`` and
``tlen`` are predicted as the mate's ``ref_id``, ``pos`` and ``-tlen``; otherwise as j's own
``ref_id``, j's own ``pos`` and the template length the positions imply (``next_pos + span - pos``
to the right, ``next_pos - end`` to the left). Only the differences from the predictions are stored
(int32, wrapping), which are zero for almost every proper pair, so the writer and the reader never
disagree whatever the input holds: a prediction is only a guess that the residual corrects.

Everything is vectorised over the block: names are grouped by a C hash table and mates found with one
sort and one ``searchsorted``; resolving template lengths follows chains of mates (a record's mate
having a mate of its own), one vectorised pass per link, which is one pass for ordinary pairs.
"""
from __future__ import annotations

import numpy as np

from .columns import offsets_of

__all__ = ["name_ids", "name_links", "names_from_links", "find_mates", "mate_residuals", "mates_from_residuals"]

_SECONDARY_OR_SUPPLEMENTARY = 0x100 | 0x800


def name_ids(names: bytes, lengths: np.ndarray) -> np.ndarray:
    """A small integer per record, equal for equal names (int64; in C, numbered by first appearance)."""
    from .. import _v2_codec

    return np.frombuffer(_v2_codec.name_ids(names, np.ascontiguousarray(lengths, dtype=np.int64)), dtype=np.int64)


def name_links(ids: np.ndarray) -> np.ndarray:
    """Per record, how many records back the latest earlier record with the same name is (0: none)."""
    n = len(ids)
    links = np.zeros(n, dtype=np.int64)
    if n < 2:
        return links
    order = np.argsort(ids, kind="stable")
    same = ids[order[1:]] == ids[order[:-1]]
    links[order[1:][same]] = order[1:][same] - order[:-1][same]
    return links


def names_from_links(links: np.ndarray, new_lengths: np.ndarray, new_names: bytes) -> tuple[bytes, np.ndarray]:
    """Every record's name (concatenated) and length, from name links and the new names.

    Raises
    ------
    ValueError
        A link that points before the block or at nothing, or new names that do not fit.
    """
    n = len(links)
    links = np.asarray(links, dtype=np.int64)
    index = np.arange(n)
    source = index - links
    new = links == 0
    if np.any(links < 0) or np.any(source < 0) or int(new.sum()) != len(new_lengths):
        raise ValueError("name links do not fit the block")
    # follow links back to the record that holds the name: a link always points backwards, so
    # repeating source = source[source] reaches a fixed point in log2(chain length) passes
    while True:
        nxt = source[source]
        if np.array_equal(nxt, source):
            break
        source = nxt
    if not np.all(new[source]):  # pragma: no cover - unreachable: links point strictly backwards
        raise ValueError("name links do not fit the block")
    rank = np.cumsum(new) - 1  # which new name a record that holds one holds
    new_lengths = np.asarray(new_lengths, dtype=np.int64)
    if int(new_lengths.sum()) != len(new_names):
        raise ValueError("new names do not fit their lengths")
    lengths = new_lengths[rank[source]]
    starts = offsets_of(new_lengths)[rank[source]]
    from .. import _v2_codec

    return _v2_codec.gather(new_names, starts, lengths), lengths


def find_mates(ids: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """Per record, the index of its mate in the block (see the module docstring), or -1."""
    n = len(ids)
    mates = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return mates
    flag = np.asarray(flag).astype(np.int64)
    segment = (flag >> 6) & 3
    other = ((segment & 1) << 1) | (segment >> 1)
    candidates = np.flatnonzero((flag & _SECONDARY_OR_SUPPLEMENTARY) == 0)
    if len(candidates) == 0:
        return mates
    span = n + 1
    keys = (ids[candidates] * 4 + segment[candidates]) * span + candidates
    keys.sort()
    wanted = ids * 4 + other
    found = np.searchsorted(keys, wanted * span + np.arange(n), side="left") - 1
    ok = found >= 0
    hit = np.zeros(n, dtype=bool)
    hit[ok] = keys[found[ok]] // span == wanted[ok]
    mates[hit] = keys[found[hit]] % span
    return mates


def _tlen_guess(pos: np.ndarray, end: np.ndarray, next_pos: np.ndarray) -> np.ndarray:
    """The template length positions imply for a mate that is not in the block (int64)."""
    pos, end, next_pos = (np.asarray(a, dtype=np.int64) for a in (pos, end, next_pos))
    right = next_pos + (end - pos) - pos
    left = next_pos - end
    return np.where(next_pos > pos, right, np.where(next_pos < pos, left, 0))


def _wrap32(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).astype(np.uint32).view(np.int32)


def mate_residuals(mates: np.ndarray, ref_id: np.ndarray, pos: np.ndarray, end: np.ndarray,
                   next_ref_id: np.ndarray, next_pos: np.ndarray, tlen: np.ndarray) -> tuple[np.ndarray, ...]:
    """(next_ref_id, next_pos, tlen) minus their predictions, as wrapping int32 columns."""
    has = mates >= 0
    m = np.where(has, mates, 0)
    pos64 = pos.astype(np.int64)
    ref_pred = np.where(has, ref_id[m], ref_id).astype(np.int64)
    pos_pred = np.where(has, pos64[m], pos64)
    tlen_pred = np.where(has, -tlen.astype(np.int64)[m], _tlen_guess(pos, end, next_pos))
    return (_wrap32(next_ref_id.astype(np.int64) - ref_pred), _wrap32(next_pos.astype(np.int64) - pos_pred),
            _wrap32(tlen.astype(np.int64) - tlen_pred))


def mates_from_residuals(mates: np.ndarray, ref_id: np.ndarray, pos: np.ndarray, end: np.ndarray,
                         ref_residual: np.ndarray, pos_residual: np.ndarray,
                         tlen_residual: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(next_ref_id, next_pos, tlen) as int32: the inverse of :func:`mate_residuals`."""
    has = mates >= 0
    m = np.where(has, mates, 0)
    pos64 = pos.astype(np.int64)
    next_ref = _wrap32(np.where(has, ref_id[m], ref_id).astype(np.int64) + ref_residual)
    next_pos = _wrap32(np.where(has, pos64[m], pos64) + pos_residual)
    tlen = _wrap32(_tlen_guess(pos, end, next_pos) + tlen_residual)  # right for records without a mate
    done = ~has
    while not done.all():
        ready = ~done & done[m]
        if not ready.any():  # pragma: no cover - unreachable: mates point strictly backwards
            raise ValueError("mate links form a cycle")
        tlen[ready] = _wrap32(-tlen.astype(np.int64)[m[ready]] + tlen_residual[ready])
        done |= ready
    return next_ref, next_pos, tlen
