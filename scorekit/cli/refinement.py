"""``scorekit segment | train | refine``: initial segmentation, training, refinement."""

from __future__ import annotations

import sys
from pathlib import Path

from scorekit import registry
from scorekit.cli.data import class_map_names
from scorekit.cli.verbs import (
    VERBS,
    add_device,
    add_json_progress,
    comma_list,
    count,
    patch_edge,
    positive,
)
from scorekit.cli.workflows import EXIT_SOME_FAILED, add_case_arguments, case_files
from scorekit.errors import ScoreKitError


def _segment_arguments(p) -> None:
    p.add_argument("--image", required=True, help="CT volume or DICOM folder")
    p.add_argument("--out", required=True, help="output .seg.nrrd or label map")
    p.add_argument("--engine", choices=list(registry.ENGINES),
                   help="default: totalsegmentator when installed, else threshold")
    _structure_arguments(p)
    add_device(p)
    add_json_progress(p)


def _structure_arguments(p) -> None:
    """What decides which TotalSegmentator models run: the classes and the resolution."""
    p.add_argument("--structures", default=",".join(registry.DEFAULT_STRUCTURES),
                   help="comma-separated class names of TotalSegmentator's total task")
    p.add_argument("--fast", action="store_true", help="TotalSegmentator's 3 mm model")


@VERBS.verb("segment", "initial segmentation (TotalSegmentator or thresholds)",
            _segment_arguments)
def segment(args) -> int:
    from scorekit.initial.segment import segment_to_file
    from scorekit.progress import Progress

    out, empty = segment_to_file(args.image, args.out, Progress(args.json_progress),
                                 structures=comma_list(args.structures), engine=args.engine,
                                 fast=args.fast, device=args.device)
    for name in empty:
        print(f"warning: '{name}' came back empty", file=sys.stderr)
    print(f"segmentation written to {out}")
    return 0


def _download_arguments(p) -> None:
    _structure_arguments(p)
    add_json_progress(p)


@VERBS.verb("download-weights", "download the TotalSegmentator weights `segment` needs",
            _download_arguments)
def download_weights(args) -> int:
    from scorekit.initial.totalseg import download_weights, weights_dir
    from scorekit.progress import Progress

    fetched = download_weights(comma_list(args.structures), args.fast,
                               Progress(args.json_progress))
    print(f"{len(fetched)} model(s) downloaded; weights in {weights_dir()}")
    return 0


def _train_arguments(p) -> None:
    p.add_argument("--workspace", required=True)
    p.add_argument("--out", required=True, help="model folder")
    p.add_argument("--steps", type=count(1), default=registry.TRAINING_STEPS)
    p.add_argument("--lr", type=positive, default=registry.LEARNING_RATE,
                   help=f"Adam learning rate (paper: {registry.LEARNING_RATE:g})")
    p.add_argument("--patch-size", type=patch_edge, default=registry.PATCH_SIZE,
                   help="cubic patch edge, voxels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default=registry.DEFAULT_METHOD, choices=list(registry.METHODS),
                   help="SCORE (default) or a fully supervised Post-DAE baseline")
    p.add_argument("--ablation", choices=registry.ABLATIONS)
    p.add_argument("--prior", default=registry.DEFAULT_PRIOR, choices=list(registry.PRIORS),
                   help="boundary prior P")
    p.add_argument("--no-confine", action="store_true",
                   help="use the prediction everywhere, not only in the correction band")
    p.add_argument("--background-region", action="store_true",
                   help="also learn background as a region whose rating mirrors the others'")
    p.add_argument("--spacing", type=positive, metavar="MM",
                   help="working grid's isotropic voxel (default: the median of the training "
                        "scans' finest voxel edges)")
    p.add_argument("--gated-labels", action="store_true",
                   help="the loss sees only the rated directions the learned gate allows")
    p.add_argument("--hold-band", action="store_true",
                   help="regions rated perfect are also held at 0 just outside their masks")
    p.add_argument("--region-free", action="store_true",
                   help="one network for every region, applied to each region alone "
                        "(measured to lose to the learned gate, and its verdict can be "
                        "wrong: docs/evaluation.md)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    add_device(p)
    add_json_progress(p)


@VERBS.verb("train", "train a SCORE refinement model from a workspace's ratings",
            _train_arguments)
def train(args) -> int:
    from scorekit.progress import Progress
    from scorekit.score.trainer import TrainOptions, train

    options = TrainOptions(steps=args.steps, lr=args.lr, patch_size=[args.patch_size] * 3,
                           seed=args.seed, ablation=args.ablation, prior=args.prior,
                           confine_to_band=not args.no_confine,
                           background_region=args.background_region, method=args.method,
                           spacing_mm=args.spacing, gated_labels=args.gated_labels,
                           hold_band=args.hold_band, region_free=args.region_free)
    out = train(args.workspace, args.out, options, device=args.device, resume=args.resume,
                progress=Progress(args.json_progress))
    from scorekit.score.model import load_config
    from scorekit.score.verdict import describe

    print(f"model written to {out}")
    print(f"verdict: {describe(load_config(out).training.get('verdict'))}")
    return 0


def _refine_arguments(p) -> None:
    add_case_arguments(p)
    p.add_argument("--model", help="model folder (not needed by prior-only and "
                                   "rating-guided-prior)")
    p.add_argument("--method", default="auto", choices=registry.REFINE_METHODS,
                   help="auto (default): what the model's verdict names; model: its network; "
                        "learned-gate: the prior where the model's gate allows; prior-only: "
                        "the prior in every band, no model; rating-guided-prior: the prior "
                        "where this scan's ratings (--workspace, --case) say it is wrong")
    p.add_argument("--workspace", help="the workspace holding this scan's ratings (needed by "
                                       "rating-guided-prior; with a model, its learned gate "
                                       "then also follows them)")
    p.add_argument("--case", help="the case id of this scan's ratings in --workspace")
    p.add_argument("--out", required=True,
                   help="with --image: output .seg.nrrd or label map; with --images: a folder")
    p.add_argument("--shard", default="1/1",
                   help="I/N: refine every N-th case from the I-th (split a folder between "
                        "processes)")
    p.add_argument("--strict", action="store_true",
                   help="refuse a model whose go / no-go verdict after training was no-go")
    add_device(p)
    add_json_progress(p)


@VERBS.verb("refine", "refine a segmentation, or a folder of CTs, with a trained model",
            _refine_arguments)
def refine(args) -> int:
    if args.images:
        return _refine_folder(args)
    if args.shard != "1/1":
        raise ScoreKitError("--shard splits a folder (--images) between processes; "
                            "refine --image refines one scan")
    if not args.seg:
        raise ScoreKitError("refine --image needs --seg (or give a folder with --images)")
    if args.method in registry.NO_LEARNING:
        return _refine_without_model(args)
    if not args.model:
        raise ScoreKitError(f"refine --method {args.method} needs --model")
    check_verdict(args.model, args.strict)
    from scorekit.progress import Progress
    from scorekit.score.refine import refine_files

    ratings = _one_raters_ratings(args.workspace, args.case) if args.workspace else None
    out, missing, used = refine_files(args.image, args.seg, args.model, args.out,
                                      device=args.device, method=args.method, ratings=ratings,
                                      progress=Progress(args.json_progress))
    for region in missing:
        print(f"warning: {args.seg} has no '{region}'; it stays absent", file=sys.stderr)
    print(f"refined with {_why(args.model, used, args.method, ratings is not None)}")
    print(f"refined segmentation written to {out}")
    return 0


def _why(model: str, used: str, method: str, rated: bool) -> str:
    """One line: which refinement ran, and why."""
    from scorekit.score.model import load_config
    from scorekit.score.verdict import describe_use

    if method != "auto":
        return f"{used} (asked for with --method)"
    if rated and used.endswith("+ratings"):
        return f"{used} (this scan is rated: the learned gate where its ratings agree)"
    return describe_use(load_config(model).training.get("verdict"))


def _refine_without_model(args) -> int:
    """``--method prior-only | rating-guided-prior``: no model, no training."""
    from scorekit.data.labels import read_labelmap, write_labelmap
    from scorekit.data.volume import read_volume
    from scorekit.progress import Progress
    from scorekit.score.prior_refine import prior_only, rating_guided_prior
    from scorekit.score.refine import REFINE_STEPS

    if args.method in registry.NEEDS_RATINGS and not (args.workspace and args.case):
        raise ScoreKitError(f"refine --method {args.method} needs --workspace and --case "
                            "(whose ratings guide it)")
    progress = Progress(args.json_progress)
    image, initial = read_volume(args.image), read_labelmap(args.seg)
    progress.step("refine", REFINE_STEPS, "read")
    if args.method in registry.NEEDS_RATINGS:
        ratings = _one_raters_ratings(args.workspace, args.case)
        refined = rating_guided_prior(image, initial, ratings, f"case '{args.case}'")
    else:
        refined = prior_only(image, initial, str(args.seg))
    progress.step("refine", REFINE_STEPS, args.method)
    out = write_labelmap(refined, args.out)
    progress.step("refine", REFINE_STEPS, "write")
    progress.close()
    print(f"refined with {args.method} (no model)")
    print(f"refined segmentation written to {out}")
    return 0


def _one_raters_ratings(workspace: str, case: str | None) -> list:
    """The ratings of ``case`` by its first rater in the workspace (by name)."""
    from scorekit.data.workspace import Workspace

    if not case:
        raise ScoreKitError("refine --workspace needs --case (whose ratings to follow)")
    ratings = Workspace(workspace).ratings.all(case)
    if not ratings:
        raise ScoreKitError(f"{workspace}: case '{case}' has no ratings")
    rater = min(r.rater for r in ratings)
    return [r for r in ratings if r.rater == rater]


def check_verdict(model: str, strict: bool) -> None:
    """Warn about (or, ``strict``, refuse) a model whose verdict was no-go."""
    from scorekit.score.model import load_config
    from scorekit.score.verdict import describe

    verdict = load_config(model).training.get("verdict")  # the config inside the weights
    if verdict is None or verdict["go"]:
        return
    if strict:
        raise ScoreKitError(f"{model}: {describe(verdict)}; --strict refuses it")
    print(f"warning: {model}: {describe(verdict)}; the refined masks may be worse than the "
          "initial ones", file=sys.stderr)


def _refine_folder(args) -> int:
    if args.method != "auto" or not args.model:
        raise ScoreKitError("refine --images refines with a model (--model) as its verdict "
                            "names; --method applies to --image alone")
    from scorekit.progress import Progress
    from scorekit.workflows.batch import parse_shard, refine_batch

    shard = parse_shard(args.shard)
    cases = case_files(args)
    check_verdict(args.model, args.strict)
    report = refine_batch(cases, args.model, args.out,
                          class_map_names(args.class_map), args.engine,
                          comma_list(args.structures) or None, shard, args.device,
                          Progress(args.json_progress))
    print(f"{args.out}: refined {len(report.refined)} case(s)"
          + (f", {len(report.done_before)} done before" if report.done_before else "")
          + (f"; failed (named above): {', '.join(report.failed)}" if report.failed else "")
          + f"; summary in {Path(args.out) / 'summary.csv'}")
    return EXIT_SOME_FAILED if report.failed else 0
