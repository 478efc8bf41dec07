"""What both modules' widgets share: the parameter-node plumbing of Slicer's scripted-module
template, the first-use dependency install and the status line. (Needs Slicer's GUI
classes: only the widgets import it.)"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

from scorekit import registry
from SCORESlicerLib import dependencies
from SCORESlicerLib.pending import conclude


def isSet(path) -> bool:
    """Path parameters start as ``Path('.')``, which is true; "not chosen yet" is that."""
    return bool(path) and str(path) != "."


@contextlib.contextmanager
def errorsShown(message: str, waitCursor: bool = False):
    """``slicer.util.tryWithErrorDisplay`` that ends there: Slicer's re-raises after its
    dialog, which skips what follows the block (enabling the buttons again) and logs a
    traceback; here the dialog is all, and the code after the ``with`` runs."""
    try:
        with slicer.util.tryWithErrorDisplay(message, waitCursor=waitCursor):
            yield
    except Exception as error:
        logging.warning(f"{message} {error}")


class ModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Subclasses create ``self.ui``, ``self.logic`` and ``self.jobs`` (the module's
    JobPanel: every long operation runs through it, one at a time) in ``setup``, call
    ``observeScene()``, and define ``refreshButtons`` and ``modelDir``;
    ``parameterNodeSet`` runs whenever a parameter node is connected.

    A job can end while the module is not shown (no parameter node is connected then):
    what runs at its end uses what the job was started with and the logic's parameter
    node, never ``self._parameterNode``; ``updateButtons`` does nothing without one."""

    cancelledMessage = _("Training cancelled.")
    # Parameter-node fields kept across sessions in the application settings, each with the
    # value that means "not set yet" (only such a value is replaced by the remembered one).
    rememberedFields: tuple[tuple[str, object], ...] = ()

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.jobs = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._trainingModelDir = None  # where the running training job writes
        self._namedAfter = None  # the volume node the case / image name was taken from

    def showRefusal(self, refusal) -> bool:
        """On a Slicer the extension does not support: say so in the panel, offer nothing."""
        if refusal:
            self.layout.addWidget(qt.QLabel(refusal))
            self.layout.addStretch(1)
        return bool(refusal)

    def observeScene(self) -> None:
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        if self.jobs is not None:
            self.jobs.cancel()
        self.removeObservers()

    def enter(self) -> None:
        if self.logic is not None:  # None where the Slicer is refused
            self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        parameterNode = self.logic.getParameterNode()
        for field, unset in self.rememberedFields:  # a new scene: the last values
            saved = qt.QSettings().value(self.settingsKey(field))
            if saved and getattr(parameterNode, field) == unset:
                setattr(parameterNode, field, type(unset)(saved))
        self.setParameterNode(parameterNode)
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass(
                "vtkMRMLScalarVolumeNode")

    def settingsKey(self, field: str) -> str:
        return f"SCORE/{self.moduleName}/{field}"

    def rememberFields(self, parameterNode) -> None:
        for field, unset in self.rememberedFields:
            value = getattr(parameterNode, field)
            if value != unset:
                qt.QSettings().setValue(self.settingsKey(field), str(value))

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                                self.updateButtons)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                             self.updateButtons)
            self.updateButtons()
            self.parameterNodeSet()

    def parameterNodeSet(self) -> None:
        pass

    def updateButtons(self, caller=None, event=None) -> None:
        if self._parameterNode is not None:
            self.rememberFields(self._parameterNode)
            self.refreshButtons(self._parameterNode)

    def refreshButtons(self, parameterNode) -> None:
        raise NotImplementedError

    def followVolumeName(self, parameterNode, field: str) -> None:
        """Name the case (image) after the current volume whenever the volume changes, so
        that a second volume never writes over the first one's files under its name."""
        volume = parameterNode.inputVolume
        if volume is None or volume is self._namedAfter:
            return
        firstSight = self._namedAfter is None  # keep a name the user typed for this volume
        self._namedAfter = volume
        if not (firstSight and getattr(parameterNode, field)):
            setattr(parameterNode, field, registry.case_id_from_name(volume.GetName()))

    def modelDir(self):
        raise NotImplementedError

    def jobButtonEnabled(self, button, ready: bool) -> bool:
        """While a job runs only its own button (now Cancel) is enabled."""
        return button is self.jobs.button if self.jobs.busy else ready

    def runJob(self, button, start_job, on_finished, what: str) -> None:
        """A job button: cancel the running job if it is this button's, else start
        ``start_job(on_progress, on_log)`` (a Job) in the module's job panel."""
        if self.jobs.busy:
            if self.jobs.button is button:
                self.jobs.cancel()
            return
        with errorsShown(_("Could not start {what}.").format(what=what)):
            self.jobs.start(start_job, button, on_finished)
        self.updateButtons()

    def runPending(self, button, start, on_result, what: str, on_failure=None) -> None:
        """Like ``runJob`` for a logic call returning a ``PendingResult``; ``on_result``
        gets its nodes once the child has succeeded (the GUI stays live meanwhile).
        ``on_failure(error)`` may handle a failure itself (returns True) instead of the
        error dialog."""
        pending = []

        def startJob(on_progress, on_log):
            pending.append(start(on_progress, on_log))
            return pending[0]  # the job panel drives it step by step

        def finished(job) -> None:
            failed = _("{what} failed.").format(what=what.capitalize())
            outcome = conclude(pending[0], on_result,
                               lambda error: self.showError(failed, error), on_failure)
            if outcome == "cancelled":
                self.setStatus(_("{what} cancelled.").format(what=what.capitalize()))
            self.updateButtons()

        if not self.jobs.busy:  # (a click while busy is the Cancel of the running job)
            self.setStatus(_("Running {what}...").format(what=what))
        self.runJob(button, startJob, finished, what)

    def toggleTraining(self, button, start_job) -> None:
        """The training button: ``start_job(on_progress, on_log)`` writes to ``modelDir()``."""
        if not self.jobs.busy:
            if not self.dependenciesReady(button):
                return
            self._trainingModelDir = self.modelDir()
        self.runJob(button, start_job, self.onTrainingFinished, _("training"))

    def onTrainingFinished(self, job) -> None:
        modelDir = self._trainingModelDir
        if job.cancelled:
            self.setStatus(self.cancelledMessage)
        elif job.returncode != 0:
            slicer.util.errorDisplay(_("Training failed: {error}").format(error=job.error))
        else:
            self.logic.getParameterNode().model = modelDir
            self.setStatus(_("Model written to {path}.").format(path=modelDir))
        self.updateButtons()

    def dependenciesReady(self, button, withTotalSegmentator: bool = False) -> bool:
        """True when everything is installed; otherwise offer to install it, with one
        confirmation (torch through light-the-torch, the rest by pip, each step a child
        job shown in the job panel, ``button`` its Cancel), and the action waits for a
        click once it is done."""
        if self.jobs.busy and self.jobs.button is button:  # it is the installation's Cancel
            self.jobs.cancel()
            return False
        missing = dependencies.missing_packages(withTotalSegmentator)
        if not missing:
            return True
        if self.jobs.busy or not slicer.util.confirmOkCancelDisplay(
                _("This module needs these Python packages: {packages}. Install them now? "
                  "(This can take several minutes.)").format(packages=", ".join(missing))):
            return False
        handle, name = tempfile.mkstemp(prefix="score-constraints-", suffix=".txt")
        os.close(handle)
        constraints = Path(name)
        constraints.write_text(dependencies.slicer_constraints())
        self.setStatus(_("Installing {packages}...").format(packages=", ".join(missing)))
        self.runInstallSteps(button, dependencies.install_steps(missing, constraints),
                             dependencies.loaded_versions(), constraints)
        return False

    def runInstallSteps(self, button, steps, before, constraints) -> None:
        """One child after the other, each in the job panel (``button`` cancels it)."""
        def finished(job) -> None:
            if job.cancelled or job.returncode != 0 or len(steps) == 1:
                constraints.unlink(missing_ok=True)
            if job.cancelled:
                self.setStatus(_("Installation cancelled."))
            elif job.returncode != 0:
                slicer.util.errorDisplay(_("Installing the packages failed: {error}").format(
                    error=job.error))
            elif len(steps) > 1:
                self.runInstallSteps(button, steps[1:], before, constraints)
                return
            else:
                self.installFinished(before)
            self.updateButtons()

        self.runJob(button, lambda on_progress, on_log: dependencies.start_step(
            steps[0], on_log), finished, _("the installation"))
        if not self.jobs.busy:  # the step could not start (said in a dialog): no finish
            constraints.unlink(missing_ok=True)

    def installFinished(self, before) -> None:
        self.dependenciesInstalled()
        self.setStatus(_("Dependencies installed."))
        upgraded = dependencies.restart_needed(before)
        if upgraded and slicer.util.confirmYesNoDisplay(
                _("Slicer has to restart to use the new versions of {packages}. Restart "
                  "now?").format(packages=", ".join(upgraded))):
            slicer.util.restart()

    def dependenciesInstalled(self) -> None:
        """What a module refreshes once its packages are in."""

    @staticmethod
    def openSegmentEditor(segmentationNode, volumeNode, segmentId=None, effect=None) -> None:
        """Hand a segmentation over to the Segment Editor, on its image."""
        slicer.util.selectModule("SegmentEditor")
        editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
        editor.setSegmentationNode(segmentationNode)
        editor.setSourceVolumeNode(volumeNode)
        if segmentId:
            editor.setCurrentSegmentID(segmentId)
        if effect:
            editor.setActiveEffectByName(effect)

    def showError(self, message: str, error: Exception) -> None:
        with errorsShown(message):
            raise error

    def setStatus(self, text: str) -> None:
        self.ui.statusLabel.text = text
        logging.info(text)
        slicer.app.processEvents()
