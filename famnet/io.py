"""Atomic output writing: a stage either leaves a complete file or none at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


# Id columns of every CSV the pipeline writes are text: a sample id such as "0101" or a subject
# "006" must never be read as a number (it would then match nothing it is joined with). Each file
# kind has one reader that applies this: read_manifest (famnet.datasets), read_protocol_table
# (famnet.protocols), read_predictions (famnet.fuse), read_test_epochs (famnet.oracle).
ID_TYPES = {"dataset": str, "subject": str, "sample": str}
# Likewise what a predictions file records of its model (a short commit id can be all digits).
PROVENANCE_TYPES = {"model_hash": str, "code_version": str, "device": str, "selected": str}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The file gets the permissions of a normally created one (mkstemp makes it private)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)


def write_csv_atomic(frame, path: str | os.PathLike) -> None:
    """Write a pandas DataFrame as CSV (no index) atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
