"""Light feedback: one quality and one error label per (case, region, rater).

The SCORE rating of a region is a ``quality`` q in 0..5 (5 = excellent) and an ``error``
label l (:class:`ErrorLabel`): under-segmented, over-segmented, both, or none. A rating is
valid only when q = 5 ⇔ l = none (a perfect region has no error; an imperfect one has
one). This module is the one home of that rule: :func:`rating_problem` checks it and
:func:`coerce_rating` keeps it while a rater edits; the Slicer table, the segment tags, the
web form (which the server sends the scale and names) and the stores all use them.

The ratings of a workspace are kept by :class:`scorekit.data.ratingstore.RatingStore`;
this module reads and writes them as CSV. Earlier versions called the quality ``score``
(as the SCORE paper does): files with that name keep opening.
"""

from __future__ import annotations

import csv
import enum
import io
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from scorekit.errors import ScoreKitError, not_utf8

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
# Names earlier versions wrote (ratings.json format 1, CSV exports) → today's.
FORMER_NAMES = {"score": "quality"}


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


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such
# text cells are written behind a quote, which reading them back removes.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = ("case", "region", "rater", "comment")


def csv_row(rating: Rating) -> str:
    """One rating as a CSV line (error label by name; formula-like text cells quoted)."""
    row = asdict(rating) | {"error": rating.error_label.label}
    row |= {c: "'" + row[c] for c in TEXT_COLUMNS if row[c].startswith(FORMULA_START)}
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row[c] for c in CSV_COLUMNS)
    return buffer.getvalue()


def _text_cell(value: str | None) -> str:
    value = (value or "").strip()
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value


RATING_FIELDS = {f.name for f in fields(Rating)}


def rating_from_record(record: dict) -> Rating:
    """A rating from a stored record of any version (``score`` for ``quality`` in the
    first); TypeError for unknown or missing fields."""
    renamed = {FORMER_NAMES.get(key, key): value for key, value in record.items()}
    unknown = set(renamed) - RATING_FIELDS
    if unknown:
        raise TypeError(f"unknown field(s) {', '.join(sorted(unknown))}")
    return Rating(**renamed)


def read_ratings_csv(path: str | os.PathLike) -> list[Rating]:
    return list(iter_ratings_csv(path))


def iter_ratings_csv(path: str | os.PathLike) -> Iterator[Rating]:
    """The ratings of a CSV, one row at a time; ScoreKitError names the file and line."""
    path = Path(path)
    if not path.exists():
        raise ScoreKitError(f"{path}: no such file")
    try:
        yield from _ratings_from_csv(path)
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None


def _ratings_from_csv(path: Path) -> Iterator[Rating]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        reader.fieldnames = [FORMER_NAMES.get(name, name) for name in reader.fieldnames or []]
        missing = {"case", "region", "quality", "error"} - set(reader.fieldnames)
        if missing:
            raise ScoreKitError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            short = [column for column, value in row.items() if value is None]
            if short or None in row:
                raise ScoreKitError(f"{path}, line {line}: "
                                    + (f"no value for {', '.join(short)}" if short else
                                       "more values than columns"))
            try:
                yield Rating(
                    case=_text_cell(row["case"]), region=_text_cell(row["region"]),
                    quality=int(row["quality"]), error=ErrorLabel.parse(row["error"]),
                    rater=_text_cell(row.get("rater")) or "anonymous",
                    seconds=float(row.get("seconds") or 0),
                    time=(row.get("time") or _now()).strip(),
                    comment=_text_cell(row.get("comment")))
            except ValueError as exc:
                raise ScoreKitError(f"{path}, line {line}: {exc}") from None
