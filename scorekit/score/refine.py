"""One-click refinement: initial segmentation + model → refined segmentation.

Steps: crop around the model's regions, sliding-window inference (Gaussian-weighted
overlapping patches), one label per voxel, paste back onto the original grid.

Choices where the paper is silent:

* **Outside the regions the loss says nothing**, so the network's output there is not
  trusted: with ``confine_to_band`` (the default) a region's prediction is used only in
  its correction band Ω_corr; elsewhere the initial mask is kept.
* **Changes only where the prior agrees** (``prior_veto``, SCORE's default): in the band
  a voxel may join region k only where P_k ≥ 0.5 and leave it only where P_k < 0.5;
  elsewhere the initial label stays. This is what the loss asks during training (L+ raises
  Ŝ only where P is high, L− lowers it only where P is low); a change against P is the
  network's generalisation, not the ratings'. The network decides where to change, the
  image evidence vetoes the direction. On the VerSe suite a model trained on one scan
  grew L5 into the sacrum (Dice 0.953 → 0.792); with the veto 0.962.
* **Changes only onto stronger edges** (``edge_check``, SCORE's default): a region's
  change is undone where the surface it moves does not land on a stronger image edge
  than the one it leaves (``gate.moved_edges``); on the real suites it took back a tenth
  of the network's head-and-neck loss and changed nothing on VerSe or the phantoms.
* **Overlapping channels → one label map**: each voxel goes to the region with the highest
  score (probability in the band, the initial mask's 0 / 1 elsewhere) when that score is
  ≥ 0.5, and to background otherwise. A model that predicts background as a region lets
  it compete like the others (highest score wins).
* **Pasting back** (``inputs.changes_on_scan``): a scan voxel whose nearest working-grid
  voxel changed label takes the new label (a voxel a refined region takes from another,
  unmodelled region becomes theirs; one it gives up becomes background); every other voxel,
  everything outside the crop and every unmodelled region is left as it was.
* **Regions a scan lacks** (one arm in the field of view) stay absent: the model's other
  regions are refined (``missing_regions`` says which were skipped).
"""

from __future__ import annotations

import functools
import itertools
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from monai.inferers import sliding_window_inference

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap, resample_labelmap, write_labelmap
from scorekit.data.volume import Volume, read_volume
from scorekit.devices import autocast, resolve_device
from scorekit.progress import Progress, Silent
from scorekit.score.gate import moved_edges
from scorekit.score.inputs import CaseInputs, case_inputs, changes_on_scan, missing_regions
from scorekit.score.loss import each_region_prior
from scorekit.score.model import ModelConfig, load_model
from scorekit.score.morphology import band


def network_input(image: torch.Tensor, masks: torch.Tensor, prior: torch.Tensor,
                  config: ModelConfig) -> torch.Tensor:
    """``(1, C, Z, Y, X)``: image, one channel per region, prior (image and prior zeroed for
    a model that sees masks only)."""
    if config.mask_only:
        image, prior = torch.zeros_like(image), torch.zeros_like(prior)
    return torch.cat([image, masks.float(), prior])[None]


@torch.no_grad()
def predict_probabilities(network: torch.nn.Module, inputs: CaseInputs, config: ModelConfig,
                          overlap: float = 0.25, sw_batch_size: int = 4) -> torch.Tensor:
    """Ŝ ``(K, Z, Y, X)`` over the crop. Four windows a forward pass: the same output as
    two, 0.3–0.5 s sooner on a 512 × 512 × 343 CT on 2 CPU cores
    (``benchmarks/bench_slicer_refine.py``)."""
    if config.region_free:
        return _each_region_probabilities(network, inputs, config, overlap, sw_batch_size)
    x = network_input(inputs.image, inputs.initial, inputs.prior, config)
    return windowed_probabilities(network, x, config, overlap, sw_batch_size)


@torch.no_grad()
def windowed_probabilities(network: torch.nn.Module, x: torch.Tensor, config: ModelConfig,
                           overlap: float, sw_batch_size: int) -> torch.Tensor:
    """Ŝ for one network input ``x`` (:func:`network_input`), patch by patch."""
    with autocast(x.device):
        logits = sliding_window_inference(x, tuple(config.patch_size), sw_batch_size, network,
                                          overlap=overlap, mode="gaussian")
    return torch.sigmoid(logits[0].float())


def _each_region_probabilities(network: torch.nn.Module, inputs: CaseInputs,
                               config: ModelConfig, overlap: float, sw_batch_size: int
                               ) -> torch.Tensor:
    """A region-free model's Ŝ: the network on each region alone, over the box of its
    band (at least a patch wide); elsewhere Ŝ is the initial mask, which the band keeps."""
    probabilities = inputs.initial.float()
    for k, mask in enumerate(inputs.initial):
        if not mask.any():
            continue
        box = (slice(None), *_box_around(band(mask, config.eta), config.patch_size))
        x = network_input(inputs.image[box], mask[None][box], inputs.prior[box], config)
        probabilities[k][box[1:]] = windowed_probabilities(network, x, config, overlap,
                                                           sw_batch_size)[0]
    return probabilities


def _box_around(mask: torch.Tensor, size: list[int]) -> tuple[slice, ...]:
    """The bounding box of ``mask``, widened about its centre to at least ``size`` voxels
    per axis where the volume allows."""
    box = []
    for axis, (n, want) in enumerate(zip(mask.shape, size)):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        where = torch.nonzero(mask.any(dim=other)).flatten()
        low, high = int(where[0]), int(where[-1]) + 1
        grow = max(want - (high - low), 0)
        low = max(min(low - grow // 2, n - max(want, high - low)), 0)
        box.append(slice(low, min(max(high, low + want), n)))
    return tuple(box)


def labels_from_probabilities(probabilities: torch.Tensor, initial: torch.Tensor,
                              config: ModelConfig, prior: torch.Tensor | None = None
                              ) -> torch.Tensor:
    """``(Z, Y, X)`` int: 0 background, k + 1 region k (see module doc).

    ``probabilities`` has one channel per output (background first when the model predicts
    it); ``initial`` one per region; ``prior`` P ``(1, Z, Y, X)``, needed by a model with
    ``prior_veto``. One channel at a time: a whole scan never holds K more float volumes.
    """
    if config.prior_veto and prior is None:
        raise ValueError("a model with prior_veto needs the prior P")
    held = torch.cat([~initial.any(0, keepdim=True), initial]) if config.background_region \
        else initial
    priors = _channel_priors(prior, initial, config.background_region) \
        if config.prior_veto else itertools.repeat(None)
    best = torch.full(initial.shape[1:], -1.0, device=initial.device)
    index = torch.zeros(initial.shape[1:], dtype=torch.long, device=initial.device)
    for c, (probability, mine, p_k) in enumerate(zip(probabilities, held, priors)):
        if p_k is not None:
            probability = prior_consistent(probability, mine, p_k)
        score = torch.where(band(mine, config.eta), probability, mine.float()) \
            if config.confine_to_band else probability
        higher = score > best  # the first channel wins a tie
        best = torch.where(higher, score, best)
        index[higher] = c
    if config.background_region:  # background competes as a region
        return index
    return torch.where(best >= 0.5, index + 1, torch.zeros_like(index))


def refined_labels(probabilities: torch.Tensor, inputs: CaseInputs, config: ModelConfig
                   ) -> torch.Tensor:
    """The model's index map over the crop: :func:`labels_from_probabilities`, then the
    edge check where the model asks for it (``config.edge_check``)."""
    labels = labels_from_probabilities(probabilities, inputs.initial, config, inputs.prior)
    return edge_checked(inputs, labels) if config.edge_check else labels


def edge_checked(inputs: CaseInputs, labels: torch.Tensor) -> torch.Tensor:
    """``labels`` (index map over the crop) with each region's change undone where the
    surface it moves does not land on a stronger image edge than the one it leaves
    (``gate.moved_edges``): the image's own check on a change, with no ratings."""
    edges = moved_edges(inputs.image, inputs.initial, labels, inputs.grid.spacing_zyx)
    before = index_of(inputs.initial)
    checked = labels.clone()
    for k, (left, new) in enumerate(edges):
        if not new > left:
            moved = (labels == k + 1) ^ inputs.initial[k]
            checked[moved] = before[moved]
    return checked


def _channel_priors(prior: torch.Tensor, initial: torch.Tensor, background: bool):
    """P_k per output channel, one at a time (``loss.region_priors``: 1 − P first for a
    model predicting background)."""
    if background:
        yield 1 - prior[0]
    for _, p_k in each_region_prior(prior[0], initial):
        yield p_k


def prior_consistent(probability: torch.Tensor, held: torch.Tensor, p_k: torch.Tensor
                     ) -> torch.Tensor:
    """One channel's Ŝ with the changes that go against its P_k undone (module doc)."""
    against = ((probability >= 0.5) & ~held & (p_k < 0.5)) | (
        (probability < 0.5) & held & (p_k >= 0.5))
    return torch.where(against, held.float(), probability)


def refine_case(image: Volume, initial: LabelMap, network: torch.nn.Module,
                config: ModelConfig, device: torch.device, source: str = "case") -> LabelMap:
    """Refined label map on the image's grid, with the initial's names and values."""
    initial = on_image_grid(initial, image, source)
    inputs = case_inputs(image, initial, config, source, device)
    refined = refined_labels(predict_probabilities(network, inputs, config), inputs, config)
    return onto_scan(initial, refined, inputs, config.regions)


def on_image_grid(labels: LabelMap, image: Volume, source: str) -> LabelMap:
    """``labels`` on ``image``'s grid (nearest neighbour in physical space where they
    differ): every refinement's output lies on the CT's grid."""
    if labels.geometry.matches(image.geometry):
        return labels
    return resample_labelmap(labels, image.geometry, source)


def onto_scan(initial: LabelMap, refined: torch.Tensor, inputs: CaseInputs,
              regions: list[str]) -> LabelMap:
    """``initial`` with the changes of ``refined`` (an index map 0 / k + 1 over ``regions``
    on the working grid) pasted back onto the scan's grid (``inputs.changes_on_scan``)."""
    before = index_of(inputs.initial).cpu().numpy()
    changes = changes_on_scan(refined.cpu().numpy(), before, inputs)
    # Label value per index (0: background, or a region this scan lacks).
    values = np.array([0, *(initial.value_of(r) if r in initial.names else 0
                            for r in regions)])
    array = initial.array.copy()
    crop = array[inputs.box]
    moved = changes >= 0
    crop[moved] = values[changes[moved]]
    return replace(initial, array=array)


def index_of(masks: torch.Tensor) -> torch.Tensor:
    """(Z, Y, X) index map (0 / k + 1) of non-overlapping (K, Z, Y, X) masks."""
    best, index = masks.int().max(dim=0)
    return torch.where(best > 0, index + 1, torch.zeros_like(index))


@functools.lru_cache(maxsize=2)
def _model(folder: str, stamp: tuple, device: str):
    return load_model(folder, torch.device(device))


def cached_model(model: str | os.PathLike, device: torch.device):
    """``load_model``, remembered while the model's files are unchanged: a process that
    refines many scans (``scorekit worker``) loads a model once."""
    folder = Path(model)
    stamp = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()
                         if p.is_file())) if folder.is_dir() else ()
    return _model(str(folder.resolve()), stamp, str(device))


REFINE_STEPS = 3  # read, refine, write


def refine_files(image: str | os.PathLike, seg: str | os.PathLike, model: str | os.PathLike,
                 out: str | os.PathLike, device: str = "auto", method: str = "auto",
                 ratings: list | None = None, progress: Progress | None = None
                 ) -> tuple[Path, list[str], str]:
    """Read, refine as ``choice.py`` decides (``method``; ``ratings``: this scan's), write
    (label map + sidecar, or .seg.nrrd); returns the output, the model's regions the
    segmentation lacks (left absent) and the refinement used."""
    from scorekit.score.choice import refine_as_named  # it builds on this module

    progress = progress or Silent()
    torch_device = resolve_device(device)
    network, config = cached_model(model, torch_device)
    volume, initial = read_volume(image), read_labelmap(seg)
    progress.step("refine", REFINE_STEPS, "read")
    refined, used = refine_as_named(volume, initial, network, config, torch_device, str(seg),
                                    method, ratings)
    progress.step("refine", REFINE_STEPS, used)
    written = write_labelmap(refined, out)
    progress.step("refine", REFINE_STEPS, "write")
    progress.close()
    return written, missing_regions(initial, config), used
