"""Published packages for playback tests: real stored files behind a READY video, made through
the repositories and storage as the pipeline makes them, without transcoding."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from vodforge.bootstrap import Components
from vodforge.storage.base import attempt_prefix, content_type_for

MASTER = (
    b"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    b'#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001e"\n'
    b"360p/index.m3u8\n"
)
VARIANT = (
    b"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    b'#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2.0,\nseg_00001.m4s\n#EXT-X-ENDLIST\n'
)


def package_files() -> dict[str, bytes]:
    """Relative path -> content; the segment is larger than one storage chunk."""
    return {
        "master.m3u8": MASTER,
        "360p/index.m3u8": VARIANT,
        "360p/init.mp4": b"\x00\x00\x00\x18ftypiso6" + os.urandom(64),
        "360p/seg_00001.m4s": os.urandom(200_000),
        "poster.jpg": b"\xff\xd8\xff\xe0JFIF" + os.urandom(100),
        "thumbnail.jpg": b"\xff\xd8\xff\xe0JFIF" + os.urandom(50),
    }


def tenant_id_of(components: Components, api_key: str) -> str:
    return components.tenants.authenticate(api_key).id


def new_video(components: Components, api_key: str, title: str = "clip") -> str:
    """An UPLOADED video with its source stored and its job QUEUED."""
    video_id, _ = components.repo.create_video_and_job(
        tenant_id_of(components, api_key), title, source_key="pending", source_bytes=1
    )
    return video_id


def publish(components: Components, video_id: str, files: dict[str, bytes]) -> dict[str, Any]:
    """Claim the video's current job, store `files` under its attempt's prefix and complete it:
    the video is READY with that package (a second call is a re-publish under a new prefix)."""
    job_id = components.videos_repo.get_video(video_id).current_job_id
    assert job_id is not None
    job = components.repo.claim_job_by_id(job_id, "test-worker")
    assert job is not None
    prefix = attempt_prefix(video_id, job.id, job.attempt)
    for name, data in files.items():
        components.storage.put_bytes(prefix + name, data, content_type_for(name))
    package = {
        "prefix": prefix,
        "master": prefix + "master.m3u8",
        "poster": prefix + "poster.jpg",
        "thumbnail": prefix + "thumbnail.jpg",
        "duration_s": 2.0,
        "renditions": [
            {
                "name": "360p",
                "width": 640,
                "height": 360,
                "fps": 24.0,
                "bandwidth": 900_000,
                "average_bandwidth": 700_000,
                "codecs": "avc1.64001e",
                "playlist": prefix + "360p/index.m3u8",
            }
        ],
    }
    components.repo.complete_job(job, package)
    return package


def ready_with_files(
    components: Components, api_key: str, files: dict[str, bytes], title: str = "clip"
) -> str:
    video_id = new_video(components, api_key, title)
    publish(components, video_id, files)
    return video_id


def republish(components: Components, video_id: str, files: dict[str, bytes]) -> dict[str, Any]:
    """A READY video transcoded again (reconcile's repair) and published under a new prefix."""
    components.repo.requeue_video(video_id, "test: publish again")
    return publish(components, video_id, files)


def package_of(components: Components, video_id: str) -> dict[str, Any]:
    """The package a READY video has published."""
    package = components.videos_repo.get_video(video_id).package
    assert package is not None, f"video {video_id} has no package"
    return package


def path_of(url: str) -> str:
    """The path of an absolute playback URL, for an in-process client on another base URL."""
    return urlsplit(url).path


def play_base(url: str) -> str:
    """`/v1/play/{video}/{token}/` of a playback URL: what every file of the package shares."""
    return "/".join(path_of(url).split("/")[:5]) + "/"
