"""sha256 of each artefact file, kept in a `SHA256SUMS` file (`sha256sum -c` compatible)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mlops_helpers.errors import IntegrityError

SUMS_FILE = "SHA256SUMS"


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def write_sums(folder: Path) -> dict[str, str]:
    """Hash every regular file in `folder` (not recursive, not the sums file itself)."""
    sums = {
        path.name: sha256_file(path)
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != SUMS_FILE
    }
    (folder / SUMS_FILE).write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()))
    return sums


def read_sums(folder: Path) -> dict[str, str]:
    sums_path = folder / SUMS_FILE
    if not sums_path.is_file():
        raise IntegrityError(f"{folder}: {SUMS_FILE} is missing, the artefact cannot be verified")
    sums: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_text().splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise IntegrityError(f"{sums_path}:{number}: malformed line {line!r}")
        sums[name] = digest
    return sums


def verify_sums(folder: Path) -> dict[str, str]:
    """Raise IntegrityError naming the first file that is missing or does not match."""
    sums = read_sums(folder)
    for name, expected in sums.items():
        path = folder / name
        if not path.is_file():
            raise IntegrityError(f"{path}: listed in {SUMS_FILE} but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise IntegrityError(
                f"{path}: checksum mismatch (expected sha256 {expected[:12]}…, got {actual[:12]}…): "
                "the file was modified or truncated after it was written"
            )
    return sums
