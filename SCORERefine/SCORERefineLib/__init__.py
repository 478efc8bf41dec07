"""The SCORERefine module's logic without Qt (usable from PythonSlicer)."""
