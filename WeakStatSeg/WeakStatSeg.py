"""WeakStatSeg: train a segmenter from each image's ROI percentage and a small painted weak
mask (no full masks kept), then segment new images.

The widget stays thin: the operations are in ``WeakStatSegLib.logic`` (no Qt); training and
segmentation run ``PythonSlicer -m scorekit weakstat ...`` in a child process.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import slicer
from slicer import vtkMRMLScalarVolumeNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
)

# From a source checkout (a module folder added under Additional module paths), the shared
# packages scorekit and SCORESlicerLib sit one folder up, which Slicer does not put on the
# path; an installed extension has them beside this file already.
_CHECKOUT = Path(__file__).resolve().parents[1]
if (_CHECKOUT / "SCORESlicerLib").is_dir() and str(_CHECKOUT) not in sys.path:
    sys.path.append(str(_CHECKOUT))

from SCORESlicerLib import compat  # before anything an old Slicer cannot run

REFUSAL = compat.application_refusal()  # one line when this Slicer is too old

from scorekit import registry  # pure data: importable before the dependencies are installed
from SCORESlicerLib import dependencies
from SCORESlicerLib.jobpanel import JobPanel
from SCORESlicerLib.widget import ModuleWidget, errorsShown, isSet


class WeakStatSeg(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("WeakStatSeg")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["SCORE for 3D Slicer developers"]
        if REFUSAL:
            logging.error(REFUSAL)
        self.parent.helpText = _(
            "Record each image's ROI percentage (typed, or measured from a segment before it "
            "is discarded) and paint a few pixels you are sure of (the weak mask); train a "
            "segmenter from those alone and segment new images.")
        self.parent.acknowledgementText = _(
            "Implements learning to segment from a summary statistic and a weak mask "
            "(Kulkarni, Raff, Oates), in 2D and in 3D.")


@parameterNodeWrapper
class WeakStatSegParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    roiPercent: Annotated[float, WithinRange(0.0, 100.0)] = 10.0
    datasetFolder: Path
    imageName: str = ""
    losses: Annotated[str, Choice(["stat+weak", "stat", "weak"])] = "stat+weak"
    roiContrast: Annotated[str, Choice(list(registry.WEAKSTAT_ROI_CONTRASTS))] = (
        registry.WEAKSTAT_ROI_CONTRASTS[0])
    backbone: Annotated[str, Choice(["auto", "resnet50", "mobilenet_v3_large", "unet2d",
                                     "unet3d"])] = "auto"
    steps: Annotated[int, WithinRange(1, 1000000)] = registry.WEAKSTAT_STEPS
    device: Annotated[str, Choice(list(registry.DEVICES))] = "auto"
    modelName: str = "weakstat"
    model: Path


class WeakStatSegWidget(ModuleWidget):
    rememberedFields = (("datasetFolder", Path(".")),)
    def setup(self) -> None:
        ModuleWidget.setup(self)
        if self.showRefusal(REFUSAL):
            return
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/WeakStatSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = WeakStatSegLogic()
        self.jobs = JobPanel(self.ui.jobProgressBar, self.ui.jobTimeLabel, self.ui.logTextEdit)
        self.ui.measureButton.connect("clicked(bool)", self.onMeasure)
        self.ui.paintButton.connect("clicked(bool)", self.onPaint)
        self.ui.addImageButton.connect("clicked(bool)", self.onAddImage)
        self.ui.trainButton.connect("clicked(bool)", self.onTrainOrCancel)
        self.ui.segmentButton.connect("clicked(bool)", self.onSegment)
        self.observeScene()

    def refreshButtons(self, p) -> None:
        self.followVolumeName(p, "imageName")
        haveDataset = isSet(p.datasetFolder)
        self.ui.measureButton.enabled = bool(p.inputVolume)  # both act on the image
        self.ui.paintButton.enabled = bool(p.inputVolume)
        self.ui.addImageButton.enabled = bool(p.inputVolume) and haveDataset and not self.jobs.busy
        self.ui.trainButton.enabled = self.jobButtonEnabled(self.ui.trainButton, haveDataset)
        self.ui.segmentButton.enabled = self.jobButtonEnabled(
            self.ui.segmentButton, bool(p.inputVolume) and isSet(p.model))

    # -- statistic and weak mask -----------------------------------------------------------------
    def onMeasure(self) -> None:
        node = self.ui.measureSegmentSelector.currentNode()
        segmentId = self.ui.measureSegmentSelector.currentSegmentID()
        if not (node and segmentId):
            self.setStatus(_("Pick the segmentation and segment to measure."))
            return
        if not self.dependenciesReady(self.ui.measureButton):
            return
        with errorsShown(_("Could not measure the segment.")):
            fraction = self.logic.measure_fraction(node, segmentId,
                                                   self._parameterNode.inputVolume)
            self._parameterNode.roiPercent = 100.0 * fraction
            self.setStatus(_("ROI covers {percent:.2f} % of the image; the segment itself is "
                             "not stored.").format(percent=100.0 * fraction))

    def onPaint(self) -> None:
        """Open the Segment Editor on a "weak" segment of this image (created if needed)."""
        volume = self._parameterNode.inputVolume
        node = self.ui.weakSegmentSelector.currentNode()
        if node is None:
            node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode",
                                                      f"{volume.GetName()} weak")
            node.CreateDefaultDisplayNodes()
            node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
            self.ui.weakSegmentSelector.setCurrentNode(node)
        if not self.ui.weakSegmentSelector.currentSegmentID():
            segmentId = node.GetSegmentation().AddEmptySegment("weak", "weak", [1.0, 0.9, 0.1])
            self.ui.weakSegmentSelector.setCurrentSegmentID(segmentId)
        self.openSegmentEditor(node, volume, self.ui.weakSegmentSelector.currentSegmentID(),
                               "Paint")

    def onAddImage(self) -> None:
        p = self._parameterNode
        node = self.ui.weakSegmentSelector.currentNode()
        segmentId = self.ui.weakSegmentSelector.currentSegmentID()
        if not (node and segmentId):
            self.setStatus(_("Paint a weak mask first (Paint weak mask)."))
            return
        if not self.dependenciesReady(self.ui.addImageButton):
            return
        replace = self.logic.has_image(p.datasetFolder, p.imageName)
        if replace and not slicer.util.confirmOkCancelDisplay(
                _("The dataset already holds an image named {name}. Replace it?").format(
                    name=p.imageName)):
            return
        with errorsShown(_("Could not add the image."), waitCursor=True):
            self.logic.add_image(p.datasetFolder, p.imageName, p.inputVolume,
                                 p.roiPercent / 100.0, node, segmentId, replace=replace)
            count = len(self.logic.read_rows(Path(p.datasetFolder)))
            self.setStatus(_("Added {name}; the dataset has {count} images.").format(
                name=p.imageName, count=count))

    # -- training and segmentation ----------------------------------------------------------------
    def modelDir(self) -> Path:
        return Path(self._parameterNode.datasetFolder) / "models" / self._parameterNode.modelName

    def onTrainOrCancel(self) -> None:
        p = self._parameterNode
        backbone = None if p.backbone == "auto" else p.backbone
        self.toggleTraining(self.ui.trainButton, lambda on_progress, on_log:
                            self.logic.start_training(p.datasetFolder, self.modelDir(),
                                                      losses=p.losses, steps=p.steps,
                                                      roi_contrast=p.roiContrast,
                                                      backbone=backbone, device=p.device,
                                                      on_progress=on_progress, on_log=on_log))

    def onSegment(self) -> None:
        if not self.jobs.busy and not self.dependenciesReady(self.ui.segmentButton):
            return
        p = self._parameterNode
        self.runPending(self.ui.segmentButton, lambda on_progress, on_log:
                        self.logic.start_segment(p.inputVolume, p.model, device=p.device,
                                                 on_progress=on_progress, on_log=on_log),
                        lambda node: self.setStatus(_("Segmentation: {name}").format(
                            name=node.GetName())),
                        _("segmentation"))


class WeakStatSegLogic(ScriptedLoadableModuleLogic):
    """The parameter node, plus the operations of ``WeakStatSegLib.logic`` (imported on
    first use, once the dependencies are there)."""

    def getParameterNode(self):
        return WeakStatSegParameterNode(super().getParameterNode())

    def __getattr__(self, name):
        from WeakStatSegLib import logic

        return getattr(logic.WeakStatLogic, name)


class WeakStatSegTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer: lesion phantoms → fraction + weak mask → dataset → train → segment."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_module_loads()
        missing = dependencies.missing_packages()
        if missing:  # e.g. the extension build machines: no torch there
            self.delayDisplay("Skipping the training test: not installed: " + ", ".join(missing))
            return
        self.test_record_train_and_segment()

    def test_module_loads(self):
        """Needs nothing beyond Slicer: the widget and the parameter node's defaults."""
        self.assertIsNotNone(slicer.modules.weakstatseg.widgetRepresentation())
        parameters = WeakStatSegLogic().getParameterNode()
        self.assertEqual(parameters.steps, registry.WEAKSTAT_STEPS)

    def test_record_train_and_segment(self):
        dependencies.skip_unless_installed()
        import tempfile

        import numpy as np

        from scorekit.data.labelmap import LabelMap
        from scorekit.data.volume import Geometry, Volume
        from scorekit.synth.ultrasound import lesion_phantom
        from scorekit.weakstat.weakmask import weak_mask_from_reference
        from SCORESlicerLib.mrml import add_segmentation_node, add_volume_node, segments

        root = Path(tempfile.mkdtemp(prefix="WeakStatSegTest-"))
        logic = WeakStatSegLogic()
        geometry = Geometry((112, 96, 1), (0.2, 0.2, 1.0), (0.0, 0.0, 0.0),
                            (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
        self.delayDisplay("Recording four phantom images")
        for i in range(4):
            image, lesion = lesion_phantom(i, (96, 112))
            volume = add_volume_node(Volume(image[None].astype(np.float32), geometry), f"us{i}")
            roi = add_segmentation_node(LabelMap(lesion[None].astype(np.uint8), geometry,
                                                 {1: "lesion"}), f"us{i} roi", volume)
            fraction = logic.measure_fraction(roi, next(iter(segments(roi))), volume)
            self.assertAlmostEqual(fraction, lesion.mean(), places=4)
            weak = weak_mask_from_reference(lesion, registry.WEAKSTAT_WEAK_SIZE)[None]
            weak = weak.astype(np.uint8)
            painted = add_segmentation_node(LabelMap(weak, geometry, {1: "weak"}),
                                            f"us{i} weak", volume)
            logic.add_image(root / "dataset", f"us{i}", volume, fraction, painted,
                            next(iter(segments(painted))))
        self.delayDisplay("Training a tiny model in a child process")
        job = logic.start_training(root / "dataset", root / "model", steps=3,
                                   backbone="unet2d", size=[64, 64], device="cpu")
        self.assertEqual(job.wait(timeout=600), 0, job.error)
        node = logic.segment(volume, root / "model", device="cpu")
        self.assertEqual(node.GetName(), "us3 WeakStatSeg")
        self.delayDisplay("Test passed")
