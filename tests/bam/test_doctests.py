"""The examples in bams3.bam's docstrings run and hold."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["bgzf", "bgzf_writer", "bai", "records", "reader", "header", "flagstat"]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(f"bams3.bam.{module}")
    failed, attempted = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert failed == 0
    if module in ("bgzf", "bgzf_writer", "bai"):
        assert attempted > 0
