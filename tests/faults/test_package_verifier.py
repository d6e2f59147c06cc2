"""verify_package passes a real published package and catches each way a file can be damaged:
truncated, missing, trailing garbage, an image cut short, a segment shorter than its EXTINF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness.packages import parse_segments, verify_package, video_keys_problems
from tests.support.clips import make_clip
from tests.support.s3server import aws_test_env, moto_server, new_bucket_name, s3_client
from vodforge.domain.ladder import plan_ladder
from vodforge.domain.limits import InputLimits
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.media.probe import probe_source
from vodforge.media.transcode import run_transcode
from vodforge.pipeline.source import package_renditions
from vodforge.process import StopToken

ROOT = "root"
VIDEO = "00000000-0000-4000-8000-000000000001"
PREFIX = f"videos/{VIDEO}/attempts/j-1/1/"


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with aws_test_env(), moto_server() as endpoint:
        yield s3_client(endpoint)


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real package of a 2.5 s, 160x90 clip with audio."""
    root = tmp_path_factory.mktemp("verifier")
    clip = make_clip(root / "clip.mp4", width=160, height=90, fps=24, duration_s=2.5)
    ffmpeg = find_ffmpeg()
    probe = probe_source(clip, InputLimits(), ffmpeg)
    ladder = plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio)
    out = root / "package"
    result = run_transcode(
        ffmpeg, clip, probe, ladder, out, stop=StopToken(), on_progress=lambda _: None,
        with_poster=True,
    )  # fmt: skip
    assert result.poster is not None and result.thumbnail is not None
    package = {
        "prefix": PREFIX,
        "master": PREFIX + result.package.master.relative_to(out).as_posix(),
        "poster": PREFIX + result.poster.relative_to(out).as_posix(),
        "thumbnail": PREFIX + result.thumbnail.relative_to(out).as_posix(),
        "renditions": package_renditions(PREFIX, result.package.renditions),
    }
    return out, package


@pytest.fixture
def published(s3: Any, package_dir: tuple[Path, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    out, package = package_dir
    bucket = new_bucket_name()
    s3.create_bucket(Bucket=bucket)
    for path in sorted(out.rglob("*")):
        if path.is_file():
            key = f"{ROOT}/{PREFIX}{path.relative_to(out).as_posix()}"
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    s3.put_object(Bucket=bucket, Key=f"{ROOT}/videos/{VIDEO}/source.mp4", Body=b"src")
    return bucket, package


def first_segment(s3: Any, bucket: str, package: dict[str, Any]) -> str:
    playlist = package["renditions"][0]["playlist"]
    text = s3.get_object(Bucket=bucket, Key=f"{ROOT}/{playlist}")["Body"].read().decode()
    segments = parse_segments(text)
    return f"{ROOT}/{playlist.rsplit('/', 1)[0]}/{segments[0].uri}"


def replace(s3: Any, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def read(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_whole_package_has_no_problem(s3: Any, published: tuple[str, dict[str, Any]]) -> None:
    bucket, package = published
    assert verify_package(s3, bucket, package, ROOT) == []
    source = f"videos/{VIDEO}/source.mp4"
    assert video_keys_problems(s3, bucket, ROOT, VIDEO, source, package) == []


def test_a_truncated_segment_is_caught(s3: Any, published: tuple[str, dict[str, Any]]) -> None:
    bucket, package = published
    key = first_segment(s3, bucket, package)
    data = read(s3, bucket, key)
    replace(s3, bucket, key, data[: len(data) - 100])
    problems = verify_package(s3, bucket, package, ROOT)
    assert len(problems) == 1 and "truncated" in problems[0], problems


def test_a_segment_shorter_than_its_extinf_is_caught(
    s3: Any, published: tuple[str, dict[str, Any]]
) -> None:
    """Whole boxes but less time than promised (say, a fragment lost at a box boundary): the
    playlist is made to promise a second more than the samples hold."""
    bucket, package = published
    key = f"{ROOT}/{package['renditions'][0]['playlist']}"
    text = read(s3, bucket, key).decode()
    extinf = r"#EXTINF:([0-9.]+)"
    longer = re.sub(extinf, lambda m: f"#EXTINF:{float(m[1]) + 1:.6f}", text, count=1)
    assert longer != text
    replace(s3, bucket, key, longer.encode())
    problems = verify_package(s3, bucket, package, ROOT)
    assert len(problems) == 1 and "EXTINF" in problems[0], problems


def test_a_missing_segment_is_caught(s3: Any, published: tuple[str, dict[str, Any]]) -> None:
    bucket, package = published
    key = first_segment(s3, bucket, package)
    s3.delete_object(Bucket=bucket, Key=key)
    problems = verify_package(s3, bucket, package, ROOT)
    assert problems == [f"{key.removeprefix(ROOT + '/')}: missing"], problems


def test_trailing_garbage_is_caught(s3: Any, published: tuple[str, dict[str, Any]]) -> None:
    bucket, package = published
    key = first_segment(s3, bucket, package)
    replace(s3, bucket, key, read(s3, bucket, key) + b"junk!")
    problems = verify_package(s3, bucket, package, ROOT)
    assert len(problems) == 1 and "trailing" in problems[0], problems


def test_a_damaged_init_segment_is_caught(s3: Any, published: tuple[str, dict[str, Any]]) -> None:
    bucket, package = published
    playlist = package["renditions"][0]["playlist"]
    text = read(s3, bucket, f"{ROOT}/{playlist}").decode()
    init = parse_segments(text)[0].map_uri
    key = f"{ROOT}/{playlist.rsplit('/', 1)[0]}/{init}"
    replace(s3, bucket, key, read(s3, bucket, key)[:-1])
    problems = verify_package(s3, bucket, package, ROOT)
    assert problems and all("truncated" in p for p in problems), problems


def test_a_cut_or_empty_image_is_caught(s3: Any, published: tuple[str, dict[str, Any]]) -> None:
    bucket, package = published
    poster = f"{ROOT}/{package['poster']}"
    replace(s3, bucket, poster, read(s3, bucket, poster)[:-10])
    replace(s3, bucket, f"{ROOT}/{package['thumbnail']}", b"")
    problems = verify_package(s3, bucket, package, ROOT)
    assert any("poster" in p and "JPEG" in p for p in problems), problems
    assert any("thumbnail" in p and "zero-length" in p for p in problems), problems


def test_a_missing_variant_playlist_is_caught(
    s3: Any, published: tuple[str, dict[str, Any]]
) -> None:
    bucket, package = published
    playlist = package["renditions"][0]["playlist"]
    s3.delete_object(Bucket=bucket, Key=f"{ROOT}/{playlist}")
    assert verify_package(s3, bucket, package, ROOT) == [f"{playlist}: media playlist missing"]


def test_objects_outside_the_package_are_caught(
    s3: Any, published: tuple[str, dict[str, Any]]
) -> None:
    bucket, package = published
    stray = f"videos/{VIDEO}/attempts/j-2/1/v0/seg_00000.m4s"
    replace(s3, bucket, f"{ROOT}/{stray}", b"x")
    source = f"videos/{VIDEO}/source.mp4"
    problems = video_keys_problems(s3, bucket, ROOT, VIDEO, source, package)
    assert len(problems) == 1 and stray in problems[0], problems
