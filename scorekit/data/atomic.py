"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes files 0600; a finished file gets the permissions any other new file of the
# user would (0666 less the umask), so that colleagues and Slicer can read workspaces.
FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    The temporary name keeps the target's suffixes (``.nii.gz``, ``.seg.nrrd``) so writers
    that choose a format from the file name still do. If the body raises, the temporary file
    is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix="".join(target.suffixes),
                               dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# Temporary names: atomic_path's ("." + target name + "." + mkstemp's 8 characters +
# suffixes) and the ".tmpXXXXXX" safetensors writes through on its own.
TEMPORARY = re.compile(r"^(\..+\.[a-z0-9_]{8}(\.[A-Za-z0-9]+)*|\.tmp[A-Za-z0-9]{6})$")


def remove_stale_temporaries(folder: str | os.PathLike, of: str | None = None) -> list[str]:
    """Delete what writes killed mid-way left in ``folder`` (only those of the file ``of``
    when given). Call it where no other process is writing them: at the start of a training
    run into its own folder, or holding the lock that every writer of ``of`` takes."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.iterdir() if p.is_file() and TEMPORARY.match(p.name)
             and (of is None or p.name.startswith(f".{of}."))]
    for path in stale:
        path.unlink(missing_ok=True)
    return [p.name for p in stale]


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``target`` atomically (fsync before the rename)."""
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def csv_text(rows: Iterable[dict], columns: list[str]) -> str:
    """Rows as CSV with a header (keys beyond ``columns`` are left out)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv_atomic(path: str | os.PathLike, rows: Iterable[dict], columns: list[str]) -> None:
    write_text_atomic(path, csv_text(rows, columns))
