"""vodforge: uploads in, validated HLS ladders out, every job owned by the database."""

__version__ = "0.1.0"
