"""``--include`` / ``--exclude``: which relative paths a sync considers.

Semantics are those of ``aws s3 sync``, which is what people moving BAMs to S3 already
know: every path starts included, the rules apply in the order given, and the last rule
that matches decides. Patterns are shell globs matched against the whole path relative to
the sync root (``/`` separators on every platform), and ``*`` crosses ``/``, so
``--exclude '*.bai'`` drops index files at any depth and ``--exclude 'tmp/*'`` drops the
``tmp`` folder at the root only. Matching is case-sensitive, like S3 keys.

``--delete`` honours the same rules: a destination object the filters exclude is never
deleted (it is outside what this sync manages).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import translate
from functools import cached_property
from typing import Literal

__all__ = ["FilterRule", "PathFilter"]

RuleKind = Literal["include", "exclude"]


@dataclass(frozen=True)
class FilterRule:
    """One ``--include`` or ``--exclude`` pattern."""

    kind: RuleKind
    pattern: str

    def __post_init__(self) -> None:
        if self.kind not in ("include", "exclude"):
            raise ValueError(f"filter kind must be 'include' or 'exclude', got {self.kind!r}")
        if not self.pattern:
            raise ValueError(f"empty --{self.kind} pattern")

    def to_dict(self) -> dict[str, str]:
        return {self.kind: self.pattern}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> FilterRule:
        if not isinstance(data, dict) or len(data) != 1:
            raise ValueError(f"a filter rule is {{'include': PATTERN}} or {{'exclude': PATTERN}}, got {data!r}")
        ((kind, pattern),) = data.items()
        return cls(kind, pattern)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PathFilter:
    """An ordered list of rules; ``PathFilter()`` includes everything.

    Examples
    --------
    >>> f = PathFilter((FilterRule("exclude", "*"), FilterRule("include", "*.bam")))
    >>> f.matches("s1/a.bam"), f.matches("s1/a.bam.bai")
    (True, False)
    """

    rules: tuple[FilterRule, ...] = ()

    @cached_property
    def _compiled(self) -> tuple[tuple[bool, re.Pattern[str]], ...]:
        return tuple((rule.kind == "include", re.compile(translate(rule.pattern))) for rule in self.rules)

    def matches(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated) is part of the sync."""
        included = True
        for include, regex in self._compiled:
            if regex.match(path):
                included = include
        return included

    def to_list(self) -> list[dict[str, str]]:
        return [rule.to_dict() for rule in self.rules]

    @classmethod
    def from_list(cls, data: list[dict[str, str]]) -> PathFilter:
        return cls(tuple(FilterRule.from_dict(item) for item in data))
