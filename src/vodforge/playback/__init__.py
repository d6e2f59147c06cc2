"""Signed, expiring playback URLs that cover a whole published package."""
