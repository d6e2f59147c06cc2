"""What a run's package holds and how close it is to the source: its bytes (files, and each
stream's payload as ffmpeg counts it), and PSNR/SSIM of every rendition against the source.

Quality is one ffmpeg pass over all packages at once, so the source is decoded once: it is
scaled to each rendition's size (the same `scale=W:H` vodforge uses, bicubic by default),
and every rendition's frames are paired with the scaled source's by timestamp (both start at
0) by the psnr and ssim filters.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class QualityError(RuntimeError):
    pass


@dataclass(frozen=True)
class RenditionFacts:
    name: str
    width: int
    height: int
    playlist: Path
    file_bytes: int  # the playlist, its init segment and its media segments
    video_bytes: int  # H.264 payload (ffmpeg's stream-copy count)
    audio_bytes: int  # AAC payload muxed into this rendition (0 if audio is separate)
    frames: int


@dataclass(frozen=True)
class PackageFacts:
    total_bytes: int  # every file under the package prefix (playlists, images included)
    renditions: tuple[RenditionFacts, ...]
    audio_rendition_bytes: int  # files of a separate audio rendition (a chunked package)
    audio_rendition_payload: int

    @property
    def video_bytes(self) -> int:
        return sum(r.video_bytes for r in self.renditions)

    def rendition(self, name: str) -> RenditionFacts:
        return next(r for r in self.renditions if r.name == name)


def _playlist_files(playlist: Path) -> list[Path]:
    text = playlist.read_text()
    files = [playlist]
    files += [playlist.parent / uri for uri in re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)]
    files += [playlist.parent / ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return files


def stream_bytes(ffmpeg: str, playlist: Path) -> tuple[int, int, int]:
    """(video payload bytes, audio payload bytes, video frames) by a stream copy to null
    (frames 0 for an audio-only playlist)."""
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-i", str(playlist)]
    argv += ["-map", "0", "-c", "copy", "-f", "null", "-"]
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise QualityError(f"ffmpeg cannot read {playlist}: {result.stderr[-400:]}")
    sizes = re.search(r"video:\s*(\d+)KiB audio:\s*(\d+)KiB", result.stderr)
    frames = re.findall(r"frame=\s*(\d+)", result.stderr)
    if sizes is None:
        raise QualityError(f"no stream sizes for {playlist}: {result.stderr[-400:]}")
    return int(sizes[1]) * 1024, int(sizes[2]) * 1024, int(frames[-1]) if frames else 0


def package_facts(ffmpeg: str, storage: Path, package: Mapping[str, Any]) -> PackageFacts:
    root = storage / package["prefix"]
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    renditions = []
    for r in package["renditions"]:
        playlist = storage / r["playlist"]
        video, audio, frames = stream_bytes(ffmpeg, playlist)
        file_bytes = sum(p.stat().st_size for p in _playlist_files(playlist))
        renditions.append(
            RenditionFacts(
                r["name"], r["width"], r["height"], playlist, file_bytes, video, audio, frames
            )
        )
    audio_bytes = audio_payload = 0
    master = (storage / package["master"]).read_text()
    for uri in re.findall(r'#EXT-X-MEDIA:TYPE=AUDIO[^\n]*URI="([^"]+)"', master):
        playlist = (storage / package["master"]).parent / uri
        audio_bytes += sum(p.stat().st_size for p in _playlist_files(playlist))
        audio_payload += stream_bytes(ffmpeg, playlist)[1]
    return PackageFacts(total, tuple(renditions), audio_bytes, audio_payload)


@dataclass(frozen=True)
class Quality:
    psnr_y: float
    psnr_avg: float  # ffmpeg's "average": MSE over Y, U and V together
    ssim_y: float
    ssim_all: float


def quality_argv(
    ffmpeg: str, source: Path, playlists: Mapping[str, Path], sizes: Mapping[str, tuple[int, int]]
) -> list[str]:
    """One pass: every playlist (keyed "<run>/<rendition>") against the source scaled to
    its rendition's size. Each psnr/ssim filter is named after its key to read its log."""
    keys = list(playlists)
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-i", str(source)]
    for key in keys:
        argv += ["-i", str(playlists[key])]
    graph = [f"[0:v:0]split={len(keys)}" + "".join(f"[src{i}]" for i in range(len(keys)))]
    outputs = []
    for i, key in enumerate(keys):
        w, h = sizes[key]
        graph.append(
            f"[src{i}]scale={w}:{h},setsar=1,format=yuv420p,setpts=PTS-STARTPTS,split[ra{i}][rb{i}]"
        )
        graph.append(f"[{i + 1}:v:0]setpts=PTS-STARTPTS,split[da{i}][db{i}]")
        tag = key.replace("/", "_")
        graph.append(f"[da{i}][ra{i}]psnr@{tag}[p{i}]")
        graph.append(f"[db{i}][rb{i}]ssim@{tag}[s{i}]")
        outputs += [f"p{i}", f"s{i}"]
    graph += [f"[{label}]nullsink" for label in outputs[:-1]]
    argv += ["-filter_complex", ";".join(graph), "-map", f"[{outputs[-1]}]", "-f", "null", "-"]
    return argv


def measure_quality(
    ffmpeg: str, source: Path, playlists: Mapping[str, Path], sizes: Mapping[str, tuple[int, int]]
) -> dict[str, Quality]:
    result = subprocess.run(
        quality_argv(ffmpeg, source, playlists, sizes), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise QualityError(f"quality pass failed: {result.stderr[-800:]}")
    found = {}
    for key in playlists:
        tag = re.escape(key.replace("/", "_"))
        psnr = re.search(
            rf"\[psnr@{tag} @ [^\]]+\] PSNR y:([\d.]+) .*average:([\d.]+)", result.stderr
        )
        ssim = re.search(rf"\[ssim@{tag} @ [^\]]+\] SSIM Y:([\d.]+) .*All:([\d.]+)", result.stderr)
        if psnr is None or ssim is None:
            raise QualityError(f"no PSNR/SSIM for {key}: {result.stderr[-800:]}")
        found[key] = Quality(float(psnr[1]), float(psnr[2]), float(ssim[1]), float(ssim[2]))
    return found
