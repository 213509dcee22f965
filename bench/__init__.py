"""bams3's benchmark harness: realistic data, side-by-side runs against samtools, Markdown tables.

Run ``python -m bench --help`` from the repository root (``make bench`` does). The layout:

- :mod:`bench.datagen`  the cached "realistic BAM" (``python -m bench data``);
- :mod:`bench.runner`   runs commands repeatedly, measuring wall time and peak RSS per child;
- :mod:`bench.report`   Markdown tables, the marked sections of docs/BENCHMARKS.md, JSON results;
- :mod:`bench.machine`  what the numbers were measured on;
- :mod:`bench.registry` one entry per benchmark (``flagstat`` is :mod:`bench.flagstat`).

Benchmarks are not tests: nothing here asserts a time. A benchmark does fail loudly when the
tools disagree on the output, because a fast wrong answer is not a result.
"""
