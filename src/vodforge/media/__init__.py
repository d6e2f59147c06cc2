"""The media pipeline: probe, plan, transcode, validate and package videos with ffmpeg."""

from __future__ import annotations
