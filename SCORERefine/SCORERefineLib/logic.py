"""What the SCORERefine module does, without Qt or dialogs.

Every long step runs ``scorekit`` in a child process (``scorekit.jobs``) and reports through
``on_progress(ProgressState)`` / ``on_log(str)`` callbacks, so the same calls serve the
widget, ``PythonSlicer`` scripts, ``Slicer --no-main-window`` batches and tests on a
``slicer-core`` scene.

Ratings live on the segments as tags (``SCORE.quality``, ``SCORE.error``, ``SCORE.seconds``,
``SCORE.rater``), so they are saved with the scene, and are written to a workspace for
training. Slicer stores a segment's tags as ``key:value|`` with no escaping, so values are
percent-encoded (a rater called "Dr. A|B: C" would otherwise break the saved file).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import slicer
import vtk

from scorekit import jobs
from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap
from scorekit.data.ratings import ErrorLabel, Rating
from scorekit.data.volume import read_volume
from scorekit.data.workspace import Case, Workspace
from scorekit.errors import ScoreKitError
from scorekit.metrics import dice
from scorekit.registry import CHECKPOINT, DEFAULT_STRUCTURES, PATCH_SIZE, TRAINING_STEPS
from scorekit.score.verdict import describe, read_verdict
from SCORESlicerLib.handover import (
    occupied_box,
    place,
    placed_segments,
    seg_nrrd_steps,
    union,
    volume_node_steps,
)
from SCORESlicerLib.mrml import (
    add_segmentation_node,
    add_volume_node,
    empty_segments,
    labelmap_from_segmentation_node,
    segments,
    show_in_3d,
    volume_from_node,
)
from SCORESlicerLib.pending import PendingResult

TAG = "SCORE."
# One warm `scorekit worker` per Slicer session: the first refinement starts it, later ones
# skip importing torch and loading the model (it ends with Slicer).
REFINER = jobs.Worker()
TAG_KEYS = ("quality", "error", "seconds", "rater")


@dataclass(frozen=True)
class SegmentChange:
    """One row of the refinement table: how a segment changed."""

    name: str
    initial_ml: float
    refined_ml: float
    dice: float

    @property
    def change_percent(self) -> float:
        if self.initial_ml == 0:
            return 0.0 if self.refined_ml == 0 else float("inf")
        return 100.0 * (self.refined_ml - self.initial_ml) / self.initial_ml


# -- ratings as segment tags -------------------------------------------------------------------
def set_rating(segmentation_node, segment_id: str, quality: int, error: int | str,
               seconds: float = 0.0, rater: str = "anonymous") -> Rating:
    """Validate (quality 5 ⇔ no error) and store a rating on a segment."""
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    if segment is None:
        raise ScoreKitError(f"segment '{segment_id}': not in {segmentation_node.GetName()}")
    rating = Rating("", segment.GetName(), int(quality), ErrorLabel.parse(error), rater,
                    float(seconds))
    if (problem := rating.problem()) is not None:
        raise ScoreKitError(f"segment '{segment.GetName()}': {problem}")
    values = (rating.quality, rating.error_label.label, f"{rating.seconds:.1f}", rating.rater)
    for key, value in zip(TAG_KEYS, values):
        segment.SetTag(TAG + key, quote(str(value), safe=""))
    return rating


def rating_of(segment, case_id: str = "") -> Rating | None:
    """The rating stored on a segment (for ``case_id``), or None when it is not rated."""
    tags = {}
    for key in TAG_KEYS:
        value = vtk.reference("")
        if segment.GetTag(TAG + key, value):
            tags[key] = unquote(str(value))
    if "quality" not in tags or "error" not in tags:
        return None
    return Rating(case_id, segment.GetName(), int(tags["quality"]),
                  ErrorLabel.parse(tags["error"]), tags.get("rater", "anonymous"),
                  float(tags.get("seconds", 0)))


def ratings_of(segmentation_node, case_id: str) -> list[Rating]:
    """Every rated segment of a node, as workspace ratings of ``case_id``."""
    return [r for r in (rating_of(s, case_id) for s in segments(segmentation_node).values())
            if r is not None]


class RatingClock:
    """Seconds a rater spends on each segment: from entering its row to leaving it, summed
    over visits, whichever widget of the row is used (``now`` is injectable for tests)."""

    def __init__(self, spent: dict[str, float] | None = None, now=time.monotonic):
        self._now = now
        self._current: str | None = None
        self._since = 0.0
        self._spent = dict(spent or {})  # earlier sessions' seconds, from the tags

    def enter(self, segment_id: str) -> None:
        if segment_id != self._current:
            self.leave()
            self._current, self._since = segment_id, self._now()

    def leave(self) -> None:
        if self._current is not None:
            self._spent[self._current] = self.spent(self._current)
            self._current = None

    def spent(self, segment_id: str) -> float:
        running = self._now() - self._since if segment_id == self._current else 0.0
        return self._spent.get(segment_id, 0.0) + running


def centre_views_on(segmentation_node, segment_id: str) -> tuple | None:
    """Centre every slice view on a segment (the one being rated); its centre in RAS."""
    centre = segmentation_node.GetSegmentCenterRAS(segment_id)
    if centre is None:
        return None
    slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, *centre,
                                          slicer.vtkMRMLSliceNode.CenteredJumpSlice)
    return tuple(centre)


def unrated_segments(segmentation_node) -> list[str]:
    return [s.GetName() for s in segments(segmentation_node).values() if rating_of(s) is None]


# -- the logic ---------------------------------------------------------------------------------
class RefineLogic:
    """SCORERefine's operations; the module's Logic class is this plus Slicer's base."""

    empty_segments = staticmethod(empty_segments)

    # - initial segmentation -
    @staticmethod
    def load_ct(path: str | os.PathLike, name: str | None = None):
        """A CT file or DICOM series folder as a scalar volume node."""
        volume = read_volume(path)
        return add_volume_node(volume, name or Path(path).name.split(".")[0])

    @staticmethod
    def load_sample(seed: int = 1):
        """A synthetic CT of both humeri and a flawed initial segmentation of them (what
        TotalSegmentator might give), to try the module without a scan: (volume, initial)."""
        from scorekit.synth.errors import simulate_initial
        from scorekit.synth.humerus import humerus_phantom

        phantom = humerus_phantom(seed=seed, size_xy=192, slices=160,
                                  spacing=(2.0, 2.0, 2.0))
        initial, _ = simulate_initial(phantom.reference, np.random.default_rng(seed),
                                      focus=phantom.epiphysis)
        volume = add_volume_node(phantom.image, "SCORE sample CT")
        segmentation = add_segmentation_node(initial, "SCORE sample initial", volume)
        set_standard_terminology(segmentation)
        return volume, segmentation

    show_in_3d = staticmethod(show_in_3d)

    @staticmethod
    def start_segment(volume_node, structures: list[str] | None = None,
                      engine: str | None = None, fast: bool = True, device: str = "auto",
                      on_progress=None, on_log=None, output_node=None) -> PendingResult:
        """Run TotalSegmentator (or the threshold engine) on a volume node in a child;
        its result fills ``output_node`` (its segments replaced), else a new segmentation
        node named after the volume. Requested structures found empty stay as empty
        segments."""
        structures = list(structures or DEFAULT_STRUCTURES)

        def prepare(folder: Path):
            yield from volume_node_steps(volume_node, folder / "ct.nrrd")
            argv = ["segment", "--image", folder / "ct.nrrd", "--out",
                    folder / "initial.seg.nrrd", "--structures", ",".join(structures),
                    "--device", device, "--json-progress"]
            return argv + (["--engine", engine] if engine else []) + (["--fast"] if fast else [])

        def finish(folder: Path):
            labels = read_labelmap(folder / "initial.seg.nrrd", allow_empty=True)
            node = add_segmentation_node(labels, f"{volume_node.GetName()} "
                                                 f"{engine or 'segmentation'}",
                                         reference_node=volume_node, into=output_node)
            set_standard_terminology(node)
            return node

        return PendingResult(prepare, finish, on_progress, on_log)

    @staticmethod
    def start_download_weights(structures: list[str] | None = None, fast: bool = True,
                               on_progress=None, on_log=None) -> jobs.Job:
        """Fetch the TotalSegmentator weights ``start_segment`` needs, in a child."""
        argv = ["download-weights", "--structures", ",".join(structures or DEFAULT_STRUCTURES),
                "--json-progress"] + (["--fast"] if fast else [])
        return jobs.Job(argv, on_progress=on_progress, on_log=on_log).start()

    @staticmethod
    def segment(volume_node, structures: list[str] | None = None, engine: str | None = None,
                fast: bool = True, device: str = "auto", on_log=None):
        """``start_segment``, waited for (scripts and tests)."""
        return RefineLogic.start_segment(volume_node, structures, engine, fast, device,
                                         on_log=on_log).wait()

    # - ratings and workspace -
    @staticmethod
    def save_ratings(workspace: str | os.PathLike, case_id: str, segmentation_node) -> int:
        """Write the node's segment ratings for ``case_id`` into the workspace store."""
        return Workspace(workspace).ratings.put(ratings_of(segmentation_node, case_id))

    @staticmethod
    def ratings_replaced(workspace: str | os.PathLike, case_id: str,
                         segmentation_node) -> list[str]:
        """Regions whose stored rating of ``case_id`` by the same rater differs from the
        node's: what saving would replace (ask first)."""
        try:
            ratings = Workspace(workspace).ratings.all(case_id)
        except ScoreKitError:  # no workspace yet: nothing to replace
            return []
        stored = {(r.region, r.rater): r for r in ratings}
        return [r.region for r in ratings_of(segmentation_node, case_id)
                if (old := stored.get((r.region, r.rater))) is not None
                and (old.quality, old.error) != (r.quality, r.error)]

    @staticmethod
    def add_case(workspace: str | os.PathLike, case_id: str, volume_node,
                 segmentation_node) -> Case:
        """Copy image, initial segmentation and its ratings into a workspace (created if
        needed). Ratings are checked first, so a refused case leaves nothing behind."""
        ws = Workspace.create(workspace)
        labels = labelmap_from_segmentation_node(segmentation_node, volume_node)
        ratings = ratings_of(segmentation_node, case_id)
        for rating in ratings:
            problem = rating.problem()
            if problem:
                raise ScoreKitError(f"case '{case_id}' region '{rating.region}': {problem}")
        case = ws.add_case(case_id, volume_from_node(volume_node), labels,
                           source=f"Slicer: {volume_node.GetName()} / "
                                  f"{segmentation_node.GetName()}")
        ws.ratings.put(ratings)
        return case

    # - training -
    @staticmethod
    def can_resume(model_dir: str | os.PathLike) -> bool:
        return (Path(model_dir) / f"{CHECKPOINT}.safetensors").exists()

    @staticmethod
    def start_training(workspace: str | os.PathLike, model_dir: str | os.PathLike,
                       steps: int = TRAINING_STEPS, device: str = "auto", resume: bool = False,
                       patch_size: int = PATCH_SIZE, on_progress=None, on_log=None) -> jobs.Job:
        """Start ``scorekit train`` in a child process; poll, wait or cancel the job."""
        argv = ["train", "--workspace", workspace, "--out", model_dir, "--steps", steps,
                "--patch-size", patch_size, "--device", device, "--json-progress"]
        return jobs.Job(argv + (["--resume"] if resume else []), on_progress=on_progress,
                        on_log=on_log).start()

    @staticmethod
    def model_verdict(model_dir: str | os.PathLike) -> tuple[bool, str]:
        """(go or unknown, one line for people) of the model's go / no-go verdict."""
        verdict = read_verdict(model_dir)
        return (verdict is None or verdict["go"]), describe(verdict)

    # - refinement -
    @staticmethod
    def start_refine(volume_node, segmentation_node, model_dir: str | os.PathLike,
                     device: str = "auto", on_progress=None, on_log=None,
                     output_node=None) -> PendingResult:
        """Refine in the session's warm worker; the result fills ``output_node`` (its
        segments replaced), else a new segmentation node "<name> refined" (same names,
        colours, terminology and reference geometry; a segment refined to nothing stays,
        empty), and the per-segment table of changes. The initial node is left as it was."""
        if output_node is not None and output_node is segmentation_node:
            raise ScoreKitError(f"'{segmentation_node.GetName()}' is the initial segmentation; "
                                "pick another output (or a new one) for the refined result")
        initial = placed_segments(segmentation_node, volume_node)

        def prepare(folder: Path):
            yield from volume_node_steps(volume_node, folder / "ct.nrrd")
            yield from seg_nrrd_steps(initial, folder / "initial.seg.nrrd")
            return ["refine", "--image", folder / "ct.nrrd", "--seg",
                    folder / "initial.seg.nrrd", "--model", model_dir, "--out",
                    folder / "refined.seg.nrrd", "--device", device, "--json-progress"]

        def load(folder: Path):  # in a background thread: files and numpy only
            refined = read_labelmap(folder / "refined.seg.nrrd", allow_empty=True)
            box = union(initial.box, occupied_box(refined.array))
            refined = place(refined, box).labels
            return refined, compare(initial.within(box), refined)

        def finish(loaded):
            refined, changes = loaded
            node = add_segmentation_node(refined, f"{segmentation_node.GetName()} refined",
                                         reference_node=volume_node, into=output_node)
            keep_every_segment(initial.labels, node)
            copy_segment_appearance(segmentation_node, node)
            return node, changes

        return PendingResult(prepare, finish, on_progress, on_log, worker=REFINER, load=load)

    @staticmethod
    def refine(volume_node, segmentation_node, model_dir: str | os.PathLike,
               device: str = "auto", on_log=None):
        """``start_refine``, waited for (scripts and tests)."""
        return RefineLogic.start_refine(volume_node, segmentation_node, model_dir, device,
                                        on_log=on_log).wait()


def keep_every_segment(initial: LabelMap, node) -> None:
    """A segment the refinement emptied stays in the result, empty, where people look."""
    present = {s.GetName() for s in segments(node).values()}
    for value, name in initial.regions.items():
        if name not in present:
            node.GetSegmentation().AddEmptySegment(name, name, initial.color(value))


def emptied(changes: list[SegmentChange]) -> list[str]:
    """Segments that had voxels and came back with none (the module says so)."""
    return [c.name for c in changes if c.initial_ml > 0 and c.refined_ml == 0]


# Slicer's terminology entry tag: context~category~type~type modifier~region context~region
# ~region modifier, each code "scheme^value^meaning"; the DICOM lists Slicer ships.
TERMINOLOGY_CONTEXT = "Segmentation category and type - DICOM master list"
REGION_CONTEXT = "Anatomic codes - DICOM master list"


def terminology_entry(codes: dict[str, tuple[str, str, str]]) -> str:
    """A segment's terminology tag value from its codes (``totalseg.snomed_codes()``)."""
    def code(key: str) -> str:
        return "^".join(codes.get(key, ("", "", "")))

    return "~".join([TERMINOLOGY_CONTEXT, code("category"), code("type"),
                     code("type_modifier"), REGION_CONTEXT, code("region"),
                     code("region_modifier")])


def set_standard_terminology(segmentation_node) -> list[str]:
    """Give segments named after TotalSegmentator classes their standard (SNOMED) terms,
    from TotalSegmentator's own map; the names of those that got one."""
    from scorekit.initial.totalseg import snomed_codes

    codes = snomed_codes()
    tag = slicer.vtkSegment.GetTerminologyEntryTagName()
    named = []
    for segment in segments(segmentation_node).values():
        if segment.GetName() in codes:
            segment.SetTag(tag, terminology_entry(codes[segment.GetName()]))
            named.append(segment.GetName())
    return named


def copy_segment_appearance(source_node, target_node) -> None:
    """Colours and terminology of same-named segments, from source to target. The
    terminology travels as its segment tag, which every supported Slicer has
    (``vtkSegment.HasTerminology`` and friends came in 5.10)."""
    terminology = slicer.vtkSegment.GetTerminologyEntryTagName()
    by_name = {s.GetName(): s for s in segments(source_node).values()}
    for segment in segments(target_node).values():
        original = by_name.get(segment.GetName())
        if original is None:
            continue
        segment.SetColor(*original.GetColor())
        value = vtk.reference("")
        if original.GetTag(terminology, value):
            segment.SetTag(terminology, str(value))


def compare(initial: LabelMap, refined: LabelMap) -> list[SegmentChange]:
    """Volume before and after, and Dice of the refined segment against the initial one."""
    ml = initial.geometry.voxel_volume_ml
    rows = []
    for name in initial.names:
        before = initial.mask(name)
        after = refined.mask(name) if name in refined.names else np.zeros_like(before)
        rows.append(SegmentChange(name, float(before.sum() * ml), float(after.sum() * ml),
                                  dice(before, after)))
    return rows
