"""Videos: the use cases every interface shares (submit, describe, list, cancel, retry, delete)."""
