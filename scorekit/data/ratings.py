"""Light feedback: one quality and one error label per (case, region, rater).

The SCORE rating of a region is a ``quality`` q in 0..5 (5 = excellent) and an ``error``
label l (:class:`ErrorLabel`): under-segmented, over-segmented, both, or none. A rating is
valid only when q = 5 ⇔ l = none (a perfect region has no error; an imperfect one has
one). This module is the one home of that rule: :func:`rating_problem` checks it and
:func:`coerce_rating` keeps it while a rater edits; the Slicer table, the segment tags, the
web form (which the server sends the scale and names) and the stores all use them.

:class:`RatingStore` keeps the ratings in one JSON file. Every change is made under a file
lock and written atomically, so two raters saving at once lose nothing and a killed
process never leaves a half-written file. A rater re-rating a region replaces their own
record.
"""

from __future__ import annotations

import csv
import enum
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock

from scorekit.data.atomic import csv_text, remove_stale_temporaries, write_text_atomic
from scorekit.errors import ScoreKitError

QUALITY_MAX = 5  # excellent: the only quality without an error
QUALITIES = tuple(range(QUALITY_MAX + 1))


class ErrorLabel(enum.IntEnum):
    """What is wrong with a region; the values are the SCORE paper's l."""

    UNDER = -1  # under-segmented: the mask misses tissue
    NONE = 0  # nothing (only with quality 5)
    OVER = 1  # over-segmented: the mask takes in too much
    BOTH = 2

    @property
    def label(self) -> str:
        """The lower-case name raters see and files store: under, none, over, both."""
        return self.name.lower()

    @property
    def key(self) -> str:
        """The key that picks it when rating by keyboard (u, n, o, b; digits pick the
        quality), in the Slicer table and the web form alike."""
        return self.label[0]

    @property
    def title(self) -> str:
        """What a rater reads in a choice list."""
        return {"UNDER": "under-segmented", "OVER": "over-segmented"}.get(self.name, self.label)

    @classmethod
    def parse(cls, value: str | int) -> ErrorLabel:
        """``'under'`` / ``'-1'`` / ``-1`` → UNDER, and so on; ValueError otherwise."""
        text = str(value).strip().lower()
        for member in cls:
            if text in (member.label, str(member.value)):
                return member
        raise ValueError(f"error label '{value}' is not one of "
                         + ", ".join(m.label for m in cls))


UNDER, NONE, OVER, BOTH = ErrorLabel.UNDER, ErrorLabel.NONE, ErrorLabel.OVER, ErrorLabel.BOTH
CSV_COLUMNS = ["case", "region", "quality", "error", "rater", "seconds", "time", "comment"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def rating_problem(quality, error) -> str | None:
    """Why (quality, error) is not a valid rating, or None."""
    if isinstance(quality, bool) or not isinstance(quality, int) or quality not in QUALITIES:
        return f"quality {quality!r} is not an integer in 0..{QUALITY_MAX}"
    if error not in set(ErrorLabel):
        return "error label {!r} is not one of {}".format(
            error, ", ".join(str(m.value) for m in ErrorLabel))
    if quality == QUALITY_MAX and error != NONE:
        return (f"quality {QUALITY_MAX} means no error, but the error label is "
                f"{ErrorLabel(error).label}")
    if quality < QUALITY_MAX and error == NONE:
        return f"quality {quality} < {QUALITY_MAX} needs an error label (under, over or both)"
    return None


def coerce_rating(quality: int | None, error: int | None, changed: str
                  ) -> tuple[int | None, ErrorLabel | None]:
    """Keep q = 5 ⇔ no error while a rater edits ``changed`` ('quality' or 'error'); None
    means "still to choose"."""
    error = None if error is None else ErrorLabel(error)
    if changed == "quality":
        if quality == QUALITY_MAX:
            return QUALITY_MAX, NONE
        return quality, None if error == NONE else error
    if error == NONE:
        return QUALITY_MAX, NONE
    return (None if quality == QUALITY_MAX else quality), error


@dataclass(frozen=True)
class Rating:
    case: str
    region: str
    quality: int
    error: int
    rater: str = "anonymous"
    seconds: float = 0.0
    time: str = field(default_factory=_now)
    comment: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.case, self.region, self.rater)

    @property
    def error_label(self) -> ErrorLabel:
        return ErrorLabel(self.error)

    def problem(self) -> str | None:
        """Why this rating is invalid, or None."""
        if (problem := rating_problem(self.quality, self.error)) is not None:
            return problem
        if not math.isfinite(self.seconds) or self.seconds < 0:
            return f"seconds spent {self.seconds} is not a finite number ≥ 0"
        if not self.rater.strip():
            return "rater name is empty"
        try:
            datetime.fromisoformat(self.time)
        except (TypeError, ValueError):
            return f"time '{self.time}' is not an ISO 8601 date and time"
        return None


# Given a case id, the region names it has (raises ScoreKitError for an unknown case).
RegionLookup = Callable[[str], list[str]]


FORMAT_VERSION = 2


class RatingStore:
    """All ratings of a workspace, in ``path`` (JSON), guarded by ``path.lock``."""

    def __init__(self, path: str | os.PathLike, regions_of: RegionLookup):
        self.path = Path(path)
        self._regions_of = regions_of
        self._lock = FileLock(str(self.path) + ".lock", timeout=60)

    def _locked(self) -> FileLock:
        """The store's lock; a lock file that is a link (which could point anywhere) is
        refused rather than followed."""
        lock = Path(self._lock.lock_file)
        if lock.is_symlink():
            raise ScoreKitError(f"{lock}: is a symbolic link; remove it (scorekit creates "
                                "this lock file itself)")
        return self._lock

    def all(self, case: str | None = None) -> list[Rating]:
        records = self._read()
        return [r for r in records if case is None or r.case == case]

    def validate(self, rating: Rating) -> None:
        where = f"case '{rating.case}', region '{rating.region}'"
        regions = self._regions_of(rating.case)
        if rating.region not in regions:
            raise ScoreKitError(f"{where}: unknown region (the case has {', '.join(regions)})")
        if (problem := rating.problem()) is not None:
            raise ScoreKitError(f"{where}: {problem}")

    def put(self, ratings: Iterable[Rating]) -> int:
        """Validate all, then store all (or nothing); returns how many were stored."""
        ratings = list(ratings)
        for rating in ratings:
            self.validate(rating)
        with self._locked():
            remove_stale_temporaries(self.path.parent, of=self.path.name)  # killed writes
            merged = {r.key: r for r in self._read()}
            merged.update({r.key: r for r in ratings})
            records = sorted(merged.values(), key=lambda r: r.key)
            payload = {"version": FORMAT_VERSION, "ratings": [asdict(r) for r in records]}
            write_text_atomic(self.path, json.dumps(payload, indent=1) + "\n")
        return len(ratings)

    def _read(self) -> list[Rating]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            records = data["ratings"]
            if data.get("version", 1) == 1:  # version 1 called the quality "score"
                records = [{**r, "quality": r.pop("score")} for r in records]
            return [Rating(**record) for record in records]
        except (ValueError, KeyError, TypeError) as exc:
            raise ScoreKitError(f"{self.path}: not a ratings file ({exc})") from None

    def csv_text(self) -> str:
        """Every rating as CSV (error labels by name)."""
        return _as_csv(self.all())

    def export_csv(self, path: str | os.PathLike) -> int:
        records = self.all()
        write_text_atomic(path, _as_csv(records))
        return len(records)

    def import_csv(self, path: str | os.PathLike) -> int:
        """Import a CSV with columns case, region, quality, error (rater, seconds, time,
        comment optional); one bad row refuses the whole file."""
        try:
            return self.put(read_ratings_csv(path))
        except ScoreKitError as error:
            message = str(error)
            raise ScoreKitError(message if message.startswith(str(path)) else
                                f"{path}: {message}") from None


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such
# text cells are written behind a quote, which reading them back removes.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = ("case", "region", "rater", "comment")


def _as_csv(records: list[Rating]) -> str:
    rows = []
    for r in records:
        row = asdict(r) | {"error": r.error_label.label}
        rows.append(row | {c: "'" + row[c] for c in TEXT_COLUMNS
                           if row[c].startswith(FORMULA_START)})
    return csv_text(rows, CSV_COLUMNS)


def _text_cell(value: str | None) -> str:
    value = (value or "").strip()
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value


def read_ratings_csv(path: str | os.PathLike) -> list[Rating]:
    path = Path(path)
    if not path.exists():
        raise ScoreKitError(f"{path}: no such file")
    try:
        return _ratings_from_csv(path)
    except UnicodeDecodeError as exc:
        raise ScoreKitError(f"{path}: not UTF-8 text (byte {exc.start}); save the CSV as "
                            "UTF-8") from None


def _ratings_from_csv(path: Path) -> list[Rating]:
    ratings = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"case", "region", "quality", "error"} - set(reader.fieldnames or [])
        if missing:
            raise ScoreKitError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            short = [column for column, value in row.items() if value is None]
            if short or None in row:
                raise ScoreKitError(f"{path}, line {line}: "
                                    + (f"no value for {', '.join(short)}" if short else
                                       "more values than columns"))
            try:
                ratings.append(Rating(
                    case=_text_cell(row["case"]), region=_text_cell(row["region"]),
                    quality=int(row["quality"]), error=ErrorLabel.parse(row["error"]),
                    rater=_text_cell(row.get("rater")) or "anonymous",
                    seconds=float(row.get("seconds") or 0),
                    time=(row.get("time") or _now()).strip(),
                    comment=_text_cell(row.get("comment"))))
            except ValueError as exc:
                raise ScoreKitError(f"{path}, line {line}: {exc}") from None
    return ratings
