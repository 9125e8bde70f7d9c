"""The SHA-256 of a file, as results, cards, pretrained entries and dataset chunks record it."""
from __future__ import annotations

import hashlib


def file_sha256(path) -> str:
    """Hex SHA-256 of the bytes of the file at ``path`` (read in chunks: any size)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
