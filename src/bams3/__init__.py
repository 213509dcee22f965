"""bams3: huge BAM files in S3 without downloading them.

The package is a library first; the ``bams3`` command line (:mod:`bams3.cli`), the
Snakemake workflow (``workflow/``) and the handlers (:mod:`bams3.handlers`) are thin
layers over it. Submodules are imported lazily by their users so that a command only
pays for what it needs (``import bams3`` itself imports nothing heavy).
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
