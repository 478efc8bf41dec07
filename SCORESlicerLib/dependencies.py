"""What scorekit needs beyond Slicer's own Python, and how to install it there.

Standard library only, so the module can check before anything heavy is imported.
"""

from __future__ import annotations

import importlib.util

# Import name → pip requirement.
REQUIREMENTS = {"torch": "torch", "monai": "monai>=1.3", "safetensors": "safetensors>=0.4",
                "filelock": "filelock>=3.12", "tqdm": "tqdm>=4.60",
                "matplotlib": "matplotlib>=3.7", "SimpleITK": "SimpleITK>=2.3"}
TOTALSEGMENTATOR = {"totalsegmentator": "TotalSegmentator>=2.4"}


def missing_packages(with_totalsegmentator: bool = False) -> list[str]:
    """pip requirements of what this Python cannot import."""
    wanted = REQUIREMENTS | (TOTALSEGMENTATOR if with_totalsegmentator else {})
    return [req for name, req in wanted.items() if importlib.util.find_spec(name) is None]


def install_packages(requirements: list[str]) -> None:
    """torch through the PyTorch Utils extension (it picks the CUDA build), the rest with pip."""
    import slicer

    if "torch" in requirements:
        requirements = [r for r in requirements if r != "torch"]
        try:
            import PyTorchUtils
        except ImportError:
            raise RuntimeError("PyTorch is missing: install the PyTorch extension from the "
                               "Extensions Manager, restart Slicer, then retry") from None
        if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False) is None:
            raise RuntimeError("PyTorch could not be installed by the PyTorch extension")
    if requirements:
        slicer.util.pip_install(requirements)
