"""WeakStatSeg's logic: MRML, no Qt (usable from PythonSlicer and with slicer-core)."""
