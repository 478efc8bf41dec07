"""Light feedback: one quality score and one error label per (case, region, rater).

The SCORE rating of a region is a quality ``score`` q in 0..5 (5 = excellent) and an
``error`` label l: -1 under-segmented, 1 over-segmented, 2 both, 0 none. A rating is valid
only when q = 5 ⇔ l = 0 (a perfect region has no error; an imperfect one has one).

:class:`RatingStore` keeps them in one JSON file. Every change is made under a file lock
and written atomically, so two raters saving at once lose nothing and a killed process
never leaves a half-written file. A rater re-rating a region replaces their own record.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock

from scorekit.data.atomic import csv_text, write_text_atomic
from scorekit.errors import ScoreKitError

UNDER, NONE, OVER, BOTH = -1, 0, 1, 2
ERROR_NAMES = {UNDER: "under", NONE: "none", OVER: "over", BOTH: "both"}
CSV_COLUMNS = ["case", "region", "score", "error", "rater", "seconds", "time", "comment"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_error_label(value: str | int) -> int:
    """``'under'`` / ``'-1'`` / ``-1`` → -1, and so on for over, both, none."""
    text = str(value).strip().lower()
    for label, name in ERROR_NAMES.items():
        if text in (name, str(label)):
            return label
    raise ValueError(f"error label '{value}' is not one of under, over, both, none")


@dataclass(frozen=True)
class Rating:
    case: str
    region: str
    score: int
    error: int
    rater: str = "anonymous"
    seconds: float = 0.0
    time: str = field(default_factory=_now)
    comment: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.case, self.region, self.rater)

    def problem(self) -> str | None:
        """Why this rating is invalid, or None."""
        if not isinstance(self.score, int) or not 0 <= self.score <= 5:
            return f"quality score {self.score!r} is not an integer in 0..5"
        if self.error not in ERROR_NAMES:
            return f"error label {self.error!r} is not one of -1, 0, 1, 2"
        if self.score == 5 and self.error != NONE:
            return f"quality 5 means no error, but the error label is {ERROR_NAMES[self.error]}"
        if self.score < 5 and self.error == NONE:
            return f"quality {self.score} < 5 needs an error label (under, over or both)"
        if self.seconds < 0:
            return f"seconds spent {self.seconds} is negative"
        if not self.rater.strip():
            return "rater name is empty"
        return None


# Given a case id, the region names it has (raises ScoreKitError for an unknown case).
RegionLookup = Callable[[str], list[str]]


class RatingStore:
    """All ratings of a workspace, in ``path`` (JSON), guarded by ``path.lock``."""

    def __init__(self, path: str | os.PathLike, regions_of: RegionLookup):
        self.path = Path(path)
        self._regions_of = regions_of
        self._lock = FileLock(str(self.path) + ".lock", timeout=60)

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
        with self._lock:
            merged = {r.key: r for r in self._read()}
            merged.update({r.key: r for r in ratings})
            records = sorted(merged.values(), key=lambda r: r.key)
            payload = {"version": 1, "ratings": [asdict(r) for r in records]}
            write_text_atomic(self.path, json.dumps(payload, indent=1) + "\n")
        return len(ratings)

    def _read(self) -> list[Rating]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [Rating(**record) for record in data["ratings"]]
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
        """Import a CSV with columns case, region, score, error (rater, seconds, time,
        comment optional); one bad row refuses the whole file."""
        return self.put(read_ratings_csv(path))


def _as_csv(records: list[Rating]) -> str:
    return csv_text([asdict(r) | {"error": ERROR_NAMES[r.error]} for r in records], CSV_COLUMNS)


def read_ratings_csv(path: str | os.PathLike) -> list[Rating]:
    path = Path(path)
    if not path.exists():
        raise ScoreKitError(f"{path}: no such file")
    ratings = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"case", "region", "score", "error"} - set(reader.fieldnames or [])
        if missing:
            raise ScoreKitError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            try:
                ratings.append(Rating(
                    case=row["case"].strip(), region=row["region"].strip(),
                    score=int(row["score"]), error=parse_error_label(row["error"]),
                    rater=(row.get("rater") or "anonymous").strip(),
                    seconds=float(row.get("seconds") or 0),
                    time=(row.get("time") or _now()).strip(),
                    comment=(row.get("comment") or "").strip()))
            except ValueError as exc:
                raise ScoreKitError(f"{path}, line {line}: {exc}") from None
    return ratings
