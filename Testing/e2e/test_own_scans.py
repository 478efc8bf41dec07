"""One's own scans, headless, as a user runs them: CT folders in, a trained refiner and
refined masks out (``scorekit workspace add`` → ratings → ``train`` → ``refine --images``).

Real data: the DICOM humerus CT with TotalSegmentator's prediction split into one mask per
structure (as TotalSegmentator writes them, on a grid flipped against the CT's), and the
two VerSe scans, one as a multilabel NIfTI with a JSON sidecar, one as a coloured
``.seg.nrrd``; the second scan shows L4 and L5 only, so the workspace holds cases with
different regions.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap, write_labelmap
from scorekit.data.segnrrd import read_seg_nrrd
from scorekit.data.volume import read_volume
from scorekit.data.workspace import Workspace

LUMBAR = {20: "L1", 21: "L2", 22: "L3", 23: "L4", 24: "L5"}
L4_L5_COLOURS = {23: (0.9, 0.1, 0.2), 24: (0.1, 0.7, 0.3)}


def scorekit(*argv):
    return subprocess.run([sys.executable, "-m", "scorekit", *map(str, argv)],
                          capture_output=True, text=True, timeout=600)


def error_lines(result) -> list[str]:
    """stderr without progress-bar redraws."""
    return [line for line in result.stderr.splitlines() if line and "\r" not in line
            and "%|" not in line]


def tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def own_scans(shared_data, tmp_path_factory) -> Path:
    """``images/`` (a DICOM folder, two NIfTI CTs) and ``segs/`` paired by name."""
    root = tmp_path_factory.mktemp("own")
    images, segs = root / "images", root / "segs"
    images.mkdir()
    segs.mkdir()
    humerus = shared_data / "ct" / "totalseg_dicom_humerus"
    (images / "humerus_ct").symlink_to(humerus / "dicom", target_is_directory=True)
    prediction = read_labelmap(humerus / "example_seg_dicom.nii.gz")
    (segs / "humerus").mkdir()
    for value, name in ((69, "humerus_left"), (70, "humerus_right")):
        mask = LabelMap((prediction.array == value).astype(np.uint8), prediction.geometry,
                        regions={1: name})
        write_labelmap(mask, segs / "humerus" / f"{name}.nii.gz")
    verse = shared_data / "ct" / "verse19"
    for case in ("sub-verse005", "sub-verse006"):
        (images / f"{case}_ct.nii.gz").symlink_to(verse / f"{case}_ct.nii.gz")
    (segs / "sub-verse005_seg-vert_msk.nii.gz").symlink_to(
        verse / "sub-verse005_seg-vert_msk.nii.gz")
    (segs / "sub-verse005_seg-vert_msk.json").write_text(json.dumps(LUMBAR))
    lumbar = read_labelmap(verse / "sub-verse006_seg-vert_msk.nii.gz", LUMBAR)
    write_labelmap(LabelMap(lumbar.array, lumbar.geometry, regions=lumbar.regions,
                            colors=L4_L5_COLOURS), segs / "sub-verse006.seg.nrrd")
    return root


def write_ratings(path: Path, ws: Workspace) -> Path:
    """One rater's ratings of every region: 'both' at quality 3, a scan's last region fine."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["case", "region", "quality", "error", "rater"])
        for case in ws.cases():
            for region in case.regions[:-1]:
                writer.writerow([case.id, region, 3, "both", "dr_a"])
            writer.writerow([case.id, case.regions[-1], 5, "none", "dr_a"])
    return path


def test_from_ct_folders_to_refined_masks(own_scans, tmp_path):
    images, segs, ws_path = own_scans / "images", own_scans / "segs", tmp_path / "W"
    added = scorekit("workspace", "add", ws_path, "--images", images, "--segs", segs)
    assert added.returncode == 0, added.stderr
    ws = Workspace(ws_path)
    assert ws.case_ids() == ["humerus", "sub-verse005", "sub-verse006"]
    assert ws.case("sub-verse006").regions == ["L4", "L5"]
    humerus_ct = read_volume(images / "humerus_ct")
    assert ws.case("humerus").initial().geometry.matches(humerus_ct.geometry)
    assert "already there" in scorekit("workspace", "add", ws_path, "--images", images,
                                       "--segs", segs).stdout

    imported = scorekit("ratings", "import", write_ratings(tmp_path / "r.csv", ws),
                        "--workspace", ws_path)
    assert imported.returncode == 0, imported.stderr
    listing = scorekit("workspace", "list", ws_path).stdout
    assert "sub-verse006\tL4,L5\t2/2" in listing and "humerus\thumerus_left,humerus_right\t2/2" \
        in listing

    trained = scorekit("train", "--workspace", ws_path, "--out", tmp_path / "M", "--steps", 4,
                       "--patch-size", 32, "--device", "cpu")
    assert trained.returncode == 0, trained.stderr

    out = tmp_path / "out"
    refined = scorekit("refine", "--images", images, "--segs", segs, "--model", tmp_path / "M",
                       "--out", out, "--device", "cpu")
    assert refined.returncode == 0, refined.stderr
    assert "case 'sub-verse006': no humerus_left, humerus_right, L1, L2, L3" in refined.stderr
    for case, image in (("humerus", images / "humerus_ct"),
                        ("sub-verse005", images / "sub-verse005_ct.nii.gz"),
                        ("sub-verse006", images / "sub-verse006_ct.nii.gz")):
        output = read_labelmap(out / f"{case}.seg.nrrd")
        assert output.geometry.matches(read_volume(image).geometry), case
        assert output.names == ws.case(case).regions, case
    l4_l5 = read_seg_nrrd(out / "sub-verse006.seg.nrrd")
    for value, name in l4_l5.regions.items():
        colour = L4_L5_COLOURS[23 if name == "L4" else 24]
        assert l4_l5.colors[value] == pytest.approx(colour, abs=1e-3), name
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["case"] for r in rows} == {"humerus", "sub-verse005", "sub-verse006"}
    assert {r["region"] for r in rows if r["status"] == "refined" and r["case"] == "humerus"} \
        == {"humerus_left", "humerus_right"}

    before = tree(out)
    again = scorekit("refine", "--images", images, "--segs", segs, "--model", tmp_path / "M",
                     "--out", out, "--device", "cpu")
    assert "refined 0 case(s), 3 done before" in again.stdout
    assert {k: v for k, v in tree(out).items() if not k.startswith("summary")} == \
        {k: v for k, v in before.items() if not k.startswith("summary")}

    sharded = tmp_path / "sharded"
    for shard in ("2/2", "1/2"):
        part = scorekit("refine", "--images", images, "--segs", segs, "--model",
                        tmp_path / "M", "--out", sharded, "--shard", shard, "--device", "cpu")
        assert part.returncode == 0, part.stderr
        if shard == "2/2":
            assert sorted(p.name for p in sharded.glob("*.seg.nrrd")) == ["sub-verse005.seg.nrrd"]
    assert (sharded / "summary.csv").read_text() == (out / "summary.csv").read_text()


@pytest.fixture()
def one_case_workspace(own_scans, tmp_path) -> Path:
    ws = tmp_path / "W"
    added = scorekit("workspace", "add", ws, "--image",
                     own_scans / "images" / "sub-verse006_ct.nii.gz",
                     "--seg", own_scans / "segs" / "sub-verse006.seg.nrrd")
    assert added.returncode == 0, added.stderr
    return ws


def shifted_mask(own_scans, tmp_path) -> Path:
    """sub-verse006's mask moved 5 m away: a grid that does not overlap its CT."""
    labels = read_labelmap(own_scans / "segs" / "sub-verse006.seg.nrrd")
    geometry = labels.geometry
    far = type(geometry)(geometry.size, geometry.spacing,
                         tuple(o + 5000.0 for o in geometry.origin), geometry.direction)
    return write_labelmap(LabelMap(labels.array, far, regions=labels.regions),
                          tmp_path / "far_away.nii.gz")


@pytest.mark.parametrize("bad, named", [
    ("mask on a grid that does not overlap", "far_away.nii.gz"),
    ("duplicate case id", "sub-verse006"),
    ("unknown structure of the given mask", "sub-verse006.seg.nrrd"),
    ("unknown structure for the engine", "tibia_left"),
])
def test_a_bad_case_gets_one_line_and_leaves_the_workspace_as_it_was(
        bad, named, own_scans, one_case_workspace, tmp_path):
    ct = own_scans / "images" / "sub-verse006_ct.nii.gz"
    seg = own_scans / "segs" / "sub-verse006.seg.nrrd"
    arguments = {
        "mask on a grid that does not overlap": ["--seg", shifted_mask(own_scans, tmp_path),
                                                 "--id", "other"],
        "duplicate case id": ["--seg", seg],
        "unknown structure of the given mask": ["--seg", seg, "--structures", "L4,L9",
                                                "--id", "other"],
        "unknown structure for the engine": ["--engine", "threshold", "--structures",
                                             "tibia_left", "--id", "other"],
    }[bad]
    before = tree(one_case_workspace)
    result = scorekit("workspace", "add", one_case_workspace, "--image", ct, *arguments)
    assert result.returncode == 2, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and named in lines[0], lines
    assert tree(one_case_workspace) == before
    if bad == "duplicate case id":
        return
    assert scorekit("workspace", "add", tmp_path / "new", "--image", ct,
                    *arguments).returncode == 2
    assert not (tmp_path / "new").exists()


def test_a_ct_without_a_mask_in_the_folder_is_named_before_anything_is_written(own_scans,
                                                                              tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for path in (own_scans / "images").iterdir():
        (images / path.name).symlink_to(path.resolve())
    (images / "sub-verse007_ct.nii.gz").symlink_to(
        (own_scans / "images" / "sub-verse006_ct.nii.gz").resolve())
    result = scorekit("workspace", "add", tmp_path / "W", "--images", images, "--segs",
                      own_scans / "segs")
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "sub-verse007_ct.nii.gz" in lines[0], lines
    assert not (tmp_path / "W").exists()


def test_in_a_folder_a_failing_case_is_named_and_the_others_go_on(own_scans, tmp_path):
    images, segs = tmp_path / "images", tmp_path / "segs"
    images.mkdir()
    segs.mkdir()
    (images / "good_ct.nii.gz").symlink_to(
        (own_scans / "images" / "sub-verse006_ct.nii.gz").resolve())
    (segs / "good.seg.nrrd").symlink_to(own_scans / "segs" / "sub-verse006.seg.nrrd")
    (images / "broken_ct.nii.gz").write_bytes(b"not an image")
    (segs / "broken.seg.nrrd").symlink_to(own_scans / "segs" / "sub-verse006.seg.nrrd")
    result = scorekit("workspace", "add", tmp_path / "W", "--images", images, "--segs", segs)
    assert result.returncode == 1
    assert [line for line in error_lines(result) if "broken" in line] == [
        line for line in error_lines(result) if line.startswith("case 'broken'")]
    assert Workspace(tmp_path / "W").case_ids() == ["good"]
    assert not [p for p in (tmp_path / "W" / "cases").iterdir() if p.name.startswith(".")]
