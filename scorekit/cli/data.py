"""``scorekit info | convert | ratings``: files and ratings."""

from __future__ import annotations

import json

from scorekit.cli.verbs import VERBS
from scorekit.errors import ScoreKitError


def class_map_names(name: str | None) -> dict[int, str] | None:
    """Region names of a TotalSegmentator task, for ``--class-map``."""
    if not name:
        return None
    from scorekit.initial.totalseg import class_map_names as names_of

    return names_of(name)


def _class_map_argument(parser) -> None:
    parser.add_argument("--class-map", help="name label values after a TotalSegmentator task "
                                            "(e.g. total)")


def _info_arguments(p) -> None:
    p.add_argument("path")
    _class_map_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")


@VERBS.verb("info", "describe a volume, label map, .seg.nrrd or DICOM folder", _info_arguments)
def info(args) -> int:
    from scorekit.data.convert import describe

    description = describe(args.path, class_map_names(args.class_map))
    print(json.dumps(description, indent=1) if args.json else format_description(description))
    return 0


def format_description(info: dict) -> str:
    """``describe``'s result for the terminal."""
    lines = [
        f"{info['path']}  ({info['kind']})",
        f"  size       {' × '.join(map(str, info['size']))} voxels",
        f"  spacing    {' × '.join(f'{s:.4f}' for s in info['spacing'])} mm",
        f"  origin     ({', '.join(f'{o:.3f}' for o in info['origin'])}) mm, LPS",
        f"  direction  {' '.join(f'{d:g}' for d in info['direction'])}",
        f"  dtype      {info['dtype']}",
        f"  range      {info['range'][0]:g} .. {info['range'][1]:g}",
    ]
    if "regions" in info:
        lines.append(f"  regions    {len(info['regions'])}")
        lines += [f"    {r['value']:>5}  {r['name']:<28} {r['voxels']:>10} vox  "
                  f"{r['volume_ml']:>10.3f} ml" for r in info["regions"]]
    return "\n".join(lines)


def _convert_arguments(p) -> None:
    p.add_argument("source", help="file or DICOM series folder")
    p.add_argument("target", help="output file; the format follows its name")
    p.add_argument("--reference", help="resample onto this image's grid (physical space)")
    _class_map_argument(p)


@VERBS.verb("convert", "convert NIfTI / NRRD / MHA / DICOM / .seg.nrrd", _convert_arguments)
def convert(args) -> int:
    from scorekit.data.convert import convert

    out = convert(args.source, args.target, args.reference, class_map_names(args.class_map))
    print(f"wrote {out}")
    return 0


def _ratings_arguments(p) -> None:
    p.add_argument("action", choices=["list", "import", "export"])
    p.add_argument("csv", nargs="?", help="CSV file (import / export)")
    p.add_argument("--workspace", required=True)


@VERBS.verb("ratings", "list, import or export a workspace's ratings (CSV)", _ratings_arguments)
def ratings(args) -> int:
    from scorekit.data.workspace import Workspace

    workspace = Workspace(args.workspace)
    if args.action == "list":
        for r in workspace.ratings.all():
            print(f"{r.case:<24} {r.region:<24} q={r.quality} {r.error_label.label:<5} "
                  f"{r.rater}")
        return 0
    if not args.csv:
        raise ScoreKitError(f"ratings {args.action} needs a CSV file name")
    if args.action == "export":
        print(f"exported {workspace.ratings.export_csv(args.csv)} ratings to {args.csv}")
    else:
        print(f"imported {workspace.ratings.import_csv(args.csv)} ratings from {args.csv}")
    return 0
