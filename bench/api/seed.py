"""Bulk seeding of a product-shaped video table for the API benchmarks, in a few SQL statements.

Rows look like the product's: READY videos carry the package the pipeline publishes (four
renditions, poster, thumbnail, probe results) and a SUCCEEDED job with its QUEUED -> RUNNING ->
SUCCEEDED events; waiting videos are UPLOADED with a QUEUED job and its event; failed ones
have a FAILED job and the video's error. Ids are md5-derived UUIDs so that one
INSERT ... SELECT generate_series can link videos, jobs and events without a round trip per row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from vodforge.tenants.service import hash_api_key

TENANT = "md5('bench-api-tenant-' || {n})::uuid::text"
VIDEO = "md5('bench-api-video-' || i)::uuid::text"
JOB = "md5('bench-api-job-' || i)::uuid::text"
# Which of the tenants (1..tenants) owns video i, and its job's state: 5 in 100 wait, 1 in 100
# failed, the rest succeeded; two independent hashes, so every tenant gets the same mix.
OWNER = "1 + mod(abs(hashtext('owner' || i)), %(tenants)s)"
STATE = """CASE WHEN mod(abs(hashtext('state' || i)), 100) < 5 THEN 'QUEUED'
                WHEN mod(abs(hashtext('state' || i)), 100) = 5 THEN 'FAILED'
                ELSE 'SUCCEEDED' END"""

RENDITIONS = [  # name, width, height, peak and average bandwidth, codecs
    ("1080p", 1920, 1080, 5_500_000, 4_400_000, "avc1.640028,mp4a.40.2"),
    ("720p", 1280, 720, 3_300_000, 2_600_000, "avc1.64001f,mp4a.40.2"),
    ("480p", 854, 480, 1_600_000, 1_300_000, "avc1.64001e,mp4a.40.2"),
    ("360p", 640, 360, 900_000, 700_000, "avc1.64001e,mp4a.40.2"),
]
# The package work.py publishes, under the attempt's prefix `p`.
PACKAGE = """
json_build_object(
  'prefix', p, 'master', p || 'master.m3u8', 'poster', p || 'poster.jpg',
  'thumbnail', p || 'thumbnail.jpg', 'duration_s', 60 + i %% 3600,
  'renditions', json_build_array({renditions}))::text
""".format(
    renditions=", ".join(
        f"json_build_object('name', '{name}', 'width', {w}, 'height', {h}, 'fps', 30, "
        f"'bandwidth', {peak}, 'average_bandwidth', {avg}, 'codecs', '{codecs}', "
        f"'playlist', p || '{name}/index.m3u8')"
        for name, w, h, peak, avg, codecs in RENDITIONS
    )
)

PROBE = """
json_build_object('duration_s', 60 + i %% 3600, 'width', 1920, 'height', 1080, 'fps', 30,
  'video_codec', 'h264', 'audio_codec', 'aac', 'has_audio', true, 'rotation', 0)::text
"""


@dataclass(frozen=True)
class Seeded:
    api_key: str
    tenant_id: str
    video_ids: list[str]
    seconds: float


def seed(url: str, *, videos: int, tenants: int, api_key: str) -> Seeded:
    """`videos` videos over `tenants` tenants; tenant 1 is the one whose key is `api_key`."""
    started = time.perf_counter()
    params = {"videos": videos, "tenants": tenants}
    with psycopg.connect(url, autocommit=True) as conn:
        insert_tenants(conn, tenants, api_key)
        with conn.transaction():
            conn.execute("ALTER TABLE jobs DISABLE TRIGGER USER")  # events are written below
            conn.execute(videos_sql(), params)
            conn.execute(jobs_sql(), params)
            conn.execute(events_sql(), params)
            conn.execute("ALTER TABLE jobs ENABLE TRIGGER USER")
        conn.execute("VACUUM ANALYZE")
        tenant_id = conn.execute(f"SELECT {TENANT.format(n=1)}").fetchone()
        assert tenant_id is not None
        rows = conn.execute(
            "SELECT id FROM videos WHERE tenant_id = %s ORDER BY id", [tenant_id[0]]
        ).fetchall()
    return Seeded(api_key, tenant_id[0], [row[0] for row in rows], time.perf_counter() - started)


def insert_tenants(conn: psycopg.Connection, tenants: int, api_key: str) -> None:
    conn.execute(
        f"""
        INSERT INTO tenants (id, name, api_key_hash, created_at)
        SELECT {TENANT.format(n="t")}, 'bench-api-' || t,
               CASE WHEN t = 1 THEN %(hash)s ELSE md5('a' || t) || md5('b' || t) END,
               extract(epoch FROM now()) - 86400 * 365
        FROM generate_series(1, %(tenants)s) AS t
        """,
        {"tenants": tenants, "hash": hash_api_key(api_key)},
    )


def videos_sql() -> str:
    # Created over the last 60 days, oldest first; done 90 s after creation.
    return f"""
    INSERT INTO videos (id, tenant_id, title, status, source_key, source_bytes, probe,
                        duration_s, width, height, package, current_job_id, error_code,
                        error_message, created_at, updated_at)
    SELECT {VIDEO}, {TENANT.format(n=OWNER)}, 'lecture ' || i || '.mp4',
           CASE s WHEN 'QUEUED' THEN 'UPLOADED' WHEN 'FAILED' THEN 'FAILED' ELSE 'READY' END,
           'videos/' || {VIDEO} || '/source.mp4', 50000000 + i,
           CASE WHEN s = 'QUEUED' THEN NULL ELSE {PROBE} END,
           CASE WHEN s = 'QUEUED' THEN NULL ELSE 60 + i %% 3600 END,
           CASE WHEN s = 'QUEUED' THEN NULL ELSE 1920 END,
           CASE WHEN s = 'QUEUED' THEN NULL ELSE 1080 END,
           CASE WHEN s = 'SUCCEEDED' THEN {PACKAGE} END,
           {JOB},
           CASE WHEN s = 'FAILED' THEN 'NO_VIDEO_STREAM' END,
           CASE WHEN s = 'FAILED' THEN 'the file has no video stream' END,
           t0 + i * 50, t0 + i * 50 + CASE WHEN s = 'QUEUED' THEN 0 ELSE 90 END
    FROM generate_series(1, %(videos)s) AS i,
         LATERAL (SELECT {STATE} AS s, extract(epoch FROM now()) - 86400 * 60 AS t0,
                         'videos/' || {VIDEO} || '/attempts/' || {JOB} || '-1/' AS p) AS row_facts
    """


def jobs_sql() -> str:
    return f"""
    INSERT INTO jobs (id, video_id, tenant_id, state, priority, attempt_count, max_attempts,
                      cancel_requested, run_after, last_error_code, last_error_message,
                      transition_reason, transition_by, created_at, updated_at, finished_at)
    SELECT {JOB}, {VIDEO}, {TENANT.format(n=OWNER)}, s, 0,
           CASE WHEN s = 'QUEUED' THEN 0 ELSE 1 END, 5, false, t0 + i * 50,
           CASE WHEN s = 'FAILED' THEN 'NO_VIDEO_STREAM' END,
           CASE WHEN s = 'FAILED' THEN 'the file has no video stream' END,
           CASE s WHEN 'QUEUED' THEN 'uploaded' WHEN 'FAILED' THEN 'NO_VIDEO_STREAM'
                  ELSE 'completed' END,
           CASE WHEN s = 'QUEUED' THEN NULL ELSE 'bench-worker' END,
           t0 + i * 50, t0 + i * 50 + CASE WHEN s = 'QUEUED' THEN 0 ELSE 90 END,
           CASE WHEN s = 'QUEUED' THEN NULL ELSE t0 + i * 50 + 90 END
    FROM generate_series(1, %(videos)s) AS i,
         LATERAL (SELECT {STATE} AS s,
                  extract(epoch FROM now()) - 86400 * 60 AS t0) AS row_facts
    """


def events_sql() -> str:
    """QUEUED for every job; RUNNING and the end state for those that ran."""
    return f"""
    INSERT INTO job_events (job_id, at, from_state, to_state, attempt, reason, worker_id)
    SELECT {JOB}, t0 + i * 50 + e.offset_s, e.from_state, e.to_state, e.attempt, e.reason,
           e.worker
    FROM generate_series(1, %(videos)s) AS i,
         LATERAL (SELECT {STATE} AS s,
                  extract(epoch FROM now()) - 86400 * 60 AS t0) AS row_facts,
         LATERAL (VALUES (0, NULL, 'QUEUED', 0, 'uploaded', NULL),
                         (5, 'QUEUED', 'RUNNING', 1, 'claimed', 'bench-worker'),
                         (90, 'RUNNING', s, 1, 'finished', 'bench-worker'))
                 AS e(offset_s, from_state, to_state, attempt, reason, worker)
    WHERE s <> 'QUEUED' OR e.offset_s = 0
    ORDER BY i, e.offset_s
    """
