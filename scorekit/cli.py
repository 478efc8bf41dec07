"""``scorekit <verb>``: a thin front end over the library calls.

Every verb parses its arguments, calls one library function and prints the result. Bad
input (a :class:`ScoreKitError`) prints one line on stderr and exits 2; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from scorekit import __version__
from scorekit.errors import ScoreKitError
from scorekit.weakstat import cli as weakstat_cli

EXIT_BAD_INPUT = 2
VERBS: dict[str, Callable[[argparse.Namespace], int]] = {}


def verb(name: str):
    """Register ``cmd_<name>`` as the handler of ``scorekit <name>``."""
    def register(function):
        VERBS[name] = function
        return function
    return register


@verb("info")
def cmd_info(args) -> int:
    from scorekit.data.convert import describe, format_description

    info = describe(args.path, args.class_map)
    print(json.dumps(info, indent=1) if args.json else format_description(info))
    return 0


@verb("convert")
def cmd_convert(args) -> int:
    from scorekit.data.convert import convert

    out = convert(args.source, args.target, args.reference, args.class_map)
    print(f"wrote {out}")
    return 0


@verb("phantom")
def cmd_phantom(args) -> int:
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


@verb("segment")
def cmd_segment(args) -> int:
    from scorekit.initial.segment import segment_to_file

    structures = [s.strip() for s in args.structures.split(",") if s.strip()]
    out, empty = segment_to_file(args.image, args.out, structures=structures,
                                 engine=args.engine, fast=args.fast, device=args.device)
    for name in empty:
        print(f"warning: '{name}' came back empty", file=sys.stderr)
    print(f"segmentation written to {out}")
    return 0


@verb("train")
def cmd_train(args) -> int:
    from scorekit.progress import Progress
    from scorekit.score.train import TrainOptions, train

    options = TrainOptions(steps=args.steps, lr=args.lr, patch_size=[args.patch_size] * 3,
                           seed=args.seed, ablation=args.ablation,
                           confine_to_band=not args.no_confine,
                           background_region=args.background_region, method=args.method)
    out = train(args.workspace, args.out, options, device=args.device, resume=args.resume,
                progress=Progress(args.json_progress))
    print(f"model written to {out}")
    return 0


@verb("refine")
def cmd_refine(args) -> int:
    from scorekit.score.refine import refine_files

    out = refine_files(args.image, args.seg, args.model, args.out, device=args.device)
    print(f"refined segmentation written to {out}")
    return 0


@verb("demo")
def cmd_demo(args) -> int:
    from scorekit.demo import run_demo, summary_lines
    from scorekit.progress import Progress

    metrics = run_demo(args.out, quick=args.quick, device=args.device,
                       progress=Progress(args.json_progress))
    print("\n".join(summary_lines(metrics)))
    print(f"outputs in {args.out}: training/ and test/ workspaces, model/, refined/, "
          "metrics.json, refined.png")
    return 0


@verb("ratings")
def cmd_ratings(args) -> int:
    from scorekit.data.ratings import ERROR_NAMES
    from scorekit.data.workspace import Workspace

    workspace = Workspace(args.workspace)
    if args.action == "list":
        for r in workspace.ratings.all():
            print(f"{r.case:<24} {r.region:<24} q={r.score} {ERROR_NAMES[r.error]:<5} {r.rater}")
        return 0
    if not args.csv:
        raise ScoreKitError(f"ratings {args.action} needs a CSV file name")
    if args.action == "export":
        print(f"exported {workspace.ratings.export_csv(args.csv)} ratings to {args.csv}")
    else:
        print(f"imported {workspace.ratings.import_csv(args.csv)} ratings from {args.csv}")
    return 0


@verb("benchmark")
def cmd_benchmark(args) -> int:
    from scorekit.eval.benchmark import run_benchmark
    from scorekit.progress import Progress

    methods = args.methods.split(",") if args.methods else None
    out = run_benchmark(args.suite, args.out, data=args.data, quick=args.quick,
                        device=args.device, progress=Progress(args.json_progress),
                        methods=methods, seed=args.seed)
    for table in ("table1.md", "table2.md"):
        print((out / table).read_text(encoding="utf-8"))
    return 0


@verb("rate")
def cmd_rate(args) -> int:
    from scorekit.web.app import serve

    serve(args.workspace, host=args.host, port=args.port, token=args.token)
    return 0


@verb("weakstat")
def cmd_weakstat(args) -> int:
    from scorekit.weakstat.cli import run

    return run(args)


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when present), cpu, cuda or cuda:N")


def add_json_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json-progress", action="store_true",
                        help="report progress as JSON lines on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scorekit", description="Refine automatic CT segmentations from light feedback.")
    parser.add_argument("--version", action="version", version=f"scorekit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("info", help="describe a volume, label map, .seg.nrrd or DICOM folder")
    p.add_argument("path")
    p.add_argument("--class-map", help="name label values after a TotalSegmentator task "
                                       "(e.g. total)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = verbs.add_parser("convert", help="convert NIfTI / NRRD / MHA / DICOM / .seg.nrrd")
    p.add_argument("source", help="file or DICOM series folder")
    p.add_argument("target", help="output file; the format follows its name")
    p.add_argument("--reference", help="resample onto this image's grid (physical space)")
    p.add_argument("--class-map", help="name label values after a TotalSegmentator task")

    p = verbs.add_parser("phantom", help="write a workspace of synthetic rated cases")
    p.add_argument("--out", required=True, help="workspace folder (created)")
    p.add_argument("--cases", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kind", default="humerus", choices=["humerus"])
    p.add_argument("--fov", default="full", choices=["full", "proximal", "distal"])
    p.add_argument("--error-scale", type=float, default=1.0,
                   help="how far the initial masks' surfaces move, relative to the default")
    add_json_progress(p)

    p = verbs.add_parser("segment", help="initial segmentation (TotalSegmentator or thresholds)")
    p.add_argument("--image", required=True, help="CT volume or DICOM folder")
    p.add_argument("--out", required=True, help="output .seg.nrrd or label map")
    p.add_argument("--engine", choices=["totalsegmentator", "threshold"],
                   help="default: totalsegmentator when installed, else threshold")
    p.add_argument("--structures", default="humerus_left,humerus_right",
                   help="comma-separated class names of TotalSegmentator's total task")
    p.add_argument("--fast", action="store_true", help="TotalSegmentator's 3 mm model")
    add_device(p)

    p = verbs.add_parser("train", help="train a SCORE refinement model from a workspace's "
                                       "ratings")
    p.add_argument("--workspace", required=True)
    p.add_argument("--out", required=True, help="model folder")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (paper: 1e-4)")
    p.add_argument("--patch-size", type=int, default=64, help="cubic patch edge, voxels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ablation", choices=["ternary-labels", "no-stab", "no-prior",
                                          "no-morph-aug"])
    p.add_argument("--no-confine", action="store_true",
                   help="use the prediction everywhere, not only in the correction band")
    p.add_argument("--background-region", action="store_true",
                   help="also learn background as a region whose rating mirrors the others'")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--method", default="score", choices=["score", "post-dae", "post-dae+scan"],
                   help="SCORE (default) or a fully supervised Post-DAE baseline")
    add_device(p)
    add_json_progress(p)

    p = verbs.add_parser("refine", help="refine a segmentation with a trained model")
    p.add_argument("--image", required=True, help="CT volume or DICOM folder")
    p.add_argument("--seg", required=True, help="initial segmentation (.seg.nrrd or label map)")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--out", required=True, help="output .seg.nrrd or label map")
    add_device(p)

    p = verbs.add_parser("demo", help="run the whole job on synthetic phantoms")
    p.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    p.add_argument("--quick", action="store_true", help="fewer cases, shorter run")
    add_device(p)
    add_json_progress(p)

    p = verbs.add_parser("ratings", help="list, import or export a workspace's ratings (CSV)")
    p.add_argument("action", choices=["list", "import", "export"])
    p.add_argument("csv", nargs="?", help="CSV file (import / export)")
    p.add_argument("--workspace", required=True)

    p = verbs.add_parser("benchmark", help="SCORE vs initial, Post-DAE and ablations "
                                           "(results.csv, table1.md, table2.md, plots)")
    p.add_argument("--suite", required=True, choices=["phantom", "verse"])
    p.add_argument("--data", help="verse: folder of *_ct.nii.gz + *_seg-vert_msk.nii.gz")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--quick", action="store_true", help="small, meaningful run (~10 min CPU)")
    p.add_argument("--methods", help="comma-separated subset of the methods")
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    add_json_progress(p)

    p = verbs.add_parser("rate", help="serve the web rating form for a workspace")
    p.add_argument("--workspace", required=True)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default loopback; others need --token)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token", help="secret every request must carry (?token= or X-Token)")

    p = verbs.add_parser("weakstat", help="WeakStatSeg: segmenters from ROI fractions and "
                                          "weak masks (train, segment, benchmark, phantom)")
    weakstat_cli.add_arguments(p, add_device, add_json_progress)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return VERBS[args.verb](args)
    except ScoreKitError as exc:
        if args.debug:
            raise
        print(f"scorekit {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"scorekit {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
