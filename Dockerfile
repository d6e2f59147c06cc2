# The vodforge image for AWS Batch (and any container host): Debian's ffmpeg, vodforge from
# this checkout, a non-root user. Its whole contract is `vodforge run-job <job id>`.
#
#   docker build -t vodforge .
#   docker run --rm -e VODFORGE_DATABASE_URL=... -e VODFORGE_STORAGE_URL=s3://... \
#       -e VODFORGE_INTERNAL_TOKEN=... -e VODFORGE_JOB_ID=<job id> vodforge
#
# The job definition's command ["vodforge", "run-job", "Ref::job_id"] replaces CMD (Batch and
# ECS override CMD, never ENTRYPOINT). That is why there is no ENTRYPOINT ["vodforge"]: with
# one, Batch would run `vodforge vodforge run-job <id>`.
FROM debian:trixie-slim

# Debian 13's ffmpeg (7.1) is built with libx264, the hls muxer and the filters the pipeline
# uses; `vodforge doctor` checks them in the running container.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends ca-certificates ffmpeg python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/vodforge/bin:$PATH

COPY pyproject.toml README.md /build/
COPY src /build/src
RUN python3 -m venv /opt/vodforge \
    && /opt/vodforge/bin/pip install /build \
    && rm -rf /build \
    && vodforge --version

# Scratch space (source, renditions) lives under the data dir; Batch gives each container a
# fresh filesystem, so nothing outlives the job.
RUN useradd --system --create-home --uid 10001 --shell /usr/sbin/nologin vodforge \
    && install -d -o vodforge -g vodforge /var/lib/vodforge
ENV VODFORGE_DATA_DIR=/var/lib/vodforge
USER vodforge
WORKDIR /home/vodforge

# Without arguments: the job id from VODFORGE_JOB_ID (SPEC §2).
CMD ["vodforge", "run-job"]
