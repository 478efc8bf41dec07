"""What both modules' widgets share: the parameter-node plumbing of Slicer's scripted-module
template, the first-use dependency install and the status line. (Needs Slicer's GUI
classes: only the widgets import it.)"""

from __future__ import annotations

import logging

import slicer
import vtk
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

from scorekit import registry
from SCORESlicerLib import dependencies


def isSet(path) -> bool:
    """Path parameters start as ``Path('.')``, which is true; "not chosen yet" is that."""
    return bool(path) and str(path) != "."


class ModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Subclasses create ``self.ui``, ``self.logic`` and ``self.training`` (a JobPanel whose
    ``on_finished`` is ``onTrainingFinished``) in ``setup``, call ``observeScene()``, and
    define ``updateButtons`` and ``modelDir``; ``parameterNodeSet`` runs whenever a
    parameter node is connected.

    A job can end while the module is not shown (no parameter node is connected then):
    what runs at its end uses what the job was started with and the logic's parameter
    node, never ``self._parameterNode``; ``updateButtons`` does nothing without one."""

    cancelledMessage = _("Training cancelled.")

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.training = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._trainingModelDir = None  # where the running training job writes
        self._namedAfter = None  # the volume node the case / image name was taken from

    def observeScene(self) -> None:
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        if self.training is not None:
            self.training.cancel()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass(
                "vtkMRMLScalarVolumeNode")

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

    def toggleTraining(self, start_job) -> None:
        """The Start / Cancel button: cancel the running job, or start
        ``start_job(on_progress, on_log)`` writing to ``modelDir()``."""
        if self.training.busy:
            self.training.cancel()
            return
        if not self.dependenciesReady():
            return
        with slicer.util.tryWithErrorDisplay(_("Could not start training.")):
            self._trainingModelDir = self.modelDir()
            self.training.start(start_job)
        self.updateButtons()

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

    def dependenciesReady(self, withTotalSegmentator: bool = False) -> bool:
        """Offer to install what is missing, once, with one confirmation."""
        missing = dependencies.missing_packages(withTotalSegmentator)
        if not missing:
            return True
        if not slicer.util.confirmOkCancelDisplay(
                _("This module needs these Python packages: {packages}. Install them now? "
                  "(This can take several minutes.)").format(packages=", ".join(missing))):
            return False
        with slicer.util.tryWithErrorDisplay(_("Installing the packages failed."),
                                             waitCursor=True):
            dependencies.install_packages(missing)
            return True
        return False

    def setStatus(self, text: str) -> None:
        self.ui.statusLabel.text = text
        logging.info(text)
        slicer.app.processEvents()
