"""``scorekit weakstat train | pretrain | segment | benchmark | phantom``."""

from __future__ import annotations

from pathlib import Path

from scorekit import registry
from scorekit.cli.verbs import (
    VERBS,
    Verbs,
    add_device,
    add_json_progress,
    comma_list,
    count,
    fraction,
    positive,
)
from scorekit.errors import ScoreKitError

ACTIONS = Verbs()


def _train_arguments(p) -> None:
    p.add_argument("--data", required=True, help="CSV (image,mask[,fraction,weak_mask]) or "
                                                 "folder with images/ and masks/")
    p.add_argument("--out", required=True, help="model folder")
    p.add_argument("--losses", default=",".join(registry.WEAKSTAT_DEFAULT_LOSSES),
                   help=f"any of {', '.join(registry.WEAKSTAT_LOSSES)} (confidence + "
                        "reconstruction always on)")
    p.add_argument("--weak-size", type=fraction, default=None,
                   help="make weak masks of this share of each reference ROI (paper: "
                        + ", ".join(map(str, registry.WEAKSTAT_WEAK_SIZES))
                        + "); default: the dataset's weak masks, else "
                        + str(registry.WEAKSTAT_WEAK_SIZE))
    p.add_argument("--backbone", help="2D: " + ", ".join(registry.WEAKSTAT_BACKBONES[2])
                   + "; 3D: " + ", ".join(registry.WEAKSTAT_BACKBONES[3]) + " (first: default)")
    p.add_argument("--size", type=count(8), nargs="+", help="training grid, e.g. 256 256")
    p.add_argument("--steps", type=count(1), default=registry.WEAKSTAT_STEPS)
    p.add_argument("--batch", type=count(1), default=8)
    p.add_argument("--lr", type=positive, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--largest-slice", action="store_true",
                   help="volumes: train on each one's slice with the largest ROI (2D protocol)")
    p.add_argument("--backbone-weights", help="local .safetensors backbone weights")
    _add_structures(p)
    _add_priors(p)
    add_device(p)
    add_json_progress(p)


def _add_structures(p) -> None:
    p.add_argument("--structures", help="a folder of CT + label map + names (<case>_ct, "
                                        "<case>_seg, <case>_seg.json): the structures to "
                                        "cut one cube each around, comma-separated "
                                        "(default: those at least two cases name)")


def _add_priors(p) -> None:
    p.add_argument("--priors", default=",".join(registry.WEAKSTAT_PRIORS),
                   help="spatial priors, any of " + ", ".join(registry.WEAKSTAT_PRIORS)
                        + " ('none' for the paper's losses alone; see docs/weakstatseg.md)")
    p.add_argument("--roi-contrast", choices=registry.WEAKSTAT_ROI_CONTRASTS,
                   default=registry.WEAKSTAT_ROI_CONTRASTS[0],
                   help="the ROI against its surroundings, for the contrast prior: darker "
                        "(breast lesions in ultrasound) or brighter (bone in CT)")


def _priors(text: str) -> list[str]:
    return [] if text.strip() == "none" else comma_list(text)


@ACTIONS.verb("train", "train a segmenter from ROI fractions + weak masks", _train_arguments)
def train(args) -> int:
    from scorekit.progress import Progress
    from scorekit.weakstat.train import train_model

    out = train_model(args.data, args.out, losses=comma_list(args.losses),
                      weak_size=args.weak_size, backbone=args.backbone, size=args.size,
                      steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                      largest_slice=args.largest_slice, backbone_weights=args.backbone_weights,
                      device=args.device, progress=Progress(args.json_progress),
                      priors=_priors(args.priors), roi_contrast=args.roi_contrast,
                      structures=comma_list(args.structures) or None)
    print(f"model written to {out}")
    return 0


def _pretrain_arguments(p) -> None:
    p.add_argument("--data", required=True, help="training images: a dataset (CSV or folder "
                                                 "with images/) or a folder of images; masks "
                                                 "are never read")
    p.add_argument("--out", required=True, help="weights file (.safetensors), for "
                                                "--backbone-weights")
    p.add_argument("--backbone", help="as for train")
    p.add_argument("--size", type=count(8), nargs="+", help="grid, e.g. 256 256")
    p.add_argument("--steps", type=count(1), default=registry.WEAKSTAT_STEPS)
    p.add_argument("--batch", type=count(1), default=8)
    p.add_argument("--lr", type=positive, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    add_json_progress(p)


@ACTIONS.verb("pretrain", "self-supervised pretraining on images alone (masked "
                          "reconstruction)", _pretrain_arguments)
def pretrain(args) -> int:
    from scorekit.progress import Progress
    from scorekit.weakstat.pretrain import pretrain_model

    out = pretrain_model(args.data, args.out, backbone=args.backbone, size=args.size,
                         steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                         device=args.device, progress=Progress(args.json_progress))
    print(f"pretrained weights written to {out} (use them with --backbone-weights)")
    return 0


def _segment_arguments(p) -> None:
    p.add_argument("--model", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True, help="mask file: PNG for pictures, else NIfTI/NRRD")
    p.add_argument("--threshold", type=fraction, default=0.5)
    add_device(p)


@ACTIONS.verb("segment", "segment an image with a trained model", _segment_arguments)
def segment(args) -> int:
    from scorekit.weakstat.train import segment_file

    out, share = segment_file(args.model, args.image, args.out, args.threshold, args.device)
    print(f"mask written to {out} ({100 * share:.1f} % of the image)")
    return 0


def _benchmark_arguments(p) -> None:
    from scorekit.experiments.weakstat_configs import CONFIGS

    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="folder for results.csv, table.md, overlays.png")
    p.add_argument("--quick", action="store_true",
                   help="a small UNet, 2D at 96x96 for 300 steps, 3D at 64^3 for 400 "
                        "(default: 2D the plan of weakstat train, a UNet at 128x128 for "
                        f"{registry.WEAKSTAT_STEPS} steps; 3D a UNet at 64^3 for 1500)")
    p.add_argument("--folds", type=count(2),
                   help="K-fold cross-validation by patient (the dataset's own folds where "
                        "it names K); default: one held-out split")
    p.add_argument("--pretrain", action="store_true",
                   help="pretrain on each fold's training images first (masked "
                        "reconstruction, no masks)")
    p.add_argument("--configs", help="comma-separated subset of "
                   + ", ".join(CONFIGS).replace("%", "%%"))  # argparse formats help with %
    p.add_argument("--steps", type=count(1), help="override the plan's steps")
    p.add_argument("--largest-slice", action="store_true")
    p.add_argument("--backbone-weights")
    p.add_argument("--seed", type=int, default=0)
    _add_structures(p)
    _add_priors(p)
    add_device(p)
    add_json_progress(p)


@ACTIONS.verb("benchmark", "the loss ablation, IoU on held-out images", _benchmark_arguments)
def benchmark(args) -> int:
    from scorekit.experiments.weakstat import run_weakstat_benchmark
    from scorekit.progress import Progress

    out = run_weakstat_benchmark(args.data, args.out, quick=args.quick, device=args.device,
                                 progress=Progress(args.json_progress),
                                 configs=comma_list(args.configs) or None, steps=args.steps,
                                 seed=args.seed, largest_slice=args.largest_slice,
                                 backbone_weights=args.backbone_weights, folds=args.folds,
                                 pretrain=args.pretrain, priors=_priors(args.priors),
                                 roi_contrast=args.roi_contrast,
                                 structures=comma_list(args.structures) or None)
    print((out / "table.md").read_text(encoding="utf-8"))
    return 0


def _phantom_arguments(p) -> None:
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=count(1), default=24)
    p.add_argument("--seed", type=int, default=0)


DATASET_FOLDERS = {"images", "masks"}  # what a lesion dataset folder holds


def _phantom_folder(out: Path) -> Path:
    """A new or empty folder, or a lesion dataset to add images to; nothing else."""
    if out.exists() and not out.is_dir():
        raise ScoreKitError(f"{out}: is a file; give a folder for the lesion dataset")
    held = {p.name for p in out.iterdir()} if out.exists() else set()
    if held - DATASET_FOLDERS:
        raise ScoreKitError(f"{out}: folder is not empty and is not a lesion dataset (it "
                            f"holds {', '.join(sorted(held - DATASET_FOLDERS)[:3])}); choose "
                            "an empty or new folder")
    return out


@ACTIONS.verb("phantom", "write synthetic ultrasound lesion images + masks", _phantom_arguments)
def phantom(args) -> int:
    from scorekit.synth.ultrasound import write_lesion_dataset

    out = write_lesion_dataset(_phantom_folder(Path(args.out)), args.count, args.seed)
    print(f"{args.count} ultrasound-like lesion images in {out}/images, masks in {out}/masks")
    return 0


@VERBS.verb("weakstat", "WeakStatSeg: segmenters from ROI fractions and weak masks (train, "
                        "pretrain, segment, benchmark, phantom)",
            lambda parser: ACTIONS.add_to(parser, "action"))
def weakstat(args) -> int:
    return ACTIONS.run(args.action, args)
