"""SCORERefine: rate an automatic CT segmentation per segment, train a refiner from the
ratings, refine new CTs in one click.

The widget stays thin: every operation is in ``SCORERefineLib.logic`` (no Qt), and long work
runs in a ``PythonSlicer -m scorekit`` child process so the application never freezes.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import qt
import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
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

NOT_RATED = -1  # the quality spin box's "–" value
ANONYMOUS = "anonymous"  # the rater until one types a name


class SCORERefine(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("SCORE Refine")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["SCORE for 3D Slicer developers"]
        if REFUSAL:
            logging.error(REFUSAL)
        self.parent.helpText = _(
            "Rate each segment of an automatic segmentation (quality 0-5 and whether it "
            "misses or over-covers tissue), train a 3D refinement network from those ratings "
            "alone (SCORE), and refine new CTs in one click.")
        self.parent.acknowledgementText = _(
            "Implements SCORE (learning to refine segmentations from quality scores and "
            "error labels). Initial segmentations by TotalSegmentator.")


@parameterNodeWrapper
class SCORERefineParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    initialSegmentation: vtkMRMLSegmentationNode
    segmentationOutput: vtkMRMLSegmentationNode  # None: a new node each run
    refinedOutput: vtkMRMLSegmentationNode
    structures: str = ",".join(registry.DEFAULT_STRUCTURES)
    fast: bool = True
    device: Annotated[str, Choice(list(registry.DEVICES))] = "auto"
    rater: str = ANONYMOUS
    workspace: Path
    caseId: str = ""
    modelName: str = "refiner"
    steps: Annotated[int, WithinRange(1, 1000000)] = registry.TRAINING_STEPS
    resume: bool = False
    model: Path


class SCORERefineWidget(ModuleWidget):
    rememberedFields = (("rater", ANONYMOUS), ("workspace", Path(".")))
    cancelledMessage = _("Training cancelled; tick 'Resume' to continue it later.")

    def __init__(self, parent=None) -> None:
        ModuleWidget.__init__(self, parent)
        self._clock = None  # RatingClock: seconds per segment, row entered to row left
        self._ratedNode = None  # the segmentation node the rating table shows
        self._ratingKeys = []  # keyboard rating shortcuts, made once the dependencies are in
        self._missing = []  # requirements not met (showDependencyState checks them)

    def setup(self) -> None:
        ModuleWidget.setup(self)
        if self.showRefusal(REFUSAL):
            return
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SCORERefine.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SCORERefineLogic()
        self.jobs = JobPanel(self.ui.jobProgressBar, self.ui.jobTimeLabel, self.ui.logTextEdit)

        self.ui.ratingTable.horizontalHeader().setSectionResizeMode(0, qt.QHeaderView.Stretch)
        self.ui.changesTable.horizontalHeader().setSectionResizeMode(0, qt.QHeaderView.Stretch)
        self.ui.segmentButton.connect("clicked(bool)", self.onSegment)
        self.ui.addCaseButton.connect("clicked(bool)", self.onAddCase)
        self.ui.saveRatingsButton.connect("clicked(bool)", self.onSaveRatings)
        self.ui.trainButton.connect("clicked(bool)", self.onTrainOrCancel)
        self.ui.refineButton.connect("clicked(bool)", self.onRefine)
        self.ui.installButton.connect("clicked(bool)", self.onInstallDependencies)
        self.ui.sampleButton.connect("clicked(bool)", self.onLoadSample)
        self.ui.show3DButton.connect("toggled(bool)", self.onShow3D)
        self.ui.editRefinedButton.connect("clicked(bool)", self.onEditRefined)
        # The selector signals before the parameter node is updated: use the node it passes.
        self.ui.initialSegmentationSelector.connect(
            "currentNodeChanged(vtkMRMLNode*)", self.fillRatingTable)
        self.ui.ratingTable.connect("currentCellChanged(int,int,int,int)", self.onRatingRowEntered)
        self.showDependencyState()  # before the parameter node fills the table
        self.observeScene()

    def parameterNodeSet(self) -> None:
        self.fillRatingTable(self._parameterNode.initialSegmentation)

    @property
    def ready(self) -> bool:
        """True once scorekit's dependencies are installed (checked at start and after an
        install, not at every refresh of the buttons)."""
        return not self._missing

    def refreshButtons(self, p) -> None:
        self.followVolumeName(p, "caseId")
        if not self.ready:
            return
        busy = self.jobs.busy
        haveCase = bool(p.inputVolume and p.initialSegmentation)
        haveWorkspace = isSet(p.workspace)
        ui = self.ui
        ui.segmentButton.enabled = self.jobButtonEnabled(ui.segmentButton, bool(p.inputVolume))
        ui.addCaseButton.enabled = haveCase and haveWorkspace and not busy
        ui.saveRatingsButton.enabled = haveCase and haveWorkspace and not busy
        ui.trainButton.enabled = self.jobButtonEnabled(ui.trainButton,
                                                       haveWorkspace and bool(p.modelName))
        ui.refineButton.enabled = self.jobButtonEnabled(ui.refineButton,
                                                        haveCase and isSet(p.model))
        ui.show3DButton.enabled = bool(p.initialSegmentation)
        ui.editRefinedButton.enabled = bool(p.refinedOutput and p.inputVolume)
        self.ui.resumeCheckBox.enabled = haveWorkspace and self.logic.can_resume(self.modelDir())

    def modelDir(self) -> Path:
        return Path(self._parameterNode.workspace) / "models" / self._parameterNode.modelName

    # -- dependencies --------------------------------------------------------------------------
    def showDependencyState(self) -> None:
        """Until the dependencies are installed only the install button is enabled."""
        missing = self._missing = dependencies.missing_packages()
        for section in (self.ui.inputsCollapsibleButton, self.ui.ratingCollapsibleButton,
                        self.ui.trainCollapsibleButton, self.ui.refineCollapsibleButton):
            section.enabled = not missing
        self.ui.installButton.visible = bool(missing)
        if missing:
            self.setStatus(_("SCORE needs Python packages that are not installed yet: "
                             "{packages}.").format(packages=", ".join(missing)))

    def onInstallDependencies(self) -> None:
        if self.dependenciesReady(self.ui.installButton):
            self.dependenciesInstalled()

    def dependenciesInstalled(self) -> None:
        self.showDependencyState()
        self.updateButtons()
        if self._parameterNode is not None:
            self.fillRatingTable(self._parameterNode.initialSegmentation)

    # -- 1. initial segmentation -----------------------------------------------------------------
    def onSegment(self) -> None:
        if not self.jobs.busy and not self.dependenciesReady(self.ui.segmentButton,
                                                                withTotalSegmentator=True):
            return
        p = self._parameterNode
        structures = [s.strip() for s in p.structures.split(",") if s.strip()]

        def done(node) -> None:
            parameters = self.logic.getParameterNode()
            parameters.initialSegmentation = parameters.segmentationOutput = node
            self.setStatus(_("Initial segmentation: {name}").format(name=node.GetName())
                           + self.emptyNote(self.logic.empty_segments(node)))

        self.runPending(self.ui.segmentButton, lambda on_progress, on_log:
                        self.logic.start_segment(p.inputVolume, structures, fast=p.fast,
                                                 device=p.device, on_progress=on_progress,
                                                 on_log=on_log,
                                                 output_node=p.segmentationOutput),
                        done, _("TotalSegmentator"),
                        on_failure=lambda error: self.offerWeightsDownload(error, structures))

    def offerWeightsDownload(self, error: str, structures: list[str]) -> bool:
        """A fresh install has no TotalSegmentator weights: download them (a child job with
        progress and Cancel), then segment again."""
        from scorekit.errors import WEIGHTS_MISSING

        if WEIGHTS_MISSING not in error:
            return False
        if slicer.util.confirmOkCancelDisplay(
                _("TotalSegmentator needs its model weights, which are not on this computer. "
                  "Download them now (several hundred MB)?"), detailedText=error):
            fast = self._parameterNode.fast if self._parameterNode else True

            def downloaded(job) -> None:
                if job.returncode == 0 and self._parameterNode is not None:
                    self.onSegment()
                elif not job.cancelled:
                    slicer.util.errorDisplay(_("Download failed: {error}").format(
                        error=job.error))
                self.updateButtons()

            self.runJob(self.ui.segmentButton, lambda on_progress, on_log:
                        self.logic.start_download_weights(structures, fast, on_progress,
                                                          on_log),
                        downloaded, _("the weights download"))
        return True

    def onLoadSample(self) -> None:
        if not self.dependenciesReady(self.ui.sampleButton):
            return
        with errorsShown(_("Could not make the sample CT."), waitCursor=True):
            volume, initial = self.logic.load_sample()
            parameters = self.logic.getParameterNode()
            parameters.inputVolume, parameters.initialSegmentation = volume, initial
            slicer.util.setSliceViewerLayers(background=volume, fit=True)
            self.setStatus(_("Sample CT loaded: rate its segments, or refine them."))

    def onShow3D(self, show: bool) -> None:
        node = self._parameterNode.initialSegmentation if self._parameterNode else None
        if node is not None:
            self.logic.show_in_3d(node, show)

    def onEditRefined(self) -> None:
        p = self._parameterNode
        self.openSegmentEditor(p.refinedOutput, p.inputVolume)

    # -- 2. rating panel -------------------------------------------------------------------------
    def fillRatingTable(self, node) -> None:
        """One row per segment of ``node`` (the segmentation being rated)."""
        table = self.ui.ratingTable
        table.setRowCount(0)
        self._ratedNode = node
        if node is None or not self.ready:
            return
        from scorekit.data.ratings import QUALITY_MAX, ErrorLabel
        from SCORERefineLib.logic import RatingClock, rating_of
        from SCORESlicerLib.mrml import segments

        self._clock = RatingClock({sid: rating.seconds for sid, segment in segments(node).items()
                                   if (rating := rating_of(segment)) is not None})
        self.addRatingKeys()

        choices = ["", *(label.label for label in ErrorLabel)]  # "" = still to choose

        for row, (segmentId, segment) in enumerate(segments(node).items()):
            table.insertRow(row)
            item = qt.QTableWidgetItem(segment.GetName())
            item.setData(qt.Qt.DecorationRole, qt.QColor.fromRgbF(*segment.GetColor()))
            item.setData(qt.Qt.UserRole, segmentId)
            item.setFlags(qt.Qt.ItemIsEnabled | qt.Qt.ItemIsSelectable)
            table.setItem(row, 0, item)
            quality = qt.QSpinBox()
            quality.setRange(NOT_RATED, QUALITY_MAX)
            quality.setSpecialValueText("–")
            error = qt.QComboBox()
            error.addItems(choices)
            rating = rating_of(segment)
            quality.value = rating.quality if rating else NOT_RATED
            error.currentText = rating.error_label.label if rating else ""
            table.setCellWidget(row, 1, quality)
            table.setCellWidget(row, 2, error)
            table.setItem(row, 3, qt.QTableWidgetItem(f"{rating.seconds:.0f}" if rating else ""))
            quality.connect("valueChanged(int)",
                            lambda _v, r=row: self.onRatingEdited(r, "quality"))
            error.connect("currentIndexChanged(int)",
                          lambda _i, r=row: self.onRatingEdited(r, "error"))

    def segmentIdOfRow(self, row: int):
        item = self.ui.ratingTable.item(row, 0)
        return None if item is None else item.data(qt.Qt.UserRole)

    def onRatingRowEntered(self, row, column, previousRow, previousColumn) -> None:
        """Time each segment from entering its row to leaving it; centre the views on it."""
        from SCORERefineLib.logic import centre_views_on

        if row == previousRow or self._clock is None:
            return
        segmentId = self.segmentIdOfRow(row)
        if segmentId is None:
            self._clock.leave()
        else:
            self._clock.enter(segmentId)
            centre_views_on(self._ratedNode, segmentId)
        if self.segmentIdOfRow(previousRow) is not None:
            self.storeRating(previousRow)  # its time on the row, now complete

    # -- rating by keyboard: digits the quality, u/o/b/n the error, Enter the next row --------
    def addRatingKeys(self) -> None:
        if self._ratingKeys:
            return
        from scorekit.data.ratings import QUALITIES, ErrorLabel

        actions = [(str(q), lambda q=q: self.rateCurrentRow(quality=q)) for q in QUALITIES]
        actions += [(e.key.upper(), lambda e=e: self.rateCurrentRow(error=e))
                    for e in ErrorLabel]
        actions += [(key, self.nextRatingRow) for key in ("Return", "Enter")]
        for key, action in actions:
            shortcut = qt.QShortcut(qt.QKeySequence(key), self.ui.ratingTable)
            shortcut.setContext(qt.Qt.WidgetWithChildrenShortcut)
            shortcut.connect("activated()", action)
            self._ratingKeys.append(shortcut)

    def rateCurrentRow(self, quality=None, error=None) -> None:
        table = self.ui.ratingTable
        row = max(table.currentRow(), 0)
        if row >= table.rowCount:
            return
        if table.currentRow() != row:
            table.setCurrentCell(row, 0)
        if quality is not None:
            table.cellWidget(row, 1).value = quality  # its signal stores the rating
        if error is not None:
            table.cellWidget(row, 2).currentText = error.label

    def nextRatingRow(self) -> None:
        table = self.ui.ratingTable
        if table.rowCount:
            table.setCurrentCell(min(table.currentRow() + 1, table.rowCount - 1), 0)

    def onRatingEdited(self, row: int, changed: str) -> None:
        """Enforce quality 5 ⇔ none in the row, then store the rating once it is complete."""
        from scorekit.data.ratings import ErrorLabel, coerce_rating

        table = self.ui.ratingTable
        if table.currentRow() != row:  # editing a row's widget enters the row
            table.setCurrentCell(row, 0)
        qualityBox, errorBox = table.cellWidget(row, 1), table.cellWidget(row, 2)
        quality = None if qualityBox.value == NOT_RATED else qualityBox.value
        error = ErrorLabel.parse(errorBox.currentText) if errorBox.currentText else None
        quality, error = coerce_rating(quality, error, changed)
        for widget in (qualityBox, errorBox):
            widget.blockSignals(True)
        qualityBox.value = NOT_RATED if quality is None else quality
        errorBox.currentText = "" if error is None else error.label
        for widget in (qualityBox, errorBox):
            widget.blockSignals(False)
        self.storeRating(row)

    def storeRating(self, row: int) -> None:
        """The row's rating as segment tags, with the time spent on the row so far."""
        from scorekit.data.ratings import ErrorLabel
        from SCORERefineLib.logic import set_rating

        table = self.ui.ratingTable
        qualityBox, errorBox = table.cellWidget(row, 1), table.cellWidget(row, 2)
        if qualityBox.value == NOT_RATED or not errorBox.currentText:
            return
        segmentId = self.segmentIdOfRow(row)
        seconds = self._clock.spent(segmentId)
        with errorsShown(_("Invalid rating.")):
            set_rating(self._ratedNode, segmentId, qualityBox.value,
                       ErrorLabel.parse(errorBox.currentText), seconds=seconds,
                       rater=self._parameterNode.rater or ANONYMOUS)
            table.item(row, 3) or table.setItem(row, 3, qt.QTableWidgetItem())
            table.item(row, 3).setText(f"{seconds:.0f}")

    def onAddCase(self) -> None:
        from SCORERefineLib.logic import unrated_segments

        p = self._parameterNode
        unrated = unrated_segments(p.initialSegmentation)
        if unrated and not slicer.util.confirmOkCancelDisplay(
                _("Not rated yet: {names}. Add the case anyway? Training uses only cases "
                  "whose every segment is rated.").format(names=", ".join(unrated))):
            return
        with errorsShown(_("Could not add the case."), waitCursor=True):
            case = self.logic.add_case(p.workspace, p.caseId, p.inputVolume,
                                       p.initialSegmentation)
            self.setStatus(_("Case {case} added to {workspace}.").format(
                case=case.id, workspace=p.workspace))

    def onSaveRatings(self) -> None:
        p = self._parameterNode
        replaced = self.logic.ratings_replaced(p.workspace, p.caseId, p.initialSegmentation)
        if replaced and not slicer.util.confirmOkCancelDisplay(
                _("Case {case} already holds other ratings of {names} by the same rater. "
                  "Replace them?").format(case=p.caseId, names=", ".join(replaced))):
            return
        with errorsShown(_("Could not save the ratings.")):
            count = self.logic.save_ratings(p.workspace, p.caseId, p.initialSegmentation)
            self.setStatus(_("{count} ratings saved for case {case}.").format(
                count=count, case=p.caseId))

    # -- 3. training -------------------------------------------------------------------------------
    def onTrainOrCancel(self) -> None:
        p = self._parameterNode
        self.toggleTraining(self.ui.trainButton, lambda on_progress, on_log:
                            self.logic.start_training(p.workspace, self.modelDir(),
                                                      steps=p.steps, device=p.device,
                                                      resume=p.resume, on_progress=on_progress,
                                                      on_log=on_log))

    # -- 4. refinement -----------------------------------------------------------------------------
    def onRefine(self) -> None:
        if not self.jobs.busy and not self.dependenciesReady(self.ui.refineButton):
            return
        p = self._parameterNode
        go, verdict = self.logic.model_verdict(p.model)
        if not self.jobs.busy and not go and not slicer.util.confirmOkCancelDisplay(
                _("After training, this model was judged against its ratings: {verdict}.\n"
                  "Its refined masks may be worse than the initial ones. Refine anyway?")
                .format(verdict=verdict), windowTitle=_("SCORE model verdict")):
            return

        def done(result) -> None:
            from SCORERefineLib.logic import emptied

            node, changes = result
            self.logic.getParameterNode().refinedOutput = node
            self.showChanges(changes)
            self.setStatus(_("Refined segmentation: {name}").format(name=node.GetName())
                           + self.emptyNote(emptied(changes)))

        self.runPending(self.ui.refineButton, lambda on_progress, on_log:
                        self.logic.start_refine(p.inputVolume, p.initialSegmentation, p.model,
                                                device=p.device, on_progress=on_progress,
                                                on_log=on_log, output_node=p.refinedOutput),
                        done, _("refinement"))

    @staticmethod
    def emptyNote(names) -> str:
        return _(" Came back empty: {names}.").format(names=", ".join(names)) if names else ""

    def showChanges(self, changes) -> None:
        table = self.ui.changesTable
        table.setRowCount(len(changes))
        for row, change in enumerate(changes):
            cells = [change.name, f"{change.initial_ml:.1f}", f"{change.refined_ml:.1f}",
                     f"{change.change_percent:+.1f}", f"{change.dice:.3f}"]
            for column, text in enumerate(cells):
                table.setItem(row, column, qt.QTableWidgetItem(text))


class SCORERefineLogic(ScriptedLoadableModuleLogic):
    """The parameter node, plus every operation of ``SCORERefineLib.logic.RefineLogic``.

    Those are looked up on first use, so the module loads (and can offer to install
    torch and the other dependencies) before any of them is importable.
    """

    def getParameterNode(self):
        return SCORERefineParameterNode(super().getParameterNode())

    def __getattr__(self, name):
        from SCORERefineLib.logic import RefineLogic

        return getattr(RefineLogic, name)


class SCORERefineTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer: phantoms → rate → add to a workspace → train → refine."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_module_loads()
        missing = dependencies.missing_packages()
        if missing:  # e.g. the extension build machines: no torch there
            self.delayDisplay("Skipping the training test: not installed: " + ", ".join(missing))
            return
        self.test_rate_train_and_refine()

    def test_module_loads(self):
        """Needs nothing beyond Slicer: the widget and the parameter node's defaults."""
        self.assertIsNotNone(slicer.modules.scorerefine.widgetRepresentation())
        parameters = SCORERefineLogic().getParameterNode()
        self.assertEqual(parameters.steps, registry.TRAINING_STEPS)

    def test_rate_train_and_refine(self):
        dependencies.skip_unless_installed()
        import tempfile

        from scorekit.synth import write_phantom_workspace
        from SCORERefineLib.logic import rating_of, set_rating
        from SCORESlicerLib.mrml import (
            add_segmentation_node,
            add_volume_node,
            labelmap_from_segmentation_node,
            segments,
        )

        self.delayDisplay("Making two phantom cases with simulated ratings")
        root = Path(tempfile.mkdtemp(prefix="SCORERefineTest-"))
        phantoms = write_phantom_workspace(root / "phantoms", cases=2, seed=3, size_xy=96,
                                           slices=120, spacing=(2.0, 2.0, 2.7))
        case = phantoms.cases()[0]
        volume = add_volume_node(case.image(), "phantom CT")
        initial = add_segmentation_node(case.initial(), "phantom initial", volume)

        self.delayDisplay("Rating every segment and adding the case to a new workspace")
        logic = SCORERefineLogic()
        for segmentId in segments(initial):
            set_rating(initial, segmentId, 3, "under", seconds=5, rater="self-test")
        added = logic.add_case(root / "workspace", "slicer_case", volume, initial)
        stored = logic.save_ratings(root / "workspace", added.id, initial)
        self.assertEqual(stored, len(segments(initial)))
        for segment in segments(initial).values():
            self.assertEqual(rating_of(segment).quality, 3)

        self.delayDisplay("Training a tiny model in a child process")
        job = logic.start_training(phantoms.path, root / "model", steps=4, device="cpu",
                                   patch_size=32)
        self.assertEqual(job.wait(timeout=600), 0, job.error)

        self.delayDisplay("Refining")
        before = labelmap_from_segmentation_node(initial, volume)
        refined, changes = logic.refine(volume, initial, root / "model", device="cpu")
        self.assertEqual(refined.GetName(), "phantom initial refined")
        self.assertEqual([s.GetName() for s in segments(refined).values()],
                         [s.GetName() for s in segments(initial).values()])
        self.assertEqual([c.name for c in changes], before.names)
        after = labelmap_from_segmentation_node(initial, volume)
        self.assertTrue((after.array == before.array).all(), "initial segmentation changed")
        self.delayDisplay("Test passed")
