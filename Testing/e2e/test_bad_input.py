"""Bad input, verb by verb, as a user types it: exit status 2, exactly one line on stderr
naming the file / case / region / option, no traceback, and the output folder (with what
was in it before) byte for byte as it was.

The verbs run in this process (``scorekit.cli.main``, the same code as the command) so that
the whole battery stays fast.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from support import two_regions, volume

from scorekit.cli import main
from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import write_labelmap
from scorekit.data.volume import Volume, write_volume

PRE_EXISTING = b"an earlier result that must survive"
ROOT = Path(__file__).resolve().parents[2]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, small_phantom_workspace) -> dict[str, Path]:
    """Good and bad files, made once."""
    root = tmp_path_factory.mktemp("inputs")
    good = write_volume(volume(shape=(6, 8, 10)), root / "good.nii.gz")
    labels = two_regions()
    ct = write_volume(labels.with_array(labels.array.astype(np.int16) * 500), root / "ct.nii.gz")
    seg = write_labelmap(labels, root / "seg.seg.nrrd")
    files = {"good": good, "ct": ct, "seg": seg, "workspace": small_phantom_workspace.path}
    raw = (root / "raw.nii")
    write_volume(volume(shape=(6, 8, 10)), raw)
    data = raw.read_bytes()
    (root / "truncated.nii").write_bytes(data[:-40])
    (root / "truncated.nii.gz").write_bytes(gzip.compress(data[:-40]))
    (root / "cut.nii.gz").write_bytes(good.read_bytes()[:-25])
    huge = bytearray(data)
    huge[40:56] = struct.pack("<8h", 3, 4000, 4000, 100, 1, 1, 1, 1)
    (root / "huge.nii").write_bytes(bytes(huge))
    values = np.arange(480, dtype=np.float32).reshape(6, 8, 10)
    values[2, 3, 4] = np.nan
    for suffix in (".nii", ".nii.gz", ".nrrd", ".mha"):
        write_volume(Volume(values, volume(shape=(6, 8, 10)).geometry), root / f"nan{suffix}")
    values[2, 3, 4] = np.inf
    write_volume(Volume(values, volume(shape=(6, 8, 10)).geometry), root / "inf.nii.gz")
    (root / "empty.nii.gz").write_bytes(b"")
    (root / "text.nii.gz").write_text("not an image\n")
    (root / "notes.nrrd").write_text("NRRD0004\ntype: nonsense\n")
    (root / "nodicom").mkdir()
    (root / "nodicom" / "readme.txt").write_text("no images here")
    far = labels.geometry.__class__(labels.geometry.size, labels.geometry.spacing,
                                    (5000.0, 5000.0, 5000.0), labels.geometry.direction)
    write_labelmap(LabelMap(labels.array, far, labels.regions), root / "far.seg.nrrd")
    bad_csvs = {
        "no_column": "case,region,quality\nx,y,3\n",
        "bad_quality": "case,region,quality,error\n{case},humerus_left,7,under\n",
        "q5_error": "case,region,quality,error\n{case},humerus_left,5,under\n",
        "q3_none": "case,region,quality,error\n{case},humerus_left,3,none\n",
        "unknown_case": "case,region,quality,error\nnobody,humerus_left,3,under\n",
        "unknown_region": "case,region,quality,error\n{case},femur_left,3,under\n",
        "nan_seconds": "case,region,quality,error,seconds\n{case},humerus_left,3,under,nan\n",
        "inf_seconds": "case,region,quality,error,seconds\n{case},humerus_left,3,under,inf\n",
        "negative_seconds": "case,region,quality,error,seconds\n{case},humerus_left,3,under,-4\n",
        "bad_time": "case,region,quality,error,time\n{case},humerus_left,3,under,yesterday\n",
        "short_row": "case,region,quality,error,rater\n{case},humerus_left,3\n",
        "long_row": "case,region,quality,error\n{case},humerus_left,3,under,extra\n",
        "bad_error": "case,region,quality,error\n{case},humerus_left,3,sideways\n",
        "text_quality": "case,region,quality,error\n{case},humerus_left,three,under\n",
    }
    case = small_phantom_workspace.case_ids()[0]
    for name, text in bad_csvs.items():
        (root / f"{name}.csv").write_text(text.format(case=case))
    (root / "latin1.csv").write_bytes(b"case,region,quality,error,rater\n"
                                      + f"{case},humerus_left,3,under,Jos\xe9\n".encode("latin-1"))
    (root / "ws_latin1.csv").write_bytes(b"image,fraction\nJos\xe9.png,0.1\n")
    _earlier_format_inputs(root, small_phantom_workspace.path)
    files["root"] = root
    return files


def _earlier_format_inputs(root: Path, workspace: Path) -> None:
    """Inputs of the second round: workspaces, sidecars, models and scans as people have
    them, broken in the ways they break."""
    import torch
    from safetensors.torch import save_file

    bad_image = shutil.copytree(workspace, root / "badimage_ws")
    case = sorted((bad_image / "cases").iterdir())[0]
    (case / "image.nii.gz").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)  # a picture's bytes
    broken = shutil.copytree(workspace, root / "brokenstore_ws")
    (broken / "ratings.sqlite").write_bytes(b"half a database" * 50)
    unrated = shutil.copytree(workspace, root / "unrated_ws")
    (unrated / "ratings.sqlite").unlink()
    labels = two_regions()
    write_volume(labels.with_array(labels.array), root / "badjson.nii.gz")
    (root / "badjson.json").write_text('{"1": "humerus_left", "2": ')
    (root / "oldmodel").mkdir()
    save_file({"w": torch.zeros(1)}, str(root / "oldmodel" / "weakstat.safetensors"))
    (root / "oldmodel" / "weakstat.json").write_text('{"dims": 2, "size": "abc"}\n')
    sheared = bytearray(write_volume(volume(shape=(6, 8, 10)), root / "raw.nii").read_bytes())
    struct.pack_into("<hh", sheared, 252, 0, 2)  # no qform; the sform alone
    struct.pack_into("<12f", sheared, 280, 1, 0, 0.3, 0, 0, 1, 0, 0, 0, 0, 1, 0)  # 17° tilt
    (root / "sheared.nii").write_bytes(bytes(sheared))


def run(argv: list, capsys) -> tuple[int, list[str]]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse
        code = stop.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "\r" not in line]
    return code, lines


def IN(name):  # a file of the inputs folder, resolved inside the test
    return ("input", name)


def OUT(name):  # a path inside the test's output folder
    return ("output", name)


CASES = [
    # -- reading images --------------------------------------------------------------------
    *[(["info", IN(name)], name) for name in (
        "missing.nii.gz", "empty.nii.gz", "text.nii.gz", "truncated.nii", "truncated.nii.gz",
        "cut.nii.gz", "huge.nii", "nan.nii", "nan.nii.gz", "nan.nrrd", "nan.mha", "inf.nii.gz",
        "notes.nrrd", "nodicom")],
    *[(["convert", IN(name), OUT("out.nii.gz")], name) for name in (
        "missing.nii.gz", "empty.nii.gz", "truncated.nii", "truncated.nii.gz", "huge.nii",
        "nan.nii.gz", "nan.nrrd", "inf.nii.gz", "text.nii.gz", "nodicom")],
    (["convert", IN("good.nii.gz"), OUT("out.png")], "out.png"),
    (["convert", IN("good.nii.gz"), OUT("out.nii.gz"), "--reference", IN("missing.nii.gz")],
     "missing.nii.gz"),
    (["convert", IN("seg.seg.nrrd"), OUT("out.nii.gz"), "--reference", IN("far.seg.nrrd")],
     "overlap"),
    (["convert", IN("good.nii.gz"), OUT("")], "folder"),
    # -- initial segmentation --------------------------------------------------------------
    *[(["segment", "--image", IN(name), "--out", OUT("s.seg.nrrd"), "--engine", "threshold"],
       name) for name in ("missing.nii.gz", "truncated.nii.gz", "nan.nii.gz", "text.nii.gz")],
    (["segment", "--image", IN("ct.nii.gz"), "--out", OUT("s.seg.nrrd"), "--engine", "threshold",
      "--structures", "tibia_left"], "tibia_left"),
    (["segment", "--image", IN("ct.nii.gz"), "--out", OUT("s.seg.nrrd"), "--engine", "magic"],
     "--engine"),
    # -- ratings ---------------------------------------------------------------------------
    *[(["ratings", "import", IN(f"{name}.csv"), "--workspace", OUT("ws")], f"{name}.csv")
      for name in ("missing", "no_column", "bad_quality", "q5_error", "q3_none",
                   "unknown_case", "unknown_region", "nan_seconds", "inf_seconds",
                   "negative_seconds", "bad_time", "short_row", "long_row", "bad_error",
                   "text_quality", "latin1")],
    (["ratings", "list", "--workspace", IN("nowhere")], "nowhere"),
    (["ratings", "export", "--workspace", OUT("ws")], "CSV"),
    # -- training --------------------------------------------------------------------------
    (["train", "--workspace", IN("nowhere"), "--out", OUT("m")], "nowhere"),
    (["train", "--workspace", IN("root"), "--out", OUT("m")], "not a scorekit workspace"),
    *[(["train", "--workspace", OUT("ws"), "--out", OUT("m"), option, value], option)
      for option, value in (("--steps", "0"), ("--steps", "-3"), ("--steps", "many"),
                            ("--lr", "nan"), ("--lr", "-1"), ("--lr", "inf"),
                            ("--patch-size", "0"), ("--patch-size", "12"),
                            ("--method", "magic"), ("--prior", "magic"),
                            ("--ablation", "magic"))],
    (["train", "--workspace", OUT("ws"), "--out", OUT("m"), "--device", "tpu"], "tpu"),
    (["train", "--workspace", OUT("ws"), "--out", OUT("m"), "--resume", "--steps", "1",
      "--device", "cpu", "--checkpoint-every", "1"], "--checkpoint-every"),
    # -- refinement ------------------------------------------------------------------------
    (["refine", "--image", IN("ct.nii.gz"), "--seg", IN("seg.seg.nrrd"), "--model", IN("nowhere"),
      "--out", OUT("r.seg.nrrd")], "nowhere"),
    (["refine", "--image", IN("ct.nii.gz"), "--seg", IN("seg.seg.nrrd"), "--model", IN("root"),
      "--out", OUT("r.seg.nrrd")], "root"),
    (["refine", "--image", IN("ct.nii.gz"), "--model", IN("root"), "--out", OUT("r.seg.nrrd")],
     "--seg"),
    (["refine", "--images", IN("nowhere"), "--model", IN("root"), "--out", OUT("batch")],
     "nowhere"),
    (["refine", "--images", IN("nodicom"), "--segs", IN("nodicom"), "--model", IN("root"),
      "--out", OUT("batch"), "--shard", "3/2"], "shard"),
    # -- workspaces from files -------------------------------------------------------------
    (["workspace", "add", OUT("new"), "--image", IN("ct.nii.gz"), "--seg", IN("far.seg.nrrd")],
     "far.seg.nrrd"),
    (["workspace", "add", OUT("new"), "--image", IN("nan.nii.gz"), "--seg", IN("seg.seg.nrrd")],
     "nan.nii.gz"),
    (["workspace", "add", OUT("new"), "--image", IN("ct.nii.gz"), "--seg", IN("seg.seg.nrrd"),
      "--structures", "humerus_left,femur_left"], "femur_left"),
    (["workspace", "add", OUT("new"), "--image", IN("ct.nii.gz"), "--seg", IN("seg.seg.nrrd"),
      "--id", "bad/id"], "bad/id"),
    (["workspace", "add", OUT("new"), "--images", IN("nowhere"), "--segs", IN("nodicom")],
     "nowhere"),
    (["workspace", "list", IN("nowhere")], "nowhere"),
    *[(["workspace", "add", OUT("new"), "--image", IN(name), "--seg", IN("seg.seg.nrrd")], name)
      for name in ("missing.nii.gz", "empty.nii.gz", "text.nii.gz", "truncated.nii",
                   "truncated.nii.gz", "cut.nii.gz", "huge.nii", "nan.nrrd", "inf.nii.gz",
                   "nodicom")],
    # -- outputs that cannot be written (real system errors, even for root) --------------
    (["convert", IN("good.nii.gz"), OUT("out.nii.gz/x.nii.gz")], "out.nii.gz"),
    (["convert", IN("good.nii.gz"), "/proc/version/x.nii.gz"], "/proc/version"),
    (["workspace", "add", OUT("out.nii.gz"), "--image", IN("ct.nii.gz"), "--seg",
      IN("seg.seg.nrrd")], "out.nii.gz"),
    (["phantom", "--out", OUT("out.nii.gz"), "--cases", "1"], "out.nii.gz"),
    (["ratings", "export", OUT("r.seg.nrrd/ratings.csv"), "--workspace", OUT("ws")],
     "r.seg.nrrd"),
    # -- synthetic data and benchmarks -----------------------------------------------------
    (["phantom", "--out", OUT("p"), "--cases", "0"], "--cases"),
    (["phantom", "--out", OUT("p"), "--error-scale", "nan"], "--error-scale"),
    (["phantom", "--out", OUT("p"), "--error-scale", "-1"], "--error-scale"),
    (["phantom", "--out", OUT("p"), "--fov", "sideways"], "--fov"),
    (["benchmark", "--suite", "nowhere", "--out", OUT("b")], "--suite"),
    (["benchmark", "--suite", "verse", "--data", IN("nodicom"), "--out", OUT("b"), "--quick"],
     "nodicom"),
    # -- WeakStatSeg -----------------------------------------------------------------------
    *[(["weakstat", "train", "--data", IN("missing.csv"), "--out", OUT("w"), option, value],
       option) for option, value in (("--weak-size", "0"), ("--weak-size", "1.5"),
                                     ("--weak-size", "nan"), ("--batch", "0"),
                                     ("--steps", "-1"), ("--lr", "inf"), ("--size", "0"))],
    (["weakstat", "train", "--data", IN("missing.csv"), "--out", OUT("w")], "missing.csv"),
    (["weakstat", "segment", "--model", IN("nowhere"), "--image", IN("good.nii.gz"),
      "--out", OUT("m.nii.gz")], "nowhere"),
    (["weakstat", "segment", "--model", IN("nowhere"), "--image", IN("good.nii.gz"),
      "--out", OUT("m.nii.gz"), "--threshold", "2"], "--threshold"),
    (["weakstat", "phantom", "--out", OUT("u"), "--count", "0"], "--count"),
    # -- the rating form -------------------------------------------------------------------
    (["rate", "--workspace", IN("nowhere")], "nowhere"),
    (["rate", "--workspace", OUT("ws"), "--port", "0"], "--port"),
    (["rate", "--workspace", OUT("ws"), "--port", "70000"], "--port"),
    (["rate", "--workspace", OUT("ws"), "--host", "0.0.0.0"], "--token"),
    (["download-weights", "--structures", "tibia_left"], "tibia_left"),
    # -- round two: what people have, refused early and in one line -------------------------
    (["weakstat", "train", "--data", IN("ws_latin1.csv"), "--out", OUT("w")],
     "ws_latin1.csv: not UTF-8"),
    (["train", "--workspace", IN("badimage_ws"), "--out", OUT("m"), "--device", "cpu"],
     "image.nii.gz: cannot be read"),
    (["train", "--workspace", OUT("ws"), "--out", OUT("m"), "--spacing", "0.001",
      "--device", "cpu"], "GB per float32 volume"),
    (["train", "--workspace", OUT("ws"), "--out", OUT("out.nii.gz"), "--device", "cpu"],
     "out.nii.gz: is a file"),
    (["train", "--workspace", IN("unrated_ws"), "--out", OUT("m"), "--device", "cpu"],
     "no case has ratings"),
    (["workspace", "add", OUT("new"), "--image", IN("ct.nii.gz"), "--seg", IN("badjson.nii.gz")],
     "badjson.json: the region names of badjson.nii.gz are not valid JSON"),
    (["weakstat", "segment", "--model", IN("oldmodel"), "--image", IN("good.nii.gz"),
      "--out", OUT("m.nii.gz")], "weakstat.json: field 'size'"),
    (["weakstat", "phantom", "--out", OUT("ws"), "--count", "1"], "not a lesion dataset"),
    (["weakstat", "phantom", "--out", OUT("out.nii.gz"), "--count", "1"], "is a file"),
    (["refine", "--image", IN("ct.nii.gz"), "--seg", IN("seg.seg.nrrd"), "--model", IN("root"),
      "--out", OUT("r.seg.nrrd"), "--shard", "1/2"], "--shard"),
    (["info", IN("sheared.nii")], "sheared.nii: voxel axes are 16.7° off perpendicular"),
    (["ratings", "list", "--workspace", IN("brokenstore_ws")], "ratings.sqlite: cannot be used"),
    (["workspace", "list", IN("brokenstore_ws")], "ratings.sqlite: cannot be used"),
]


def resolve(argv, inputs: dict, out: Path) -> list:
    resolved = []
    for a in argv:
        if isinstance(a, tuple):
            kind, name = a
            resolved.append(inputs.get(name, inputs["root"] / name) if kind == "input"
                            else out / name)
        else:
            resolved.append(a)
    return resolved


def case_id(index: int, argv: list) -> str:
    words = (str(a[1]) if isinstance(a, tuple) else a for a in argv)
    return f"{index:03d}-{' '.join(words)[:60]}"


@pytest.mark.parametrize("argv, named", CASES,
                         ids=[case_id(i, argv) for i, (argv, _) in enumerate(CASES)])
def test_bad_input_gets_one_line_exit_2_and_changes_nothing(argv, named, inputs, tmp_path,
                                                            capsys):
    out = tmp_path / "out"
    shutil.copytree(inputs["workspace"], out / "ws")  # a real workspace, for verbs that need one
    (out / "out.nii.gz").write_bytes(PRE_EXISTING)  # earlier results that must survive
    (out / "r.seg.nrrd").write_bytes(PRE_EXISTING)
    before = snapshot(out)
    code, lines = run(resolve(argv, inputs, out), capsys)
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert named in lines[0], lines
    assert "Traceback" not in lines[0]
    assert snapshot(out) == before


# -- the rating form's API ------------------------------------------------------------------
RATING = {"region": "humerus_left", "quality": 3, "error": "under"}
API_CASES = [
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"quality": "3"}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"quality": True}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"quality": 3.5}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"quality": 6}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"quality": -1}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"quality": None}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"error": "sideways"}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"error": 1}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"error": "none"}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"quality": 5}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"region": "femur_left"}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"region": 7}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"comment": "x" * 2001}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING | {"extra": 1}]}, 422),
    ({"rater": "r", "seconds": 1, "ratings": []}, 422),
    ({"rater": "r", "seconds": 1, "ratings": "all good"}, 422),
    ({"rater": "", "seconds": 1, "ratings": [RATING]}, 422),
    ({"rater": " ", "seconds": 1, "ratings": [RATING]}, 422),
    ({"rater": 7, "seconds": 1, "ratings": [RATING]}, 422),
    ({"rater": "r" * 201, "seconds": 1, "ratings": [RATING]}, 422),
    ({"rater": "r", "seconds": -1, "ratings": [RATING]}, 422),
    ({"rater": "r", "seconds": "1", "ratings": [RATING]}, 422),
    ({"rater": "r", "seconds": 10 ** 9, "ratings": [RATING]}, 422),
    ({"seconds": 1, "ratings": [RATING]}, 422),
    ({"rater": "r", "ratings": [RATING]}, 422),
    ({"rater": "r", "seconds": 1}, 422),
    ([RATING], 422),
    ("not json at all", 422),
    ('{"rater": "r", "seconds": NaN, "ratings": []}', 422),
    ('{"rater": "r", "seconds": Infinity, "ratings": []}', 422),
    ({"rater": "r", "seconds": 1, "ratings": [RATING] * 501}, 422),
    (b"x" * (300 * 1024), 413),
]


@pytest.fixture()
def api(small_phantom_workspace, tmp_path):
    from fastapi.testclient import TestClient

    from scorekit.data.workspace import Workspace
    from scorekit.web.app import create_app

    copy = Workspace(shutil.copytree(small_phantom_workspace.path, tmp_path / "ws"))
    copy.ratings.path.unlink(missing_ok=True)
    return TestClient(create_app(copy.path), base_url="http://localhost"), copy


@pytest.mark.parametrize("body, status", API_CASES, ids=[f"api-{i:02d}" for i in
                                                           range(len(API_CASES))])
def test_bad_ratings_through_the_api_get_a_short_answer_and_store_nothing(api, body, status):
    client, ws = api
    case = ws.case_ids()[0]
    before = snapshot(ws.path)
    kwargs = ({"json": body} if not isinstance(body, (str, bytes)) else
              {"content": body, "headers": {"content-type": "application/json"}})
    response = client.post(f"/api/cases/{case}/ratings", **kwargs)
    assert response.status_code == status, response.text[:300]
    assert len(response.content) < 2000  # no echo of what was sent
    assert snapshot(ws.path) == before


@pytest.mark.parametrize("path, status", [
    ("/api/cases/nobody", 404), ("/api/cases/../etc", 404),
    ("/api/cases/{case}/slice/axial/99999.png", 404),
    ("/api/cases/{case}/slice/sideways/0.png", 404),
    ("/api/cases/{case}/slice/axial/0.png?preset=neon", 404),
    ("/api/cases/{case}/slice/axial/0.png?contours=7", 422),
    ("/api/cases/{case}/slice/axial/-1.png", 404),
    ("/static/../app.py", 404), ("/static/index.html", 404),
])
def test_bad_requests_for_views_get_a_clean_status(api, path, status):
    client, ws = api
    response = client.get(path.format(case=ws.case_ids()[0]))
    assert response.status_code == status, response.text[:300]


@pytest.mark.parametrize("name", ["ratings.sqlite", "ratings.sqlite.lock"])
def test_a_ratings_store_or_lock_file_that_is_a_link_is_refused(inputs, tmp_path, capsys,
                                                                name):
    ws = shutil.copytree(inputs["workspace"], tmp_path / "ws")
    target = tmp_path / "elsewhere.txt"
    target.write_text("not scorekit's")
    (ws / name).unlink(missing_ok=True)
    (ws / name).symlink_to(target)
    case = sorted(p.name for p in (ws / "cases").iterdir())[0]
    (tmp_path / "r.csv").write_text(f"case,region,quality,error\n{case},humerus_left,3,under\n")
    before = snapshot(ws)
    code, lines = run(["ratings", "import", tmp_path / "r.csv", "--workspace", ws], capsys)
    assert code == 2 and len(lines) == 1 and f"{name}:" in lines[0], lines
    assert snapshot(ws) == before and target.read_text() == "not scorekit's"


def test_a_pickle_where_a_checkpoint_should_be_is_refused(inputs, tmp_path, capsys):
    import torch

    model = tmp_path / "m"
    model.mkdir()
    torch.save({"model.x": torch.zeros(1)}, model / "checkpoint_latest.safetensors")
    before = snapshot(model)
    code, lines = run(["train", "--workspace", inputs["workspace"], "--out", model,
                       "--resume", "--steps", "2", "--patch-size", "32", "--device", "cpu"],
                      capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "checkpoint_latest.safetensors" in lines[0] and "Traceback" not in lines[0]
    assert snapshot(model) == before


@pytest.mark.parametrize("verb", [
    ["convert", "{good}", "{locked}/out.nii.gz"],
    ["phantom", "--out", "{locked}/ws", "--cases", "1"],
    ["workspace", "add", "{locked}/ws", "--image", "{good}", "--seg", "{seg}"],
])
def test_as_another_user_a_folder_one_may_not_write_gets_one_line(inputs, verb):
    """Permission errors as a user meets them: root may write anywhere, so the verb runs as
    'nobody' (uid 65534) when this process is root."""
    import subprocess
    import sys
    import tempfile

    root = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        root.chmod(0o755)
        for name in ("good", "seg"):
            shutil.copy(inputs[name], root / inputs[name].name)
            (root / inputs[name].name).chmod(0o644)
        locked = root / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        argv = [a.format(good=root / inputs["good"].name, seg=root / inputs["seg"].name,
                         locked=locked) for a in verb]
        as_nobody = ({"user": 65534, "group": 65534, "extra_groups": []}
                     if os.geteuid() == 0 else {})
        try:
            result = subprocess.run([sys.executable, "-m", "scorekit", *argv],
                                    capture_output=True, text=True, timeout=300, cwd=root,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)}, **as_nobody)
        except PermissionError:
            pytest.skip("no other user may run this Python here (its folder is private)")
        if result.returncode != 2 and "Permission denied" in result.stderr and \
                "python" in result.stderr.lower():
            pytest.skip("no other user may run this Python here (its folder is private)")
        lines = [x for x in result.stderr.splitlines() if x.strip() and "\r" not in x]
        assert result.returncode == 2, result.stderr
        assert len(lines) == 1 and "locked" in lines[0] and "ermission" in lines[0], lines
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_rating_form_on_a_port_in_use_is_refused_in_one_line(inputs, capsys):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, lines = run(["rate", "--workspace", inputs["workspace"], "--port", port], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert f"port {port} on 127.0.0.1 is in use" in lines[0]


def test_download_weights_offline_errs_on_a_line_of_its_own_and_leaves_no_folder(
        tmp_path, capsys, monkeypatch):
    pytest.importorskip("totalsegmentator")
    weights = tmp_path / "new" / "weights"
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(weights))
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")  # nothing listens: offline, at once
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    code, lines = run(["download-weights", "--structures", "humerus_left"], capsys)
    errors = [line for line in lines if "error:" in line]
    assert code == 2 and len(errors) == 1, lines
    assert errors[0].startswith("scorekit download-weights: error: could not download")
    assert not (tmp_path / "new").exists()
