"""Uploads in flight: streamed multipart bodies, resumable tus uploads, their staging files."""
