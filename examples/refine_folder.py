"""Segment and refine every CT in a folder with a trained SCORE model, headless.

In Slicer (the module's logic on the application's scene)::

    Slicer --no-main-window --python-script examples/refine_folder.py \\
        --ct-dir CTs --model MODEL --out OUT [--engine threshold] [--device cpu]

In plain Python with the ``slicer-core`` wheel, the same script::

    python examples/refine_folder.py --ct-dir CTs --model MODEL --out OUT

For each ``CTs/<name>.nii.gz`` (or .nrrd, .mha, DICOM folder) it writes
``OUT/<name>.initial.seg.nrrd`` and ``OUT/<name>.refined.seg.nrrd`` and prints the
per-segment change. A case that fails is reported by name; the others go on; the exit
code is 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct-dir", required=True, type=Path)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--structures", default="humerus_left,humerus_right")
    parser.add_argument("--engine", choices=["totalsegmentator", "threshold"])
    parser.add_argument("--device", default="auto")
    return parser.parse_args(argv)


def ct_inputs(folder: Path) -> list[Path]:
    """Image files and DICOM series folders directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir()
                  if (p.is_file() and p.name.endswith(IMAGE_SUFFIXES)
                      and not p.name.endswith(".seg.nrrd")) or p.is_dir())


def case_name(path: Path) -> str:
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def refine_folder(args: argparse.Namespace) -> int:
    from SCORERefineLib.logic import RefineLogic
    from SCORESlicerLib.mrml import save_segmentation, standalone_scene

    scene = standalone_scene()
    structures = args.structures.split(",")
    failed = []
    for path in ct_inputs(args.ct_dir):
        name = case_name(path)
        try:
            volume = RefineLogic.load_ct(path, name)
            initial = RefineLogic.segment(volume, structures, engine=args.engine,
                                          device=args.device)
            refined, changes = RefineLogic.refine(volume, initial, args.model,
                                                  device=args.device)
            save_segmentation(initial, args.out / f"{name}.initial.seg.nrrd")
            save_segmentation(refined, args.out / f"{name}.refined.seg.nrrd")
        except Exception as error:  # one bad case must not stop the batch
            print(f"{name}: FAILED: {error}", file=sys.stderr)
            failed.append(name)
            continue
        finally:
            scene.Clear(False)
        for change in changes:
            print(f"{name}\t{change.name}\t{change.initial_ml:.1f} ml -> "
                  f"{change.refined_ml:.1f} ml\tDice vs initial {change.dice:.3f}")
    return 1 if failed else 0


def main() -> None:
    here = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(here), str(here / "SCORERefine")]  # a source checkout
    code = refine_folder(parse_args(sys.argv[1:]))
    import slicer

    if hasattr(slicer, "app"):
        slicer.util.exit(code)  # ends the application started with --python-script
    sys.exit(code)


if __name__ == "__main__":
    main()
