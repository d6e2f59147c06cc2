"""The fault tier's own services: a PostgreSQL cluster that stops, restarts and keeps its data,
and a Redis server that stops and stalls."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
import redis

from tests.faults.harness.services import pg_cluster, redis_server


def test_pg_cluster_stops_restarts_and_keeps_its_data(tmp_path: Path) -> None:
    with pg_cluster(tmp_path / "pg") as cluster:
        assert cluster.url.endswith("/vodforge") and "127.0.0.1" in cluster.url
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE marks (n int)")
            conn.execute("INSERT INTO marks VALUES (7)")
        held = psycopg.connect(cluster.url, autocommit=True)
        cluster.stop()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(cluster.url, connect_timeout=2)
        # A session open across the stop is dead, not silently alive.
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
        held.close()
        cluster.start()
        with psycopg.connect(cluster.url) as conn:
            assert conn.execute("SELECT n FROM marks").fetchall() == [(7,)]
        cluster.restart()
        with psycopg.connect(cluster.url) as conn:
            assert conn.execute("SELECT count(*) FROM marks").fetchone() == (1,)
        home = cluster.data_dir.parent
    assert not home.exists(), "the cluster's directory is removed on exit"
    assert (tmp_path / "pg" / "postgres.log").exists()


def test_redis_server_stops_and_stalls(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        client.set("k", "v")
        server.stall()
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.get("k")
        assert time.monotonic() - started < 3
        server.resume()
        assert client.get("k") == b"v"
        server.stop()
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(server.url, socket_connect_timeout=0.5).ping()
        server.start()
        assert client.get("k") is None, "nothing is persisted across a stop"
    assert not server.running()
