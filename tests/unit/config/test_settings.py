"""Settings come from VODFORGE_* variables, once, with the SPEC's defaults and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodforge.errors import ConfigError
from vodforge.settings import Settings


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"VODFORGE_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'vodforge.db'}"
    assert settings.storage_url == f"file://{tmp_path / 'storage'}"
    assert (settings.heartbeat_s, settings.lease_ttl_s, settings.scan_interval_s) == (5, 30, 5)
    assert settings.max_attempts == 5 and settings.executor == "local"
    assert settings.redis_url is None and settings.ffmpeg_threads == 0
    assert Settings.from_env({"VODFORGE_FFMPEG_THREADS": "2"}).ffmpeg_threads == 2
    assert settings.internal_token and settings.internal_token_generated
    limits = settings.limits
    assert limits.max_file_bytes == 20 * 1024**3 and limits.max_duration_s == 6 * 3600
    assert (limits.max_width, limits.max_height, limits.max_fps) == (7680, 4320, 120)


def test_secrets_are_not_defaulted_outside_embedded_mode() -> None:
    with pytest.raises(ConfigError, match="INTERNAL_TOKEN"):
        Settings.from_env({"VODFORGE_DATABASE_URL": "postgresql://db/vodforge"})
    settings = Settings.from_env(
        {"VODFORGE_DATABASE_URL": "postgres://db/v", "VODFORGE_INTERNAL_TOKEN": "t"}
    )
    assert settings.database_url == "postgresql://db/v" and not settings.internal_token_generated


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VODFORGE_HEARTBEAT_S": "soon"}, "must be a number"),
        ({"VODFORGE_LEASE_TTL_S": "-1"}, "must be positive"),
        ({"VODFORGE_LEASE_TTL_S": "4", "VODFORGE_HEARTBEAT_S": "5"}, "longer than"),
        ({"VODFORGE_EXECUTOR": "k8s"}, "'local' or 'batch'"),
        ({"VODFORGE_EXECUTOR": "batch"}, "BATCH_JOB_QUEUE"),
        ({"VODFORGE_DATABASE_URL": "mysql://x"}, "sqlite"),
        ({"VODFORGE_STORAGE_URL": "ftp://x"}, "STORAGE_URL"),
    ],
)
def test_bad_settings_are_refused_clearly(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
