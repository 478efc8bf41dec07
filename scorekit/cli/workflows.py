"""``scorekit workspace add | list``: one's own scans into a workspace; the case-selection
arguments that ``scorekit refine`` shares."""

from __future__ import annotations

from pathlib import Path

from scorekit import registry
from scorekit.cli.data import class_map_names
from scorekit.cli.verbs import VERBS, Verbs, add_device, add_json_progress, comma_list
from scorekit.errors import ScoreKitError

ACTIONS = Verbs()
EXIT_SOME_FAILED = 1


def add_case_arguments(p) -> None:
    """Where the cases come from: one image or a folder, with segmentations or an engine."""
    images = p.add_mutually_exclusive_group(required=True)
    images.add_argument("--image", help="one CT: a volume file or a DICOM series folder")
    images.add_argument("--images", help="a folder of CTs (volume files, DICOM folders)")
    segs = p.add_mutually_exclusive_group()
    segs.add_argument("--seg", help="initial segmentation of --image: a label map, .seg.nrrd "
                                    "or a folder of one mask per structure")
    segs.add_argument("--segs", help="a folder of segmentations paired with --images by name")
    segs.add_argument("--engine", choices=list(registry.ENGINES),
                      help="segment the CTs (default when no segmentation is given: "
                           "totalsegmentator when installed, else threshold)")
    p.add_argument("--structures", help="comma-separated regions to keep (default: all of a "
                                        "given segmentation; the engine's defaults: "
                                        f"{','.join(registry.DEFAULT_STRUCTURES)})")
    p.add_argument("--class-map", help="name label values after a TotalSegmentator task "
                                       "(e.g. total)")


def case_files(args, references: bool = False) -> list:
    """The :class:`CaseFiles` the arguments describe."""
    from scorekit.workflows.intake import IMAGE_ROLE, CaseFiles, case_files_in, pairing_key

    if args.images:
        if args.seg:
            raise ScoreKitError("--seg goes with --image; with --images give --segs")
        return case_files_in(Path(args.images), _path(args.segs),
                             _path(args.references) if references else None)
    if args.segs:
        raise ScoreKitError("--segs goes with --images; with --image give --seg")
    image = Path(args.image)
    case_id = getattr(args, "id", None) or registry.case_id_from_name(
        pairing_key(image, IMAGE_ROLE))
    reference = _path(args.reference) if references else None
    return [CaseFiles(case_id, image, _path(args.seg), reference)]


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


def _add_arguments(p) -> None:
    p.add_argument("workspace", help="workspace folder (created if needed)")
    add_case_arguments(p)
    p.add_argument("--reference", help="reference segmentation of --image (evaluation only)")
    p.add_argument("--references", help="a folder of reference segmentations, paired by name")
    p.add_argument("--id", help="case id of --image (default: from its file name)")
    p.add_argument("--fast", action="store_true", help="TotalSegmentator's 3 mm model")
    add_device(p)
    add_json_progress(p)


@ACTIONS.verb("add", "add CTs with their initial segmentation (given, or from an engine)",
              _add_arguments)
def add(args) -> int:
    from scorekit.progress import Progress
    from scorekit.workflows.intake import add_cases

    cases = case_files(args, references=True)
    report = add_cases(args.workspace, cases, class_map_names(args.class_map),
                       comma_list(args.structures) or None, args.engine, args.fast,
                       args.device, skip_present=bool(args.images),
                       progress=Progress(args.json_progress) if args.images else None)
    if args.image and report.failed:  # one case: its reason is the error
        raise ScoreKitError(next(iter(report.failed.values())))
    print(f"{args.workspace}: added {len(report.added)} case(s)"
          + (f", {len(report.present)} already there" if report.present else "")
          + (f"; failed (named above): {', '.join(report.failed)}" if report.failed else ""))
    return EXIT_SOME_FAILED if report.failed else 0


def _list_arguments(p) -> None:
    p.add_argument("workspace")


@ACTIONS.verb("list", "cases, their regions and rating progress per rater", _list_arguments)
def list_cases(args) -> int:
    from scorekit.data.workspace import Workspace
    from scorekit.workflows.intake import rating_progress

    rows = rating_progress(Workspace(args.workspace))
    raters = sorted({rater for row in rows for rater in row["rated"]})
    print("\t".join(["case", "regions", *(f"rated by {r}" for r in raters)]))
    for row in rows:
        done = [f"{row['rated'][r]}/{len(row['regions'])}" for r in raters]
        print("\t".join([row["case"], ",".join(row["regions"]), *done]))
    print(f"{len(rows)} case(s); {len(raters)} rater(s)")
    return 0


@VERBS.verb("workspace", "put your own CTs into a workspace (add) and see it (list)",
            lambda parser: ACTIONS.add_to(parser, "action"))
def workspace(args) -> int:
    return ACTIONS.run(args.action, args)
