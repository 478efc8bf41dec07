"""A label map: an integer volume whose non-zero values are named, coloured regions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scorekit.data.volume import Geometry, Volume
from scorekit.errors import ScoreKitError

# Distinct, colour-blind-friendly segment colours (Okabe–Ito, then Tableau), RGB in 0..1.
PALETTE = [
    (0.902, 0.624, 0.000), (0.337, 0.706, 0.914), (0.000, 0.620, 0.451),
    (0.941, 0.894, 0.259), (0.000, 0.447, 0.698), (0.835, 0.369, 0.000),
    (0.800, 0.475, 0.655), (0.580, 0.404, 0.741), (0.549, 0.337, 0.294),
    (0.737, 0.741, 0.133), (0.090, 0.745, 0.812), (0.498, 0.498, 0.498),
]


@dataclass(frozen=True)
class LabelMap(Volume):
    """Integer volume whose non-zero values are named regions."""

    regions: dict[int, str] = field(default_factory=dict)  # value -> name
    colors: dict[int, tuple[float, float, float]] = field(default_factory=dict)

    def value_of(self, name: str) -> int:
        for value, region in self.regions.items():
            if region == name:
                return value
        raise ScoreKitError(f"unknown region '{name}' (regions: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [self.regions[v] for v in sorted(self.regions)]

    def mask(self, name: str) -> np.ndarray:
        """Boolean mask ``[z, y, x]`` of one region."""
        return self.array == self.value_of(name)

    def color(self, value: int) -> tuple[float, float, float]:
        return self.colors.get(value, PALETTE[(value - 1) % len(PALETTE)])

    def region_stats(self) -> list[dict]:
        """Per region: value, name, voxel count and volume in millilitres."""
        counts = np.bincount(self.array.ravel(), minlength=max(self.regions, default=0) + 1)
        ml = self.geometry.voxel_volume_ml
        return [{"value": v, "name": self.regions[v], "voxels": int(counts[v]),
                 "volume_ml": round(float(counts[v]) * ml, 3)} for v in sorted(self.regions)]

    @classmethod
    def from_masks(cls, masks: dict[str, np.ndarray], geometry: Geometry) -> LabelMap:
        """Build a label map from named boolean masks; later masks win where they overlap."""
        array = np.zeros(geometry.shape, dtype=np.uint8 if len(masks) < 256 else np.uint16)
        for value, mask in enumerate(masks.values(), start=1):
            array[mask] = value
        return cls(array, geometry, regions=dict(enumerate(masks, start=1)))
