"""The README's "On your own scans" commands, timed on real CTs.

    python benchmarks/bench_own_scans.py [--quick] [--device cpu]
    python benchmarks/bench_own_scans.py --images CTs --segs MASKS   # any folder pair

By default the folders are made from ``../shared/data/ct``: the DICOM humerus CT with
TotalSegmentator's prediction split into one mask per structure, and the VerSe scans with
their multilabel masks (a JSON sidecar names L1..L5). Ratings stand in for a rater's
(every region "both", quality 3) so that training can run; the figures are the command
line's wall times, imports included.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchcli import bench_parser

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap, write_labelmap
from scorekit.data.workspace import Workspace

SHARED_CT = Path(__file__).resolve().parents[2] / "shared/data/ct"
LUMBAR = {20: "L1", 21: "L2", 22: "L3", 23: "L4", 24: "L5"}


def shared_folders(ct: Path, root: Path) -> tuple[Path, Path]:
    """``images/`` and ``segs/`` paired by name, from the shared real CTs."""
    images, segs = root / "images", root / "segs"
    (segs / "humerus").mkdir(parents=True)
    images.mkdir()
    humerus = ct / "totalseg_dicom_humerus"
    (images / "humerus_ct").symlink_to(humerus / "dicom", target_is_directory=True)
    prediction = read_labelmap(humerus / "example_seg_dicom.nii.gz")
    for value, name in ((69, "humerus_left"), (70, "humerus_right")):
        write_labelmap(LabelMap((prediction.array == value).astype(np.uint8),
                                prediction.geometry, regions={1: name}),
                       segs / "humerus" / f"{name}.nii.gz")
    for ct_file in sorted((ct / "verse19").glob("*_ct.nii.gz")):
        case = ct_file.name.removesuffix("_ct.nii.gz")
        (images / ct_file.name).symlink_to(ct_file)
        (segs / f"{case}_seg-vert_msk.nii.gz").symlink_to(
            ct_file.with_name(f"{case}_seg-vert_msk.nii.gz"))
        (segs / f"{case}_seg-vert_msk.json").write_text(json.dumps(LUMBAR))
    return images, segs


def timed(*argv) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scorekit", *map(str, argv)], check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - start


def stand_in_ratings(ws: Path, path: Path) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["case", "region", "quality", "error", "rater"])
        for case in Workspace(ws).cases():
            writer.writerows([case.id, region, 3, "both", "bench"] for region in case.regions)
    return path


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="60 training steps instead of 300")
    parser.add_argument("--images", type=Path, help="a folder of CTs (default: shared data)")
    parser.add_argument("--segs", type=Path, help="their segmentations, paired by name")
    args = parser.parse_args(argv)
    if args.images is None and not (SHARED_CT / "verse19").is_dir():
        print(f"own scans: skipped, no data at {SHARED_CT}")
        return {}
    steps = 60 if args.quick else 300
    with tempfile.TemporaryDirectory(prefix="scorekit-bench-own-") as tmp:
        root = Path(tmp)
        images, segs = ((args.images, args.segs) if args.images else
                        shared_folders(SHARED_CT, root))
        ws, model, out = root / "W", root / "model", root / "refined"
        figures = {"add_s": timed("workspace", "add", ws, "--images", images, "--segs", segs)}
        if args.images is None:  # the DICOM CT alone, segmented by the threshold engine
            figures["add_threshold_s"] = timed("workspace", "add", root / "T", "--image",
                                               images / "humerus_ct", "--engine", "threshold")
        timed("ratings", "import", stand_in_ratings(ws, root / "r.csv"), "--workspace", ws)
        figures["cases"] = len(Workspace(ws).case_ids())
        figures["train_s"] = timed("train", "--workspace", ws, "--out", model, "--steps", steps,
                                   "--device", args.device)
        refine = ("refine", "--images", images, "--segs", segs, "--model", model, "--out", out,
                  "--device", args.device)
        figures["refine_s"], figures["second_run_s"] = timed(*refine), timed(*refine)
    engine = (f" (the DICOM CT with the threshold engine {figures['add_threshold_s']:.1f} s)"
              if "add_threshold_s" in figures else "")
    print(f"own scans ({figures['cases']} cases): workspace add {figures['add_s']:.1f} s"
          f"{engine}, train {steps} steps {figures['train_s']:.0f} s, refine --images "
          f"{figures['refine_s']:.1f} s, a second run (all skipped) "
          f"{figures['second_run_s']:.1f} s")
    return figures | {"steps": steps}


if __name__ == "__main__":
    main()
