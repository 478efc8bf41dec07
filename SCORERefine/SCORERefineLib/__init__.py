"""Helpers of the SCORERefine module that need MRML but no Qt (usable from PythonSlicer)."""
