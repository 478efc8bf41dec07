"""The ratings of a workspace, in one SQLite database (``ratings.sqlite``).

SQLite keeps a million ratings (1,000 scans × 100 regions × 10 raters) in a file that a
save changes by a few pages, not rewrites: every save is one transaction (all of it or
none), the write-ahead log lets raters read while another saves, and two writers queue on
SQLite's own lock. A rater re-rating a region replaces their own record: the key is
(case, region, rater).

Earlier versions kept the ratings in ``ratings.json`` (format 1: the quality called
``score``; format 2: ``quality``). The first open of such a workspace copies them into a
new database, built beside it and renamed into place, and leaves the JSON file as it was.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from filelock import FileLock

from scorekit.data.atomic import atomic_path, remove_stale_temporaries
from scorekit.data.ratings import (
    CSV_COLUMNS,
    Rating,
    csv_row,
    iter_ratings_csv,
    rating_from_record,
)
from scorekit.errors import ScoreKitError

SCHEMA_VERSION = 3  # PRAGMA user_version; 1 and 2 were the JSON formats
FIELDS = ("case", "region", "quality", "error", "rater", "seconds", "time", "comment")
SCHEMA = """
CREATE TABLE ratings (
    "case" TEXT NOT NULL, region TEXT NOT NULL, quality INTEGER NOT NULL,
    error INTEGER NOT NULL, rater TEXT NOT NULL, seconds REAL NOT NULL, time TEXT NOT NULL,
    comment TEXT NOT NULL, PRIMARY KEY ("case", rater, region)) WITHOUT ROWID
"""  # keyed case, rater first: progress per (case, rater) is one pass in key order
COLUMNS = ", ".join(f'"{f}"' for f in FIELDS)
INSERT = f"INSERT OR REPLACE INTO ratings ({COLUMNS}) VALUES ({', '.join('?' * len(FIELDS))})"
SELECT = f"SELECT {COLUMNS} FROM ratings"
ORDER = ' ORDER BY "case", region, rater'
SIDE_FILES = ("-wal", "-shm")  # SQLite's write-ahead log and its index, beside the file
BATCH = 10_000  # rows per executemany while importing
WAIT_S = 60  # how long a save waits for another writer

# Given a case id, the region names it has (raises ScoreKitError for an unknown case).
RegionLookup = Callable[[str], list[str]]


class RatingStore:
    """All ratings of a workspace in ``path`` (SQLite); ``legacy`` is the JSON file that
    earlier versions wrote, migrated on first use."""

    def __init__(self, path: str | os.PathLike, regions_of: RegionLookup,
                 legacy: str | os.PathLike | None = None):
        self.path = Path(path)
        self.legacy = Path(legacy) if legacy is not None else None
        self._regions_of = regions_of
        self._lock = FileLock(str(self.path) + ".lock", timeout=WAIT_S)
        self._keep_open, self._local = False, threading.local()  # see keep_connections

    # -- reading -------------------------------------------------------------------------

    def all(self, case: str | None = None, rater: str | None = None) -> list[Rating]:
        """Ratings sorted by (case, region, rater), of one case and / or rater if given."""
        where = [(f'"{name}" = ?', value) for name, value in (("case", case), ("rater", rater))
                 if value is not None]
        sql = SELECT + (" WHERE " + " AND ".join(w for w, _ in where) if where else "") + ORDER
        with self._connection(create=False) as db:
            if db is None:
                return []
            return [Rating(*row) for row in db.execute(sql, [v for _, v in where])]

    def counts(self) -> dict[tuple[str, str], int]:
        """(case, rater) → how many regions that rater has rated in that case."""
        with self._connection(create=False) as db:
            if db is None:
                return {}
            rows = db.execute('SELECT "case", rater, COUNT(*) FROM ratings '
                              'GROUP BY "case", rater')
            return {(case, rater): n for case, rater, n in rows}

    # -- writing -------------------------------------------------------------------------

    def validate(self, rating: Rating) -> None:
        self._validator()(rating)

    def _validator(self) -> Callable[[Rating], None]:
        """Checks ratings against the workspace, reading each case's regions once."""
        regions: dict[str, set[str]] = {}

        def check(rating: Rating) -> None:
            where = f"case '{rating.case}', region '{rating.region}'"
            if rating.case not in regions:
                regions[rating.case] = set(self._regions_of(rating.case))
            if rating.region not in regions[rating.case]:
                names = ", ".join(self._regions_of(rating.case))
                raise ScoreKitError(f"{where}: unknown region (the case has {names})")
            if (problem := rating.problem()) is not None:
                raise ScoreKitError(f"{where}: {problem}")
        return check

    def put(self, ratings: Iterable[Rating]) -> int:
        """Validate all, then store all (or nothing) in one transaction; returns how many
        were stored."""
        ratings = list(ratings)
        check = self._validator()
        for rating in ratings:
            check(rating)
        with self._transaction() as db:
            db.executemany(INSERT, (_row(r) for r in ratings))
        return len(ratings)

    def import_csv(self, path: str | os.PathLike) -> int:
        """Import a CSV with columns case, region, quality (or, as earlier versions wrote
        it, score), error (rater, seconds, time, comment optional), a batch at a time in
        one transaction: one bad row refuses the whole file."""
        check, count = self._validator(), 0
        try:
            with self._transaction() as db:
                rows = iter_ratings_csv(path)
                while batch := list(itertools.islice(rows, BATCH)):
                    for rating in batch:
                        check(rating)
                    db.executemany(INSERT, (_row(r) for r in batch))
                    count += len(batch)
        except ScoreKitError as error:
            message = str(error)
            raise ScoreKitError(message if message.startswith(str(path)) else
                                f"{path}: {message}") from None
        return count

    # -- CSV out -------------------------------------------------------------------------

    def csv_lines(self) -> Iterator[str]:
        """Every rating as CSV lines (error labels by name), header first."""
        yield ",".join(CSV_COLUMNS) + "\n"
        with self._connection(create=False) as db:
            if db is None:
                return
            for row in db.execute(SELECT + ORDER):
                yield csv_row(Rating(*row))

    def csv_text(self) -> str:
        return "".join(self.csv_lines())

    def export_csv(self, path: str | os.PathLike) -> int:
        count = -1  # the header
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            for line in self.csv_lines():
                f.write(line)
                count += 1
            f.flush()
            os.fsync(f.fileno())
        return count

    # -- the database --------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (so a second writer waits for the first)."""
        with self._connection(create=True) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextlib.contextmanager
    def _connection(self, create: bool) -> Iterator[sqlite3.Connection | None]:
        """The database (None when there is none and ``create`` is false); SQLite's errors
        as one line naming the file."""
        self._refuse_links()
        if not self.path.exists():
            self._local.__dict__.clear()  # a connection to a file that is gone writes nowhere
            if not create and not (self.legacy and self.legacy.exists()):
                yield None
                return
            self._create()
        try:
            if self._keep_open:
                yield self._kept()
                return
            db = self._connect()
            try:
                yield db
            finally:
                db.close()  # the last one out folds the log back: no side files left
        except sqlite3.DatabaseError as error:  # not a database, or locked beyond WAIT_S
            raise ScoreKitError(f"{self.path}: cannot be used as the ratings database "
                                f"({error})") from None

    def keep_connections(self) -> None:
        """For a server (the rating form): keep one connection per thread open. Closing
        the last connection makes SQLite fold its log back into the file (about 20 ms),
        which a rater would otherwise wait for on every save."""
        self._keep_open = True

    def _kept(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():  # a forked child opens its own
            db = self._local.db = self._connect()
            self._local.pid = os.getpid()
        return db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=WAIT_S, isolation_level=None)
        db.execute("PRAGMA synchronous = FULL")  # a saved rating survives a power cut
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            db.close()
            raise ScoreKitError(f"{self.path}: ratings database of version {version}; "
                                f"this scorekit reads version {SCHEMA_VERSION}")
        return db

    def _refuse_links(self) -> None:
        """The database and its lock are scorekit's own files; a link could point
        anywhere."""
        for path in (self.path, Path(self._lock.lock_file)):
            if path.is_symlink():
                raise ScoreKitError(f"{path}: is a symbolic link; remove it (scorekit creates "
                                    "this file itself)")

    def _create(self) -> None:
        """Make the database, with the legacy JSON file's ratings, whole or not at all."""
        with self._lock:
            if self.path.exists():  # another process made it meanwhile
                return
            remove_stale_temporaries(self.path.parent, of=self.path.name)  # killed creations
            records = read_legacy_json(self.legacy) if self.legacy else []
            with atomic_path(self.path) as tmp:
                db = sqlite3.connect(tmp, isolation_level=None)
                try:
                    db.execute("PRAGMA journal_mode = WAL")  # kept in the file
                    db.execute("BEGIN")
                    db.execute(SCHEMA)
                    db.executemany(INSERT, (_row(r) for r in records))
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    db.execute("COMMIT")
                finally:
                    db.close()
                for side in SIDE_FILES:  # a deleted database's log would be replayed into this one
                    Path(f"{self.path}{side}").unlink(missing_ok=True)


def _row(rating: Rating) -> tuple:
    return (rating.case, rating.region, int(rating.quality), int(rating.error), rating.rater,
            float(rating.seconds), rating.time, rating.comment)


def read_legacy_json(path: Path) -> list[Rating]:
    """The ratings of a ``ratings.json`` that an earlier version wrote (formats 1 and 2)."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [rating_from_record(record) for record in data["ratings"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ScoreKitError(f"{path}: not a ratings file ({exc})") from None
