"""Click-to-result of a second Refine in the SCORERefine module, through the module's own
logic on a real MRML scene (slicer-core): the hand-over of the CT and the initial
segmentation to the warm worker, the refinement, the read-back and the import into a
segmentation node. The GUI thread is simulated as Slicer runs it: one click, then the job
panel's timer ticks; the longest time the thread spends in one go (a click, a tick, a
hand-over step) is the longest the application would freeze.

    python benchmarks/bench_slicer_refine.py [--size 512 512 343] [--device auto] [--quick]

Uses the files bench_refine.py prepares (a phantom CT with both humeri and an untrained
model of the default configuration).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench_refine import prepare
from benchcli import add_grid_arguments, bench_parser

ROOT = Path(__file__).resolve().parents[1]
TICK = 0.01  # how often the simulated event loop looks for work (Qt's is finer still)


def gui_loop(pending, run_ticks, on_done, click: float):
    """Drive ``pending`` as the job panel does, timing every stretch on the GUI thread and
    when each phase ended (hand-over, child, read-back; the import is the last block)."""
    blocks, phases = [], {}
    while True:
        start = time.perf_counter()
        finished = run_ticks(pending)
        blocks.append(time.perf_counter() - start)
        if pending.job is not None:
            phases.setdefault("handed_over_s", time.perf_counter() - click)
            if pending.job.returncode is not None:
                phases.setdefault("child_done_s", time.perf_counter() - click)
        if finished:
            phases["read_back_s"] = time.perf_counter() - click
            start = time.perf_counter()
            result = on_done(pending)
            blocks.append(time.perf_counter() - start)
            return result, blocks, phases
        time.sleep(TICK)


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="one timed refinement instead of three")
    add_grid_arguments(parser, [512, 512, 343], "/tmp/scorekit-bench-refine")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT), str(ROOT / "SCORERefine")]  # as Slicer finds the module
    try:
        import slicer  # noqa: F401  (slicer-core, a test dependency)
    except ImportError:
        print("slicer refine: skipped, slicer-core is not installed (pip install slicer-core)")
        return {}
    from scorekit.data.labels import read_labelmap
    from scorekit.data.volume import read_volume
    from SCORERefineLib.logic import REFINER, RefineLogic
    from SCORESlicerLib.mrml import add_segmentation_node, add_volume_node, standalone_scene
    from SCORESlicerLib.pending import conclude

    work = Path(args.work) / "x".join(map(str, args.size))
    work.mkdir(parents=True, exist_ok=True)
    prepare(work, args.size)
    standalone_scene()
    volume = add_volume_node(read_volume(work / "ct.nii.gz"), "CT")
    initial = add_segmentation_node(read_labelmap(work / "initial.seg.nrrd"), "initial", volume)

    def once():
        results = []
        click = time.perf_counter()
        pending = RefineLogic.start_refine(volume, initial, work / "model", device=args.device)
        clicked = time.perf_counter() - click
        outcome, blocks, phases = gui_loop(pending, lambda p: p.step(),
                                           lambda p: conclude(p, results.append, print), click)
        if outcome != "done":
            raise RuntimeError(f"refinement {outcome}")
        total = time.perf_counter() - click
        return total, max([clicked, *blocks]), {"click_s": clicked, "import_s": blocks[-1],
                                                 **phases}

    try:
        once()  # the worker's first request: torch imported, model loaded
        runs = [once() for _ in range(1 if args.quick else 3)]
    finally:
        REFINER.close()
    total, longest, phases = min(runs, key=lambda r: r[0])
    stats = {"size": args.size, "device": args.device, "click_to_result_s": total,
             "longest_gui_block_s": longest, **phases}
    print(f"second Refine in the module on {'×'.join(map(str, args.size))} ({args.device}): "
          f"click to result {total:.2f} s, longest GUI-thread block {longest:.3f} s "
          f"(click {phases['click_s']:.3f} s, handed over at {phases['handed_over_s']:.2f} s, "
          f"child done at {phases['child_done_s']:.2f} s, read back at "
          f"{phases['read_back_s']:.2f} s, import {phases['import_s']:.3f} s)")
    return stats


if __name__ == "__main__":
    main()
