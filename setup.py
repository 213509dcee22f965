"""Build the small C helper that walks BAM records (see src/bams3/bam/_walk.c).

Everything else about the package lives in pyproject.toml; setuptools still needs
setup.py to declare a C extension.
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "bams3.bam._walk",
            sources=["src/bams3/bam/_walk.c"],
            extra_compile_args=["-O3"],
        )
    ]
)
