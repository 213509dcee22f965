"""Build the small C helpers: the BAM record walker and BGZF inflate (src/bams3/bam/_walk.c),
per-chunk statistics (src/bams3/chunks/_reduce.c; both read the record row layout of
src/bams3/bam/_record_fields.h), and the hot loops of BAMS3 format v2
(src/bams3/dataset/_v2_codec.c).

Everything else about the package lives in pyproject.toml; setuptools still needs
setup.py to declare a C extension.

libdeflate: when its header and library are found (Debian: libdeflate-dev), the helper
is built with ``-DBAMS3_HAVE_LIBDEFLATE -ldeflate`` and inflates whole runs of BGZF
blocks straight into the reader's buffers, in one call with the GIL released. Without
it the helper still builds and bams3 inflates block by block through the ``deflate``
package: same results, one Python call and one copy per block (measured on Debian 12
about as fast on one thread all the same: the wheel bundles a newer libdeflate, ~8%
faster than Debian's 1.14). ``BAMS3_LIBDEFLATE=0`` forces the fallback build (to test
it), ``BAMS3_LIBDEFLATE=1`` makes a missing libdeflate an error.
"""
from __future__ import annotations

import os
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, LinkError

_PROBE = """
#include <libdeflate.h>
int main(void) {
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    unsigned crc = libdeflate_crc32(0, "", 0);
    libdeflate_free_decompressor(d);
    return (int)(crc & 0);
}
"""


def _have_libdeflate(compiler: object) -> bool:
    """Whether a program including libdeflate.h compiles and links with -ldeflate."""
    with tempfile.TemporaryDirectory(prefix="bams3-probe-") as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w", encoding="ascii") as f:
            f.write(_PROBE)
        try:
            objects = compiler.compile([source], output_dir=tmp)  # type: ignore[attr-defined]
            compiler.link_executable(objects, "probe", output_dir=tmp, libraries=["deflate"])  # type: ignore[attr-defined]
        except (CompileError, LinkError):  # not there (or not usable): build without it
            return False
    return True


class BuildExt(build_ext):
    """build_ext that links libdeflate into bams3.bam._walk when it is available."""

    def build_extensions(self) -> None:
        wanted = os.environ.get("BAMS3_LIBDEFLATE", "auto").strip().lower()
        if wanted not in ("auto", "0", "1"):
            raise SystemExit(f"BAMS3_LIBDEFLATE must be auto, 0 or 1, not {wanted!r}")
        use = wanted != "0" and _have_libdeflate(self.compiler)
        if wanted == "1" and not use:
            raise SystemExit("BAMS3_LIBDEFLATE=1 but libdeflate.h / -ldeflate were not found (Debian: libdeflate-dev)")
        for ext in self.extensions:
            if use and ext.name == "bams3.bam._walk":
                ext.define_macros.append(("BAMS3_HAVE_LIBDEFLATE", "1"))
                ext.libraries.append("deflate")
        super().build_extensions()


#: the record row layout shared by _walk.c and _reduce.c
_ROW_HEADER = "src/bams3/bam/_record_fields.h"

setup(
    ext_modules=[
        Extension(
            "bams3.bam._walk",
            sources=["src/bams3/bam/_walk.c"],
            depends=[_ROW_HEADER],
            extra_compile_args=["-O3", "-std=c99"],
        ),
        Extension(
            "bams3.chunks._reduce",
            sources=["src/bams3/chunks/_reduce.c"],
            depends=[_ROW_HEADER],
            include_dirs=["src/bams3/bam"],
            extra_compile_args=["-O3", "-std=c99"],
        ),
        # BAMS3 format v2: span gather/scatter, aux parsing and the quality range coder
        Extension(
            "bams3.dataset._v2_codec",
            sources=["src/bams3/dataset/_v2_codec.c"],
            extra_compile_args=["-O3", "-std=c99"],
        ),
    ],
    cmdclass={"build_ext": BuildExt},
)
