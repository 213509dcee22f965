"""The benchmark data set: a "realistic BAM" made from a synthetic genome, cached by its parameters.

See :mod:`bench.datagen.pipeline` for the recipe (ART reads, minimap2, fixmate, sort, markdup,
index) and :mod:`bench.datagen.reference` for the genome. ``python -m bench data`` makes it.
"""
from __future__ import annotations

from .pipeline import Dataset, DatasetSpec, ensure_dataset

__all__ = ["Dataset", "DatasetSpec", "ensure_dataset"]
