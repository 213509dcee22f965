# The image every AWS Batch job of profiles/aws-batch runs in: bams3 with snakemake, the S3 storage plugin and
# both executor plugins, installed the way `make` installs them (pip, from this source tree, C helper built
# with libdeflate). Build it from the repository root, push it where Batch can pull it, and tag it with the
# name profiles/aws-batch names (tests/scale/test_docker.py keeps the two and pyproject's version in step):
#
#   docker build -t bams3:0.1.0 .
#   docker tag bams3:0.1.0 $BAMS3_REGISTRY/bams3:0.1.0 && docker push $BAMS3_REGISTRY/bams3:0.1.0
#
# The jobs get the workflow itself (Snakefile, rules, scripts, envs) from S3, where Snakemake uploads the
# sources of each run; the image only provides the software. No conda: rules' `conda:` is not used there.

# --- build: wheels of bams3 (with its C helper) and of every dependency --------------------------------------
FROM python:3.11-slim-bookworm AS build
# gcc and libc headers for src/bams3/bam/_walk.c; libdeflate-dev for its fast inflate path (setup.py)
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libdeflate-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# exactly what `pip install .` reads (.dockerignore keeps everything else out of the build context)
COPY pyproject.toml setup.py README.md LICENSE ./
COPY src ./src
RUN BAMS3_LIBDEFLATE=1 pip wheel --no-cache-dir --wheel-dir /wheels '.[slurm,aws-batch]'

# --- runtime: the wheels, no compiler ------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="bams3" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.description="bams3 workflow jobs: huge BAMs in S3 without downloading them"
# the shared library the C helper was linked against
RUN apt-get update \
    && apt-get install -y --no-install-recommends libdeflate0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'bams3[slurm,aws-batch]' \
    && rm -rf /wheels \
    && python -c "import bams3.bam._walk, snakemake, snakemake_storage_plugin_s3, snakemake_executor_plugin_aws_batch" \
    && bams3 --version
# progress as log lines (a Batch job has no terminal); the jobs' working directory
ENV BAMS3_PROGRESS=log
WORKDIR /work
