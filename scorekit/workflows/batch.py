"""Refine a folder of scans with one model (``scorekit refine --images DIR``).

The model is loaded once. Each case writes ``OUT/<case>.seg.nrrd`` (the refined
segmentation on the image's grid, names and colours kept) and ``OUT/<case>.csv`` (its
rows of the summary), both atomically, the rows last: a case whose rows exist is done and a
second run skips it, so a killed batch resumes. ``shard=(i, n)`` takes every n-th case
starting at the i-th (1-based), so that a scheduler (a Slurm array, several GPUs of one
node) can split a folder; each process then rewrites ``OUT/summary.csv`` from every
finished case under a file lock. A case that fails is named and the others go on.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from scorekit.data.atomic import write_csv_atomic
from scorekit.data.labels import write_labelmap
from scorekit.data.volume import read_volume
from scorekit.devices import resolve_device
from scorekit.errors import ScoreKitError
from scorekit.progress import Progress, Silent
from scorekit.score.choice import refine_as_named
from scorekit.score.model import load_model
from scorekit.score.refine import missing_regions
from scorekit.workflows.intake import CaseFiles, initial_segmentation

SUMMARY = "summary.csv"
COLUMNS = ["case", "region", "volume_before_ml", "volume_after_ml", "change_percent",
           "status"]


@dataclass
class BatchReport:
    refined: list[str] = field(default_factory=list)
    done_before: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped_regions: dict[str, list[str]] = field(default_factory=dict)


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` → (2, 4); refused unless 1 ≤ i ≤ n."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ScoreKitError(f"shard '{text}' is not I/N (e.g. 2/4)") from None
    if not 1 <= index <= count:
        raise ScoreKitError(f"shard '{text}': I must be in 1..N")
    return index, count


def refine_batch(cases: list[CaseFiles], model: str | os.PathLike, out: str | os.PathLike,
                 names: dict[int, str] | None = None, engine: str | None = None,
                 structures: list[str] | None = None, shard: tuple[int, int] = (1, 1),
                 device: str = "auto", progress: Progress | None = None) -> BatchReport:
    """Refine every case of this shard not done yet; see the module doc."""
    progress = progress or Silent()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ScoreKitError(f"{out}: is a file; the output must be a folder")
    out.mkdir(parents=True, exist_ok=True)
    index, count = shard
    mine = cases[index - 1::count]
    report = BatchReport(done_before=[c.id for c in mine if (out / f"{c.id}.csv").exists()])
    todo = [c for c in mine if c.id not in report.done_before]
    if todo:  # the model is loaded once, and only when there is work
        torch_device = resolve_device(device)
        network, config = load_model(model, torch_device)
    progress.start("refine", len(todo), unit="case")
    for files in todo:
        try:
            rows = _refine_one(files, network, config, torch_device, out, names, engine,
                               structures)
            report.refined.append(files.id)
            skipped = [r["region"] for r in rows if r["status"] != "refined"]
            if skipped:
                report.skipped_regions[files.id] = skipped
                progress.log(f"case '{files.id}': no {', '.join(skipped)} in this scan; "
                             "left absent")
        except ScoreKitError as error:
            report.failed[files.id] = str(error)
            progress.log(f"case '{files.id}': {error}")
        progress.advance()
    progress.close()
    write_summary(out)
    return report


def _refine_one(files: CaseFiles, network, config, device, out: Path, names, engine,
                structures) -> list[dict]:
    image = read_volume(files.image)
    initial, _ = initial_segmentation(files, names, structures, engine, device=str(device))
    refined, _ = refine_as_named(image, initial, network, config, device, files.id)
    write_labelmap(refined, out / f"{files.id}.seg.nrrd")
    absent = set(missing_regions(initial, config))
    rows = [{"case": files.id, "region": region, "status": "absent in scan"}
            if region in absent else _change(files.id, region, initial, refined)
            for region in config.regions]
    write_csv_atomic(out / f"{files.id}.csv", rows, COLUMNS)
    return rows


def _change(case_id: str, region: str, initial, refined) -> dict:
    """Volumes in millilitres, each on its own grid (the initial may be on another)."""
    before = float(initial.mask(region).sum()) * initial.geometry.voxel_volume_ml
    after = float(refined.mask(region).sum()) * refined.geometry.voxel_volume_ml
    change = round(100 * (after - before) / before, 2) if before else ""
    return {"case": case_id, "region": region, "volume_before_ml": round(before, 3),
            "volume_after_ml": round(after, 3), "change_percent": change, "status": "refined"}


def write_summary(out: Path) -> Path:
    """``summary.csv``: every finished case's rows, by case."""
    with FileLock(str(out / f".{SUMMARY}.lock"), timeout=60):
        rows = []
        for part in sorted(out.glob("*.csv")):
            if part.name != SUMMARY:
                with open(part, newline="", encoding="utf-8") as f:
                    rows += list(csv.DictReader(f))
        write_csv_atomic(out / SUMMARY, rows, COLUMNS)
    return out / SUMMARY
