"""The ratings store at study scale: a million ratings (1,000 scans × 100 regions × 10
raters) imported from CSV, a rating-form save, ``workspace list`` and ``ratings export``.

    python benchmarks/bench_ratings.py [--cases 1000] [--quick] [--work DIR]

Import, list and export run as the commands a user types (``scorekit ...`` in a child
process: interpreter start included), with the child's peak memory; the form save is the
web form's POST of one case's 100 regions, in process (FastAPI's test client), the median
of 20 saves onto a full store. The cases hold only ``case.json``: none of the timed steps
reads an image. --quick: 100 scans (10⁵ ratings).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchcli import bench_parser

from scorekit.data.workspace import Workspace

REGIONS, RATERS = 100, 10
ERRORS = ("under", "over", "both")


def make_workspace(folder: Path, cases: int) -> Workspace:
    shutil.rmtree(folder, ignore_errors=True)
    ws = Workspace.create(folder)
    regions = [f"structure_{k:03d}" for k in range(REGIONS)]
    for c in range(cases):
        case = folder / "cases" / f"scan{c:04d}"
        case.mkdir(parents=True)
        (case / "case.json").write_text(json.dumps({"regions": regions}) + "\n")
    return ws


def write_csv(path: Path, cases: int) -> int:
    rows = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("case,region,quality,error,rater,seconds,time,comment\n")
        for c in range(cases):
            for k in range(REGIONS):
                for r in range(RATERS):
                    quality = (c + k + r) % 6
                    error = "none" if quality == 5 else ERRORS[(c + r) % 3]
                    f.write(f"scan{c:04d},structure_{k:03d},{quality},{error},rater{r},"
                            f"{(k % 30) + 0.5},2026-01-02T03:04:05+00:00,\n")
                    rows += 1
    return rows


# Runs the command line, then reports the process's peak memory. VmHWM, not ru_maxrss: a
# child's ru_maxrss starts from what its parent (this benchmark) held when it forked.
CHILD = ("import sys, re\nfrom scorekit.cli import main\ncode = main(sys.argv[1:])\n"
         "status = open('/proc/self/status').read()\n"
         "print('peak_kb', re.search(r'VmHWM:\\s+(\\d+)', status)[1], file=sys.stderr)\n"
         "sys.exit(code)")


def command(*args) -> tuple[float, float]:
    """Seconds and peak memory (MB; Linux) of ``scorekit args`` in a child process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return seconds, int(done.stderr.split("peak_kb")[-1]) / 1024


def form_save_ms(ws: Workspace, saves: int = 20) -> float:
    from fastapi.testclient import TestClient

    from scorekit.web.app import create_app

    client = TestClient(create_app(ws.path), base_url="http://localhost")
    regions = ws.case(ws.case_ids()[0]).regions
    times = []
    for i in range(saves):
        body = {"rater": f"form{i % 3}", "seconds": 60.0, "ratings": [
            {"region": name, "quality": 3, "error": "under", "comment": ""} for name in regions]}
        start = time.perf_counter()
        response = client.post(f"/api/cases/{ws.case_ids()[i % 7]}/ratings", json=body)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return 1000 * statistics.median(times)


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="100 scans (10⁵ ratings) instead of 1,000")
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--work", default="/tmp/scorekit-bench-ratings")
    args = parser.parse_args(argv)
    cases = 100 if args.quick else args.cases
    work = Path(args.work)
    ws = make_workspace(work / "ws", cases)
    ratings = write_csv(work / "ratings.csv", cases)
    import_s, import_mb = command("ratings", "import", work / "ratings.csv",
                                  "--workspace", ws.path)
    save_ms = form_save_ms(ws)
    list_s, list_mb = command("workspace", "list", ws.path)
    export_s, _ = command("ratings", "export", work / "export.csv", "--workspace", ws.path)
    stats = {"ratings": ratings, "import_s": import_s, "import_peak_mb": import_mb,
             "form_save_ms": save_ms, "list_s": list_s, "list_peak_mb": list_mb,
             "export_s": export_s, "store_mb": ws.ratings.path.stat().st_size / 1e6}
    print(f"ratings store, {ratings:,} ratings ({cases} scans × {REGIONS} regions × {RATERS} "
          f"raters): import {import_s:.1f} s (peak {import_mb:.0f} MB), form save of "
          f"{REGIONS} regions {save_ms:.0f} ms, workspace list {list_s:.2f} s "
          f"(peak {list_mb:.0f} MB), export {export_s:.1f} s, database "
          f"{stats['store_mb']:.0f} MB")
    return stats


if __name__ == "__main__":
    main()
