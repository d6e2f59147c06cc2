"""boto3's standard endpoint variables point vodforge's S3 storage at a stand-in too."""

from __future__ import annotations

from vodforge.settings import Settings

BASE = {"VODFORGE_DATA_DIR": "/tmp/vodforge-unit"}


def test_s3_endpoint_resolution_order() -> None:
    assert Settings.from_env(BASE).s3_endpoint_url is None
    env = {**BASE, "AWS_ENDPOINT_URL": "http://all:1"}
    assert Settings.from_env(env).s3_endpoint_url == "http://all:1"
    env["AWS_ENDPOINT_URL_S3"] = "http://s3:2"
    assert Settings.from_env(env).s3_endpoint_url == "http://s3:2"
    env["VODFORGE_S3_ENDPOINT_URL"] = "http://vodforge:3"
    assert Settings.from_env(env).s3_endpoint_url == "http://vodforge:3"
