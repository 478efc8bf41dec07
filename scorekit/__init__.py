"""scorekit: the headless backend of the SCORE extension for 3D Slicer.

Pure Python (numpy, SimpleITK, torch); never imports slicer or Qt, so the same calls serve
the Slicer modules, the ``scorekit`` command line and batch scripts.
"""

__version__ = "0.1.0"
