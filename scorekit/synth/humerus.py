"""Synthetic CT of both upper arms with humerus-like bones (the test bed and the demo).

Each arm is a soft-tissue cylinder (subcutaneous fat around muscle) holding a humerus:
an elliptic shaft with a cortical shell (1300–1700 HU) around a fatty marrow cavity,
a proximal epiphysis (humeral head and greater tubercle) and a distal one (flared
epicondyles, capitulum and trochlea) filled with trabecular bone (180–320 HU, textured)
under a thin cortex. The image is blurred to mimic partial volume and slice thickness,
then given correlated noise. Every size and intensity is drawn per case from a seed.

Geometry: identity direction in LPS, so +x is patient left: ``humerus_left`` lies at the
larger x indices, as in a real CT. The bone axis runs along z, the head superior.
Fields of view (the SCORE paper's three test sets): ``full`` covers the whole humerus,
``proximal`` and ``distal`` the upper / lower 160 mm of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Geometry, Volume

FIELDS_OF_VIEW = ("full", "proximal", "distal")
REGIONS = ("humerus_left", "humerus_right")
AIR, FAT, MUSCLE = -1000.0, -95.0, 45.0


@dataclass(frozen=True)
class Phantom:
    image: Volume  # int16 HU
    reference: LabelMap  # 1 humerus_left, 2 humerus_right
    epiphysis: np.ndarray  # float32 [z, y, x] in 0..1: 1 at the bone ends, 0 mid-shaft


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """0 at edge0, 1 at edge1, smooth in between (edges may be in either order)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def smooth_noise(shape, sigma_vox, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_vox)
    return field / (field.std() + 1e-8)


def humerus_phantom(seed: int = 0, fov: str = "full", size_xy: int = 128,
                    slices: int = 160, spacing=(1.5, 1.5, 2.0)) -> Phantom:
    """One case. ``slices`` is the full-FOV slice count; partial FOVs use half of it."""
    if fov not in FIELDS_OF_VIEW:
        raise ValueError(f"field of view '{fov}' is not one of {', '.join(FIELDS_OF_VIEW)}")
    rng = np.random.default_rng(seed)
    length = rng.uniform(255, 295)  # bone length, mm; the bone spans z in [0, length]
    nz = slices if fov == "full" else slices // 2
    extent_z = nz * spacing[2]
    z0 = {"full": (length - extent_z) / 2, "proximal": length + 15 - extent_z,
          "distal": -15.0}[fov]
    origin = (-(size_xy - 1) * spacing[0] / 2, -(size_xy - 1) * spacing[1] / 2, z0)
    geometry = Geometry((size_xy, size_xy, nz), tuple(spacing), origin,
                        (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))

    # Physical coordinates of the voxel centres, broadcastable to [z, y, x].
    z = (origin[2] + np.arange(nz) * spacing[2]).reshape(-1, 1, 1).astype(np.float32)
    y = (origin[1] + np.arange(size_xy) * spacing[1]).reshape(1, -1, 1).astype(np.float32)
    x = (origin[0] + np.arange(size_xy) * spacing[0]).reshape(1, 1, -1).astype(np.float32)

    hu = np.full(geometry.shape, AIR, dtype=np.float32)
    labels = np.zeros(geometry.shape, dtype=np.uint8)
    epiphysis = np.zeros(geometry.shape, dtype=np.float32)
    offset = rng.uniform(50, 56)
    for value, side in ((1, +1), (2, -1)):  # humerus_left at +x (patient left)
        arm = _arm(rng, side * offset, x, y, z, length)
        hu[arm.body] = FAT + rng.uniform(-12, 12)
        hu[arm.muscle] = MUSCLE + rng.uniform(-10, 12)
        bone = _humerus(rng, side, side * offset, x, y, z, length, spacing)
        hu[bone.mask] = bone.hu[bone.mask]
        labels[bone.mask] = value
        epiphysis = np.maximum(epiphysis, bone.epiphysis)

    # Partial volume (in-plane PSF ~0.7 mm, slice profile ~1.2 mm), then correlated noise.
    sigma = (1.2 / spacing[2], 0.7 / spacing[1], 0.7 / spacing[0])
    hu = ndimage.gaussian_filter(hu, sigma)
    hu += rng.uniform(12, 25) * smooth_noise(hu.shape, (0.3, 0.6, 0.6), rng)
    image = Volume(np.clip(np.rint(hu), -1024, 3071).astype(np.int16), geometry)
    reference = LabelMap(labels, geometry, regions=dict(enumerate(REGIONS, start=1)))
    return Phantom(image, reference, epiphysis)


@dataclass(frozen=True)
class _Arm:
    body: np.ndarray  # whole arm (fat and muscle)
    muscle: np.ndarray


def _arm(rng, centre_x, x, y, z, length) -> _Arm:
    centre_y = rng.uniform(-6, 6)
    t = z / length  # 0 at the elbow, 1 at the shoulder
    radius = rng.uniform(36, 41) * (0.82 + 0.18 * np.clip(t, 0, 1.2))  # deltoid bulk on top
    fat = rng.uniform(4, 9)
    r = np.hypot((x - centre_x) / 1.08, y - centre_y)  # slightly wider than deep
    return _Arm(body=r <= radius, muscle=r <= radius - fat)


@dataclass(frozen=True)
class _Bone:
    mask: np.ndarray
    hu: np.ndarray
    epiphysis: np.ndarray


def _humerus(rng, side, centre_x, x, y, z, length, spacing) -> _Bone:
    """One humerus; ``side`` +1 left, -1 right (medial is -side in x)."""
    t = z / length
    centre_y = rng.uniform(-4, 4)
    xc = centre_x + side * 1.5 * np.sin(np.pi * np.clip(t, 0, 1))  # slight lateral bow
    yc = centre_y + 2.0 * np.sin(np.pi * np.clip(t, 0, 1))

    # Shaft cross-section, flaring into the epicondyles distally and the neck proximally.
    rx, ry = rng.uniform(10, 12), rng.uniform(9, 10.5)
    distal = smoothstep(0.16, 0.04, t)
    proximal = smoothstep(0.80, 0.93, t)
    half_width = rng.uniform(27, 31)
    rx_t = rx + (half_width - rx) * distal + (19 - rx) * proximal
    ry_t = ry + (rng.uniform(9, 11) - ry) * distal + (18 - ry) * proximal
    head_r = rng.uniform(21, 24)
    head_z = length - head_r
    condyle_z = rng.uniform(9, 12)
    in_shaft = (z >= condyle_z) & (z <= head_z)
    mask = in_shaft & (((x - xc) / rx_t) ** 2 + ((y - yc) / ry_t) ** 2 <= 1.0)

    def ball(cx, cy, cz, r):
        return (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= r * r

    xe, ye = centre_x, centre_y  # bone axis at the ends (sin bow is 0 there)
    mask |= ball(xe - side * 6, ye + 3, head_z, head_r)  # head, medial and posterior
    mask |= ball(xe + side * 15, ye - 4, head_z - 12, rng.uniform(9, 11))  # greater tubercle
    mask |= ball(xe + side * 12, ye - 3, condyle_z, rng.uniform(9, 11))  # capitulum (lateral)
    mask |= ball(xe - side * 9, ye, condyle_z + 1, rng.uniform(11, 13))  # trochlea (medial)
    mask |= ball(xe - side * (half_width - 6), ye, condyle_z + 14, 7)  # medial epicondyle

    # A function of the height alone, so it also covers the voxels around the bone.
    epiphysis = np.broadcast_to(np.maximum(smoothstep(0.24, 0.08, t),
                                           smoothstep(0.70, 0.86, t)), mask.shape)
    depth = _depth_mm(mask, spacing)
    cortex_mm = 1.1 + rng.uniform(2.2, 3.4) * (1 - epiphysis)  # thick shaft, thin ends
    texture = smooth_noise(mask.shape, 1.2, rng)
    marrow = rng.uniform(-20, 60) + 15 * texture
    trabecular = rng.uniform(180, 320) + 60 * texture
    cortical = rng.uniform(1300, 1700) + 80 * texture
    interior = marrow * (1 - epiphysis) + trabecular * epiphysis
    hu = np.where(depth < cortex_mm, cortical, interior).astype(np.float32)
    return _Bone(mask, hu, epiphysis.astype(np.float32))


def _depth_mm(mask: np.ndarray, spacing) -> np.ndarray:
    """Distance (mm) from each voxel inside ``mask`` to the outside, 0 outside."""
    depth = np.zeros(mask.shape, dtype=np.float32)
    box = ndimage.find_objects(mask.astype(np.uint8))
    if not box:
        return depth
    box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box[0])
    depth[box] = ndimage.distance_transform_edt(mask[box], sampling=spacing[::-1])
    return depth
