"""Shared fixtures: the test data beside the repository, an MRML scene, phantom workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need real data skip when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (clone with ../shared beside)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def humerus_data(shared_data) -> Path:
    return shared_data / "ct" / "totalseg_dicom_humerus"


@pytest.fixture()
def mrml_scene():
    """A real vtkMRMLScene (slicer-core) set up as the Slicer application would."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is a test dependency")
    from SCORESlicerLib.mrml import standalone_scene

    previous = (getattr(slicer, "mrmlScene", None), getattr(slicer, "modules", None))
    scene = standalone_scene()
    yield scene
    scene.Clear(True)
    slicer.mrmlScene, slicer.modules = previous


@pytest.fixture(scope="session")
def small_phantom_workspace(tmp_path_factory):
    """Two small full-FOV phantom cases with simulated ratings (shared, do not modify)."""
    from scorekit.synth import write_phantom_workspace

    return write_phantom_workspace(tmp_path_factory.mktemp("ws") / "phantoms", cases=2,
                                   seed=7, size_xy=96, slices=120,
                                   spacing=(2.0, 2.0, 2.7))


@pytest.fixture()
def unrated_workspace(small_phantom_workspace, tmp_path):
    """A private copy of the shared phantom workspace, without its simulated ratings."""
    import shutil

    from scorekit.data.workspace import RATINGS, Workspace

    copy = Path(shutil.copytree(small_phantom_workspace.path, tmp_path / "ws"))
    (copy / RATINGS).unlink(missing_ok=True)
    return Workspace(copy)


@pytest.fixture(scope="session")
def lesions(tmp_path_factory):
    """16 synthetic ultrasound lesion images with masks (WeakStatSeg)."""
    from scorekit.synth.ultrasound import write_lesion_dataset

    return write_lesion_dataset(tmp_path_factory.mktemp("us") / "lesions", count=16, seed=0,
                                size=(96, 112))
