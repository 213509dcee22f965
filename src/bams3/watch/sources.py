"""Listing the sources: which BAMs are there now, with their versions and indexes.

A listing is read-only and knows nothing of the cursor beyond the set of BAMs it may
skip asking about (those already processed). Each :class:`Candidate` carries the BAM's
real URL (a signed URL keeps its signature: the run needs it) and its redacted URL,
which is the BAM's identity in the cursor, so no secret is ever stored and a re-signed
URL is still the same BAM.

Indexes are looked for where the workflow looks for them, in this order: ``X.bam.bai``,
``X.bam.csi``, ``X.bai``, ``X.csi``. In a folder source they come from the same listing
(no extra request); for BAMs named by URL they are asked for with one ``stat`` each
until one is found, except for signed HTTPS URLs, whose index cannot be guessed.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import Bams3Error, ConfigError
from ..io.redact import redact
from .settings import Source, UrlEntry
from .state import Seen, Version

if TYPE_CHECKING:
    from ..io import ObjectInfo

__all__ = ["Candidate", "Listing", "list_source", "glob_matcher", "sample_name", "index_candidates"]

log = logging.getLogger(__name__)

#: stats of BAMs named by URL done at once
STAT_CONCURRENCY = 16
_SAMPLE_OK = re.compile(r"[^A-Za-z0-9_.-]")
_SHEET_UNSAFE = re.compile(r"[\t\r\n#]")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One BAM a listing found.

    Attributes
    ----------
    url
        The URL to hand to the run (may hold a signature: never log or store it).
    key
        The redacted URL: the BAM's identity in the cursor.
    sample
        The sample name for the run's sheet.
    seen
        Its version and its index's.
    index_url
        The index's real URL, if one was found.
    """

    url: str
    key: str
    sample: str
    seen: Seen
    index_url: str | None = None

    @property
    def index_key(self) -> str | None:
        """The index's redacted URL (what the cursor records)."""
        return None if self.index_url is None else redact(self.index_url)


@dataclass(frozen=True, slots=True)
class Listing:
    """What one source holds now, or why it could not be listed (then its items are left as they are)."""

    source: str
    candidates: tuple[Candidate, ...] = ()
    error: str | None = None


def sample_name(url: str) -> str:
    """The sample name of a BAM: its file name without ``.bam``, with characters a sample
    name cannot hold (and a leading ``.``) replaced by ``_``.

    >>> sample_name("s3://lab/incoming/NA12878.bam"), sample_name("/data/run 7/a+b.bam")
    ('NA12878', 'a_b')
    """
    path = urlsplit(url).path if "://" in url else url
    name = os.path.basename(path)
    name = name[: -len(".bam")] if name.endswith(".bam") and len(name) > len(".bam") else name
    name = _SAMPLE_OK.sub("_", name)
    return "_" + name[1:] if name.startswith(".") else name


def index_candidates(bam: str) -> list[str]:
    """Where an index of ``bam`` (a key or a URL without query) may be, in the order looked at."""
    found = [bam + ".bai", bam + ".csi"]
    if bam.endswith(".bam"):
        found += [bam[:-4] + ".bai", bam[:-4] + ".csi"]
    return found


@lru_cache(maxsize=64)
def glob_matcher(pattern: str) -> re.Pattern[str]:
    """A regex for a shell glob over ``/``-separated keys.

    ``*`` and ``?`` match within one level and never a leading ``.`` (so the hidden
    temporary files of rsync and other copiers are not taken for BAMs); ``**/`` matches
    zero or more whole levels; ``[...]`` is a character class.

    >>> bool(glob_matcher("*.bam").match("a.bam")), bool(glob_matcher("*.bam").match("x/a.bam"))
    (True, False)
    >>> bool(glob_matcher("**/*.bam").match("x/y/a.bam")), bool(glob_matcher("*.bam").match(".a.bam"))
    (True, False)
    """
    out: list[str] = []
    i = 0
    at_level_start = True
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append(r"(?:[^/.][^/]*/)*")
            i += 3
            continue
        if pattern.startswith("**", i) and i + 2 == len(pattern):
            out.append(r"(?:[^/.][^/]*(?:/[^/.][^/]*)*)?")
            i += 2
            continue
        if char in "*?":
            out.append("(?!\\.)" if at_level_start else "")
            out.append("[^/]*" if char == "*" else "[^/]")
        elif char == "[" and (end := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        else:
            out.append(re.escape(char))
        at_level_start = char == "/"
        i += 1
    return re.compile("".join(out) + r"\Z")


def _version(info: ObjectInfo) -> Version:
    return Version(info.size, info.etag, info.mtime)


def _list_folder(source: Source) -> tuple[Candidate, ...]:
    from ..io import open_store

    assert source.folder is not None
    store = open_store(source.folder)
    if store.scheme == "file" and not Path(store.root).is_dir():  # type: ignore[attr-defined]
        raise ConfigError(f"{store.url}: no such folder")
    matcher = glob_matcher(source.pattern)
    recursive = "/" in source.pattern
    objects = {info.key: info for info in store.list("", recursive=recursive)}
    found = []
    for key, info in objects.items():
        if not matcher.match(key):
            continue
        index = next((objects[k] for k in index_candidates(key) if k in objects), None)
        url = store.key_url(key)
        found.append(Candidate(
            url=url, key=redact(url), sample=sample_name(key),
            seen=Seen(_version(info), None if index is None else _version(index)),
            index_url=None if index is None else store.key_url(index.key),
        ))
    return tuple(found)


def _read_url_list(path: str) -> list[UrlEntry]:
    from ..io import open_url

    store, key = open_url(path)
    data = store.get(key)
    if data is None:
        raise ConfigError(f"{redact(path)}: no such URL list")
    entries = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        words = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else []
        if not words:
            continue
        if len(words) > 2:
            raise ConfigError(f"{redact(path)} line {number}: expected a BAM URL and optionally its index URL")
        entries.append(UrlEntry(words[0], words[1] if len(words) == 2 else None))
    return entries


def _stat(url: str) -> Version | None:
    from ..io import open_url

    store, key = open_url(url)
    info = store.stat(key)
    return None if info is None else _version(info)


def _guessable(url: str) -> bool:
    """Whether an index URL can be made from ``url`` (not for signed URLs)."""
    return "?" not in url


def _absolute(url: str | None) -> str | None:
    """Local paths made absolute (a run may start in another folder); URLs unchanged."""
    return os.path.abspath(url) if url is not None and "://" not in url else url


def _check_entry(entry: UrlEntry) -> Candidate | None:
    """The candidate for one named BAM, or None if it is not there (yet)."""
    entry = UrlEntry(_absolute(entry.bam) or entry.bam, _absolute(entry.index), entry.sample)
    bam = _stat(entry.bam)
    if bam is None:
        log.debug("listed BAM %s is not there (yet)", redact(entry.bam))
        return None
    index_url, index = entry.index, None
    if index_url is not None:
        index = _stat(index_url)
        index_url = index_url if index is not None else None
    elif _guessable(entry.bam):
        for candidate in index_candidates(entry.bam):
            index = _stat(candidate)
            if index is not None:
                index_url = candidate
                break
    return Candidate(url=entry.bam, key=redact(entry.bam), sample=entry.sample or sample_name(entry.bam),
                     seen=Seen(bam, index), index_url=index_url)


def _list_urls(source: Source, skip: Collection[str]) -> tuple[Candidate, ...]:
    entries = list(source.urls)
    if source.url_list is not None:
        entries += _read_url_list(source.url_list)
    todo = [e for e in dict.fromkeys(entries) if redact(e.bam) not in skip]
    if not todo:
        return ()

    def check(entry: UrlEntry) -> Candidate | None:
        try:
            return _check_entry(entry)
        except Bams3Error as exc:  # one unreadable URL (expired signature...) does not hide the others
            log.warning("watch source %s: %s", source.name, exc)
            return None

    with ThreadPoolExecutor(max_workers=min(STAT_CONCURRENCY, len(todo)), thread_name_prefix="bams3-watch") as pool:
        return tuple(c for c in pool.map(check, todo) if c is not None)


def list_source(source: Source, *, skip: Collection[str] = ()) -> Listing:
    """What ``source`` holds now.

    Parameters
    ----------
    skip
        Redacted BAM URLs not to ask about (BAMs named by URL that are already
        processed: a list of thousands of done BAMs then costs no request per tick).
        Folder listings always see every object (it costs nothing extra).

    Returns
    -------
    Listing
        With ``error`` set (and no candidates) when the source could not be listed: a
        missing bucket, a 403, a network failure that outlived its retries.
    """
    try:
        found = _list_folder(source) if source.folder is not None else _list_urls(source, skip)
    except Bams3Error as exc:
        return Listing(source.name, error=str(exc))
    return Listing(source.name, tuple(c for c in found if _fits_a_sheet(c, source.name)))


def _fits_a_sheet(candidate: Candidate, source: str) -> bool:
    """Whether the BAM's URLs can go into a samples sheet (tab-separated, ``#`` starts a comment)."""
    if any(_SHEET_UNSAFE.search(u) for u in (candidate.url, candidate.index_url or "")):
        log.warning("watch source %s: skipping %s: a tab, line break or '#' in its path cannot go into a "
                    "samples sheet; rename it", source, candidate.key)
        return False
    return True


def list_sources(sources: Iterable[Source], *, skip: Collection[str] = ()) -> list[Listing]:
    """:func:`list_source` of each source, in order."""
    return [list_source(source, skip=skip) for source in sources]
