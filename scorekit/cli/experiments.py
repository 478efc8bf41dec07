"""``scorekit phantom | demo | benchmark``: synthetic data, the demo, the benchmark suites."""

from __future__ import annotations

import numpy as np

from scorekit import registry
from scorekit.cli.verbs import (
    VERBS,
    add_device,
    add_json_progress,
    comma_list,
    count,
    non_negative,
)


def _phantom_arguments(p) -> None:
    p.add_argument("--out", required=True, help="workspace folder (created)")
    p.add_argument("--cases", type=count(1), default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kind", default="humerus", choices=["humerus"])
    p.add_argument("--fov", default="full", choices=["full", "proximal", "distal"])
    p.add_argument("--error-scale", type=non_negative, default=1.0,
                   help="how far the initial masks' surfaces move, relative to the default")
    add_json_progress(p)


@VERBS.verb("phantom", "write a workspace of synthetic rated cases", _phantom_arguments)
def phantom(args) -> int:
    from scorekit.progress import Progress
    from scorekit.synth import write_phantom_workspace

    workspace = write_phantom_workspace(args.out, cases=args.cases, seed=args.seed,
                                        kind=args.kind, fov=args.fov,
                                        error_scale=args.error_scale,
                                        progress=Progress(args.json_progress))
    ratings = workspace.ratings.all()
    print(f"wrote {len(workspace.case_ids())} cases and {len(ratings)} simulated ratings "
          f"to {workspace.path}")
    return 0


def _demo_arguments(p) -> None:
    p.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    p.add_argument("--quick", action="store_true", help="fewer cases, shorter run")
    add_device(p)
    add_json_progress(p)


@VERBS.verb("demo", "run the whole job on synthetic phantoms", _demo_arguments)
def demo(args) -> int:
    from scorekit.experiments.demo import run_demo
    from scorekit.progress import Progress

    metrics = run_demo(args.out, quick=args.quick, device=args.device,
                       progress=Progress(args.json_progress))
    print("\n".join(summary_lines(metrics)))
    print(f"outputs in {args.out}: training/ and test/ workspaces, model/, refined/, "
          "metrics.json, refined.png")
    return 0


def summary_lines(metrics: dict) -> list[str]:
    """The demo's metrics as a terminal table, with the mean over all regions."""
    lines = [f"{'case':<18} {'region':<14} {'Dice before':>11} {'after':>7} "
             f"{'HD95 before':>11} {'after':>7}"]
    rows = [(c, r, m) for c, regions in metrics.items() for r, m in regions.items()]
    for case, region, m in rows:
        lines.append(f"{case:<18} {region:<14} {m['dice_before']:>11.3f} {m['dice_after']:>7.3f}"
                     f" {_mm(m['hd95_before']):>11} {_mm(m['hd95_after']):>7}")
    mean = {k: np.mean([m[k] for *_, m in rows if m[k] is not None])
            for k in ("dice_before", "dice_after", "hd95_before", "hd95_after")}
    lines.append(f"{'mean':<33} {mean['dice_before']:>11.3f} {mean['dice_after']:>7.3f} "
                 f"{mean['hd95_before']:>11.2f} {mean['hd95_after']:>7.2f}")
    return lines


def _mm(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _benchmark_arguments(p) -> None:
    p.add_argument("--suite", required=True, choices=registry.SUITES)
    p.add_argument("--data", help="verse: folder of *_ct.nii.gz + *_seg-vert_msk.nii.gz; "
                                  "folder: <case>_ct.nii.gz + <case>_seg.nii.gz + "
                                  "<case>_seg.json per case")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--quick", action="store_true", help="small, meaningful run (~10 min CPU)")
    p.add_argument("--methods", help="comma-separated subset of "
                                     + ", ".join(registry.BENCHMARK_METHODS))
    p.add_argument("--initial", default=registry.INITIAL_KINDS[0],
                   help="real suites: the initial masks, " + " or ".join(registry.INITIAL_KINDS)
                        + " (default: a model's errors at the scan's resolution), or a "
                          "folder of <case>.nii.gz + names or <case>.seg.nrrd")
    p.add_argument("--structures", help="real suites: comma-separated structure names "
                                        "(folder default: those two or more cases show)")
    p.add_argument("--folds", type=count(2),
                   help="real suites: K-fold cross-validation by case (default: "
                        "leave-one-case-out)")
    p.add_argument("--external", action="append", default=[], metavar="NAME=FOLDER",
                   help="score FOLDER/<case>.nii.gz (any label format) as method NAME; "
                        "repeatable")
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    add_json_progress(p)


@VERBS.verb("benchmark", "SCORE vs initial, Post-DAE and ablations (results.csv, table1.md, "
                         "table2.md, plots)", _benchmark_arguments)
def benchmark(args) -> int:
    from scorekit.experiments.refinement import run_refinement_benchmark
    from scorekit.progress import Progress

    out = run_refinement_benchmark(args.suite, args.out, data=args.data, quick=args.quick,
                                   device=args.device, progress=Progress(args.json_progress),
                                   methods=comma_list(args.methods) or None, seed=args.seed,
                                   initial=args.initial, external=args.external,
                                   structures=comma_list(args.structures) or None,
                                   folds=args.folds)
    for table in ("table1.md", "table2.md"):
        print((out / table).read_text(encoding="utf-8"))
    return 0
