"""Slices of a CT with a segmentation's contours, as PNG, for the web rating form.

Volumes are reoriented to LPS first, so that every case shows the same way: axial with the
patient's left on the image's right and anterior up (radiological convention), coronal
and sagittal with superior up. Pixels are stretched to their physical aspect.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from PIL import Image, ImageDraw, ImageFont

from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Volume

AXES = ("axial", "coronal", "sagittal")
# Window (level, width) in HU.
PRESETS = {"bone": (400.0, 1800.0), "soft": (40.0, 400.0)}
# Corner letters per view: (left edge, right edge, top edge).
ORIENTATION = {"axial": ("R", "L", "A"), "coronal": ("R", "L", "S"), "sagittal": ("A", "P", "S")}


@dataclass(frozen=True)
class ViewCase:
    """A case's CT and segmentation on one LPS-oriented grid, with (z, y, x) spacing."""

    image: np.ndarray
    labels: np.ndarray
    spacing_zyx: tuple[float, float, float]
    values: dict[str, int]  # region name → label value
    colors: dict[int, tuple[float, float, float]]

    @classmethod
    def of(cls, image: Volume, labels: LabelMap) -> ViewCase:
        oriented_image = sitk.DICOMOrient(image.to_sitk(), "LPS")
        oriented_labels = sitk.DICOMOrient(labels.to_sitk(), "LPS")
        spacing = tuple(float(s) for s in reversed(oriented_image.GetSpacing()))
        return cls(sitk.GetArrayFromImage(oriented_image),
                   sitk.GetArrayFromImage(oriented_labels), spacing,
                   {name: v for v, name in labels.regions.items()},
                   {v: labels.color(v) for v in labels.regions})

    def slices(self, axis: str) -> int:
        return self.image.shape[{"axial": 0, "coronal": 1, "sagittal": 2}[axis]]

    def focus(self, value: int | None = None) -> dict[str, int]:
        """Slice indices through the centre of region ``value`` (of all regions when None;
        of the volume when empty)."""
        points = np.argwhere(self.labels == value if value is not None else self.labels > 0)
        centre = points.mean(axis=0) if len(points) else np.array(self.image.shape) / 2
        z, y, x = (int(c) for c in centre)
        return {"axial": z, "coronal": y, "sagittal": x}

    def plane(self, axis: str, index: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """(image, labels, (row, column) spacing) of one slice, superior / anterior up."""
        sz, sy, sx = self.spacing_zyx
        if axis == "axial":
            return self.image[index], self.labels[index], (sy, sx)
        if axis == "coronal":
            return self.image[::-1, index], self.labels[::-1, index], (sz, sx)
        return self.image[::-1, :, index], self.labels[::-1, :, index], (sz, sy)


def render_slice(case: ViewCase, axis: str, index: int, preset: str = "bone",
                 contours: bool = True, size: int = 512) -> bytes:
    """PNG of one slice: windowed CT, region contours in their colours, orientation letters."""
    image, labels, (row_mm, col_mm) = case.plane(axis, index)
    level, width = PRESETS[preset]
    grey = np.clip((image.astype(np.float32) - (level - width / 2)) / width, 0, 1)
    scale = size / max(image.shape[0] * row_mm, image.shape[1] * col_mm)
    shape = (max(1, round(image.shape[1] * col_mm * scale)),
             max(1, round(image.shape[0] * row_mm * scale)))
    picture = Image.fromarray((grey * 255).astype(np.uint8)).resize(shape, Image.BILINEAR)
    rgb = np.stack([np.asarray(picture)] * 3, axis=-1)
    if contours:
        shown = np.asarray(Image.fromarray(labels.astype(np.int32)).resize(shape, Image.NEAREST))
        for value, color in case.colors.items():
            rgb[_outline(shown == value)] = [round(255 * c) for c in color]
    out = Image.fromarray(rgb)
    _letters(ImageDraw.Draw(out), ORIENTATION[axis], out.size)
    buffer = io.BytesIO()
    out.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` within 2 pixels of its edge: a line visible at any zoom."""
    inner = mask.copy()
    for _ in range(2):
        shrunk = inner.copy()
        shrunk[1:] &= inner[:-1]
        shrunk[:-1] &= inner[1:]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        inner = shrunk
    return mask & ~inner


def _letters(draw: ImageDraw.ImageDraw, letters: tuple[str, str, str], size) -> None:
    left, right, top = letters
    width, height = size
    font = ImageFont.load_default(size=18)
    for text, xy in ((left, (6, height // 2 - 9)), (right, (width - 18, height // 2 - 9)),
                     (top, (width // 2 - 6, 4))):
        draw.text(xy, text, fill=(255, 220, 0), font=font)
