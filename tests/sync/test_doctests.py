"""The examples in the sync and jsondocs docstrings are true."""
from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["bams3.sync._pack", "bams3.sync._filters", "bams3.jsondocs"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
