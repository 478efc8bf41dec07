"""Small builders the tests share (fixtures are in the conftest.py files)."""

from __future__ import annotations

import csv
import json

import numpy as np
from PIL import Image

from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Geometry, Volume

# Training options small enough for CPU tests (SCORE and its baselines).
SCORE_TINY = dict(patch_size=[32, 32, 32], features=[8, 16, 32], validate_every=5,
                  checkpoint_every=5)

# An oblique, anisotropic grid so that any axis or sign mix-up shows.
GEOMETRY = Geometry((30, 20, 10), (0.8, 0.9, 2.5), (-12.0, 40.0, -300.0),
                    (1.0, 0, 0, 0, 0.8, -0.6, 0, 0.6, 0.8))


def volume(shape=(4, 5, 6), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)) -> Volume:
    """Voxel values 0, 1, 2, ... in array order on an axis-aligned grid."""
    geometry = Geometry(shape[::-1], spacing, origin, (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    return Volume(np.arange(np.prod(shape), dtype=np.int16).reshape(shape), geometry)


def two_regions() -> LabelMap:
    """Two named, coloured boxes on ``GEOMETRY``."""
    array = np.zeros(GEOMETRY.shape, np.uint8)
    array[2:5, 3:9, 4:10] = 1
    array[6:8, 10:15, 20:25] = 2
    return LabelMap(array, GEOMETRY, regions={1: "humerus_left", 2: "humerus_right"},
                    colors={1: (1.0, 0.5, 0.0), 2: (0.0, 0.25, 1.0)})


def write_picture(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# -- files as earlier versions wrote them ------------------------------------------------
# Ratings as plain tuples (case, region, quality, error as -1/0/1/2, rater, seconds, time,
# comment), written the way each earlier format did, byte for byte.
LEGACY_FIELDS = ("case", "region", "quality", "error", "rater", "seconds", "time", "comment")
ERROR_NAMES = {-1: "under", 0: "none", 1: "over", 2: "both"}


def write_ratings_json(path, ratings, version: int):
    """``ratings.json`` of format 1 (quality named ``score``) or 2: sorted by (case,
    region, rater), one JSON document indented by one space."""
    name = "score" if version == 1 else "quality"
    records = sorted(ratings, key=lambda r: (r[0], r[1], r[4]))
    payload = {"version": version,
               "ratings": [dict(zip([name if f == "quality" else f for f in LEGACY_FIELDS], r))
                           for r in records]}
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return path


def write_ratings_csv_v1(path, ratings, line_end="\r\n"):
    """A ratings export from before the quality was renamed: header ``score``, error labels
    by name (csv.DictWriter's "\\r\\n" at first, then "\\n")."""
    columns = ["case", "region", "score", "error", "rater", "seconds", "time", "comment"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator=line_end)
        writer.writeheader()
        for r in ratings:
            writer.writerow(dict(zip(columns, r)) | {"error": ERROR_NAMES[r[3]]})
    return path
