"""The training loop every refinement method shares, with hooks for what differs.

:func:`train` looks the method up in the registry (``scorekit.registry.METHODS``), loads the
workspace's rated cases, and runs a :class:`Trainer` subclass. The loop here owns what is
the same for every method: case loading, patch sampling and spatial augmentation, several
processes, validation, model selection, checkpoints and progress. A method is a small
subclass that fills in the hooks (nnU-Net's trainer variants are the model):

* :meth:`Trainer.train_step` — one optimisation step on one case (required);
* :meth:`Trainer.selection_value` — how good a validation result is (higher is better);
* :meth:`Trainer.loss_weights` — the SCORE loss weights used in validation;
* :meth:`Trainer.rating_errors` — the error labels a case's ratings give the loss;
* :meth:`Trainer.vetoes_with_prior` — whether its refinement keeps only changes P agrees
  with;
* class attributes ``needs_reference`` (train on reference masks) and ``mask_only``
  (image and prior channels zeroed).

Shared behaviour:

* **Cases with some of the regions** (one arm in the field of view): the model learns the
  union of the workspace's regions; a region a case lacks has an empty mask there and
  counts as rated "excellent, no error", which adds no loss (nothing to keep, nothing to
  correct) and asks the raters nothing.
* **Several raters**: every rater who rated all of a case's regions gives that case one
  rating set; a step draws one set at random, so the expected loss is the mean of the
  raters' losses (no vote, no averaging of labels that would mix directions). Validation
  takes the mean SCORE loss over every rating set.
* **Validation and model selection**: when there are at least two rated cases, the last
  20 % (at least one) by case id are held out and the model with the best
  :meth:`~Trainer.selection_value` on them is kept; with one case the last model is kept.
  Two cases train on one and validate on the other: judged on the scans it learnt from,
  a network looks right whether or not it generalises (``docs/evaluation.md``).
* **Go / no-go**: after training, the saved model is judged against the ratings of the
  validation cases (the training cases when there are none; ``verdict.py``) and the
  verdict is stored in its ``model.json``.
* **Checkpoints**: one file, ``<CHECKPOINT>.safetensors``, every ``checkpoint_every``
  steps: weights, optimizer state and random generator as tensors, step, history and
  options as JSON in its header, written atomically, so that its parts always come from
  one step and a killed run continues with ``resume=True`` exactly where it was.
* **Several GPUs**: launched with ``torchrun --nproc_per_node N -m scorekit train ...``
  every process trains on its own random patches and DistributedDataParallel averages the
  gradients (NCCL on GPUs, gloo on CPUs); process 0 alone validates and writes files.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from scorekit import registry
from scorekit.data.atomic import atomic_path, remove_stale_temporaries, write_text_atomic
from scorekit.data.ratings import NONE, QUALITY_MAX
from scorekit.data.volume import Geometry
from scorekit.data.workspace import Case, Workspace
from scorekit.devices import autocast, resolve_device
from scorekit.errors import ScoreKitError
from scorekit.metrics import dice
from scorekit.progress import Progress, Silent
from scorekit.score import augment
from scorekit.score.gate import fit_gate
from scorekit.score.inputs import (
    CaseInputs,
    case_inputs,
    default_spacing,
    regions_extent_mm,
    split_index,
    working_masks,
)
from scorekit.score.loss import (
    LossWeights,
    add_background_region,
    region_priors,
    whole_case_loss,
)
from scorekit.score.model import ModelConfig, build_network, load_model, save_model
from scorekit.score.morphology import band
from scorekit.score.prior_refine import gated_rating_sets, rating_agreement, region_evidence
from scorekit.score.refine import predict_probabilities, refined_labels
from scorekit.score.verdict import decide, describe, direction_checks, hard_logits, name_best
from scorekit.weights import read_metadata


@dataclass
class TrainOptions:
    steps: int = registry.TRAINING_STEPS
    lr: float = registry.LEARNING_RATE
    patch_size: list[int] = field(default_factory=lambda: [registry.PATCH_SIZE] * 3)
    features: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    res_units: int = 0
    seed: int = 0
    ablation: str | None = None  # one of registry.ABLATIONS (SCORE only)
    augment: bool = True
    confine_to_band: bool = True
    background_region: bool = False
    initial_logit: float = ModelConfig.initial_logit  # 0: no initial-mask skip (model.py)
    prior: str = registry.DEFAULT_PRIOR
    spacing_mm: float | None = None  # working grid; None: the training scans' (see train)
    eta_mm: float = registry.ETA_MM
    validate_every: int = 100
    checkpoint_every: int = 50
    band_patch_fraction: float = 0.8
    # the loss sees only the rating directions the learned gate allows (gate.gated_errors)
    gated_labels: bool = False
    hold_band: bool = False  # regions rated none also held outside (loss.LossWeights)
    region_free: bool = False  # one network for every region (model.ModelConfig)
    method: str = registry.DEFAULT_METHOD


@dataclass
class TrainingCase:
    id: str
    inputs: CaseInputs
    rating_sets: list[tuple[torch.Tensor, torch.Tensor]]  # (q, l), each (K,)
    reference: torch.Tensor | None  # (K, Z, Y, X) bool on the crop
    band_voxels: torch.Tensor  # (N, 3) crop coordinates of Ω_corr voxels: patch centres
    volumes: torch.Tensor  # (K,) voxels per region


def train(workspace: str | os.PathLike, out: str | os.PathLike, options: TrainOptions,
          device: str = "auto", resume: bool = False, progress: Progress | None = None) -> Path:
    """Train ``options.method`` on ``workspace``; the selected model is written to ``out``."""
    progress = progress or Silent()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ScoreKitError(f"{out}: is a file; the model goes into a folder")
    method = registry.load(registry.METHODS, options.method, "method")
    if options.ablation not in (None, *registry.ABLATIONS):
        raise ScoreKitError(f"unknown ablation '{options.ablation}'; one of "
                            + ", ".join(registry.ABLATIONS))
    registry.load(registry.PRIORS, options.prior, "prior")
    if options.region_free and not method.trains_region_free:
        raise ScoreKitError(f"{options.method} trains on every region at once; it has no "
                            "region-free variant")
    if options.region_free and options.background_region:
        raise ScoreKitError("a region-free model refines each region alone; it cannot also "
                            "learn background as a region")
    if options.gated_labels and not method.learns_gate:
        raise ScoreKitError(f"gated labels need the learned gate, which {options.method} "
                            "does not fit")
    remove_stale_temporaries(out)  # what a killed write left
    checkpoint = out / f"{registry.CHECKPOINT}.safetensors"
    if checkpoint.exists() and not resume:
        raise ScoreKitError(f"{out}: holds a checkpoint; resume it or choose another model "
                            "folder")
    if checkpoint.exists():
        checkpoint_meta(checkpoint)  # a foreign or damaged file is refused before any work
    group, torch_device = _join_process_group(device)
    if not group.is_main:
        progress = Silent()
    torch.manual_seed(options.seed)
    ws = Workspace(workspace)
    regions = _union_of_regions(ws)
    grids = rated_grids(ws, regions)
    spacing_mm = options.spacing_mm or working_spacing(ws, regions)
    check_working_grids(grids, spacing_mm)
    config = ModelConfig(regions=regions, patch_size=list(options.patch_size),
                         features=list(options.features), res_units=options.res_units,
                         confine_to_band=options.confine_to_band,
                         background_region=options.background_region,
                         region_free=options.region_free,
                         initial_logit=options.initial_logit, prior=options.prior,
                         mask_only=method.mask_only, spacing_mm=spacing_mm,
                         prior_veto=method.vetoes_with_prior(options),
                         edge_check=method.checks_edges,
                         eta=_voxels(options.eta_mm, spacing_mm))
    run = method(config, options, torch_device, out, group)
    progress.log(f"loading rated cases from {ws.path} onto {torch_device}")
    cases = [c for c in (run.load_case(ws, case) for case in ws.cases()) if c is not None]
    if not cases:
        raise ScoreKitError(f"{ws.path}: no case has ratings for all of its regions "
                            f"({', '.join(regions)})")
    train_cases, val_cases = _split(cases)
    progress.log(f"{len(train_cases)} training and {len(val_cases)} validation cases; "
                 f"regions {', '.join(regions)}")
    if method.learns_gate:
        run.config = replace(run.config, gate=fit_gate(
            [e for c in train_cases for e in region_evidence(c.inputs, run.config,
                                                              c.rating_sets)]))
        progress.log(f"learned gate: {run.config.gate}")
        if options.gated_labels:  # validation and the verdict keep the raters' own labels
            train_cases = [replace(c, rating_sets=gated_rating_sets(c.inputs, run.config,
                                                                    c.rating_sets))
                           for c in train_cases]
    try:
        if resume:
            run.load_checkpoint(progress)
        run.fit(train_cases, val_cases, progress)
    finally:
        group.leave()
    return out


@dataclass(frozen=True)
class _ProcessGroup:
    """Where this process stands in a torchrun launch (a group of one otherwise)."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def leave(self) -> None:
        if self.size > 1:
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


# Rated regions the verdict's support criterion needs on the held-out cases; with fewer
# (a 6-case workspace holds out one case: two regions, too few to judge a model by)
# it counts every rated case.
MIN_SUPPORT_RATINGS = 10


def support_cases(cases: list[TrainingCase], all_cases: list[TrainingCase]
                  ) -> list[TrainingCase]:
    """The rated cases whose regions the verdict's support criterion weighs: ``cases`` (the
    held-out ones) where they hold ``MIN_SUPPORT_RATINGS`` rated regions, else
    ``all_cases``."""
    rated = sum(len(c.rating_sets) * int(c.inputs.initial.flatten(1).any(1).sum())
                for c in cases)
    return cases if rated >= MIN_SUPPORT_RATINGS or not all_cases else all_cases


def _join_process_group(device: str) -> tuple[_ProcessGroup, torch.device]:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    torch_device = resolve_device(device)
    if size <= 1:
        return _ProcessGroup(), torch_device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch_device.type == "cuda":
        torch_device = torch.device("cuda", local)
        torch.cuda.set_device(torch_device)
    backend = "nccl" if torch_device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend, rank=rank, world_size=size)
    return _ProcessGroup(rank, size), torch_device


CHECKPOINT_KEY = "scorekit.checkpoint"  # the step, history and options, in the file's header


def checkpoint_meta(path: str | os.PathLike) -> dict:
    """What a checkpoint file says of itself: step, best, history, optimizer groups."""
    text = read_metadata(path).get(CHECKPOINT_KEY)
    if text is None:
        raise ScoreKitError(f"{path}: not a scorekit checkpoint (no '{CHECKPOINT_KEY}')")
    return json.loads(text)


def _union_of_regions(ws: Workspace) -> list[str]:
    """Every region of the workspace, in order of first appearance (cases by id)."""
    cases = ws.cases()
    if not cases:
        raise ScoreKitError(f"{ws.path}: workspace has no case")
    return list(dict.fromkeys(region for case in cases for region in case.regions))


def rated_grids(ws: Workspace, regions: list[str]) -> dict[str, Geometry]:
    """Each case's image grid, from its header; what headers and the ratings store can
    refuse (an image that is not one, no fully rated case) is refused before any loading."""
    cases = ws.cases()
    grids = {case.id: case.geometry() for case in cases}
    counts = ws.ratings.counts()
    if not any(counts.get((case.id, rater)) == len(case.regions)
               for case in cases for rater in {r for _, r in counts}):
        raise ScoreKitError(f"{ws.path}: no case has ratings for all of its regions "
                            f"({', '.join(regions)})")
    return grids


# Beyond this many voxels a scan's working grid is refused: 2**30 float32 voxels are 4 GB
# per tensor, and training holds several per case (image, prior, masks, gradients).
MAX_WORKING_VOXELS = 2**30


def check_working_grids(grids: dict[str, Geometry], spacing_mm: float) -> None:
    for case_id, grid in grids.items():
        size = grid.isotropic(spacing_mm).size
        voxels = math.prod(size)  # Python integers: no overflow at absurd spacings
        if voxels > MAX_WORKING_VOXELS:
            raise ScoreKitError(
                f"case '{case_id}': a {spacing_mm:g} mm working grid would be "
                f"{'×'.join(map(str, size))} voxels ({voxels * 4 / 1e9:.3g} GB per float32 "
                f"volume, at most {MAX_WORKING_VOXELS * 4 / 1e9:.2g} GB); choose a coarser "
                "--spacing")


def working_spacing(ws: Workspace, regions: list[str]) -> float:
    """The default working grid: the median over the training scans of each scan's finest
    voxel edge, as nnU-Net picks its target spacing from the data (1.0 mm on the VerSe
    scans, 1.5 mm on the humerus phantoms), coarsened where the largest scan's regions
    would not fit the memory budget (``inputs.default_spacing``)."""
    cases = ws.cases()
    if not cases:
        return 1.0
    finest = float(np.median([min(case.spacing()) for case in cases]))
    extents = [regions_extent_mm(case.initial(), regions) for case in cases]
    return default_spacing(finest, max(extents, key=np.prod))


def _voxels(mm: float, spacing_mm: float | None) -> int:
    """A length in voxels of the working grid (at least one); without a working grid, the
    scans' own voxels are taken as 1 mm."""
    return max(1, round(mm / (spacing_mm or 1.0)))


def _padded_to_patch(inputs: CaseInputs, reference: torch.Tensor | None, patch_size
                     ) -> tuple[CaseInputs, torch.Tensor | None]:
    """A crop smaller than a patch (a thin scan) is padded at its far ends: air-like image,
    no region, no prior. Refinement needs no such step (its sliding window pads)."""
    shape = inputs.image.shape[-3:]
    pad = [max(p - n, 0) for p, n in zip(patch_size, shape)]
    if not any(pad):
        return inputs, reference
    widths = [w for p in reversed(pad) for w in (0, p)]  # F.pad order: x, y, z
    grow = torch.nn.functional.pad

    def masks(m):
        return None if m is None else grow(m.float(), widths).bool()

    padded = replace(inputs, image=grow(inputs.image, widths, value=float(inputs.image.min())),
                     initial=masks(inputs.initial), prior=grow(inputs.prior, widths))
    return padded, masks(reference)


def _split(cases: list[TrainingCase]) -> tuple[list[TrainingCase], list[TrainingCase]]:
    if len(cases) < 2:
        return cases, []
    held_out = max(1, round(0.2 * len(cases)))
    cases = sorted(cases, key=lambda c: c.id)
    return cases[:-held_out], cases[-held_out:]


def verdict_evidence(workspace: str | os.PathLike, model: str | os.PathLike,
                     device: str = "cpu") -> tuple[torch.nn.Module, ModelConfig,
                                                   list[TrainingCase]]:
    """A trained model and the rated cases of its training workspace whose regions its
    verdict's support criterion weighed (``support_cases``), loaded as its training loaded
    them: for examining a verdict afterwards (``benchmarks/bench_verdict.py``)."""
    torch_device = resolve_device(device)
    network, config = load_model(model, torch_device)
    recorded = config.training or {}
    options = TrainOptions(**{f.name: recorded[f.name] for f in fields(TrainOptions)
                              if f.name in recorded})
    method = registry.load(registry.METHODS, options.method, "method")
    run = method(config, options, torch_device, Path(model))
    ws = Workspace(workspace)
    cases = [c for c in (run.load_case(ws, case) for case in ws.cases()) if c is not None]
    train_cases, val_cases = _split(cases)
    return network, config, support_cases(val_cases or train_cases, train_cases + val_cases)


class Trainer:
    """One training run: network, optimizer, generator, history; hooks for the method."""

    needs_reference = False  # the method trains on reference masks
    learns_gate = False  # fits the gate of the prior's corrections to the ratings (gate.py)
    checks_edges = False  # its refinement keeps only changes onto stronger edges (refine.py)
    mask_only = False  # the network sees the masks only (image and prior zeroed)
    trains_region_free = False  # its step can show the network one region (model.py)

    def __init__(self, config: ModelConfig, options: TrainOptions, device, out: Path,
                 group: _ProcessGroup = _ProcessGroup()):
        self.config, self.options, self.device, self.out = config, options, device, out
        self.group = group
        self.network = build_network(config).to(device)
        self.model = self.network  # what the training steps call
        if group.size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.model = DistributedDataParallel(self.network, device_ids=ids)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=options.lr)
        self.generator = torch.Generator().manual_seed(options.seed + 1000 * group.rank)
        self.weights = self.loss_weights()
        self.step = 0
        self.best: float | None = None
        self.history: list[dict] = []

    # -- hooks -------------------------------------------------------------------------------
    def train_step(self, case: TrainingCase) -> dict[str, float]:
        """One optimisation step on ``case``; returns ``loss`` and its terms."""
        raise NotImplementedError

    def selection_value(self, metrics: dict[str, float]) -> float:
        """How good a validation result is (higher is better)."""
        raise NotImplementedError

    def loss_weights(self) -> LossWeights:
        return LossWeights()

    @classmethod
    def vetoes_with_prior(cls, options: TrainOptions) -> bool:
        """Whether refinement undoes changes against P (``refine.prior_consistent``)."""
        return False

    def rating_errors(self, error: torch.Tensor, initial: torch.Tensor,
                      reference: torch.Tensor | None, case_id: str) -> torch.Tensor:
        """The error labels (K,) the loss sees for one rating set."""
        return error

    # -- cases -------------------------------------------------------------------------------
    def load_case(self, ws: Workspace, case: Case) -> TrainingCase | None:
        """A case's tensors and rating sets; None when no rater rated all its regions."""
        regions = self.config.regions
        absent = {r: (QUALITY_MAX, NONE) for r in regions if r not in case.regions}
        by_rater: dict[str, dict[str, tuple[int, int]]] = {}
        for r in ws.ratings.all(case.id):
            by_rater.setdefault(r.rater, dict(absent))[r.region] = (r.quality, r.error)
        complete = [v for v in by_rater.values() if set(regions) <= set(v)]
        if not complete:
            return None
        if self.needs_reference and not case.has_reference:
            raise ScoreKitError(f"case '{case.id}': {self.options.method} trains on reference "
                                "masks, and this case has none")
        source = f"case '{case.id}'"
        inputs = case_inputs(case.image(), case.initial(), self.config, source, self.device)
        reference = None
        if case.has_reference:
            reference = working_masks(case.reference(), regions, inputs,
                                      f"{source} reference").to(self.device)
        sets = []
        for ratings in complete:
            q = torch.tensor([ratings[r][0] for r in regions], device=self.device)
            l_ = torch.tensor([ratings[r][1] for r in regions], device=self.device)
            sets.append((q, self.rating_errors(l_, inputs.initial, reference, case.id)))
        inputs, reference = _padded_to_patch(inputs, reference, self.config.patch_size)
        band_voxels = torch.nonzero(band(inputs.initial.any(0), self.config.eta)).cpu()
        volumes = inputs.initial.flatten(1).sum(1)
        return TrainingCase(case.id, inputs, sets, reference, band_voxels, volumes)

    # -- patches -----------------------------------------------------------------------------
    def voxels(self, mm: float) -> int:
        return _voxels(mm, self.config.spacing_mm)

    def _pick(self, n: int) -> int:
        return int(torch.randint(n, (1,), generator=self.generator))

    def _chance(self, p: float) -> bool:
        return float(torch.rand((), generator=self.generator)) < p

    def _patch_centre(self, case: TrainingCase) -> list[int]:
        if len(case.band_voxels) and self._chance(self.options.band_patch_fraction):
            return case.band_voxels[self._pick(len(case.band_voxels))].tolist()
        return [self._pick(n) for n in case.inputs.image.shape[-3:]]

    def _patch_boxes(self, centre, shape) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
        """The patch, and the patch grown by a margin for morphology and rotation (both in
        crop coordinates), clamped to the crop."""
        size = self.config.patch_size
        margin = [self.config.eta + 4 + s // 8 for s in size]
        starts = [min(max(c - s // 2, 0), max(n - s, 0)) for c, s, n in zip(centre, size, shape)]
        inner = tuple(slice(a, min(a + s, n)) for a, s, n in zip(starts, size, shape))
        outer = tuple(slice(max(i.start - m, 0), min(i.stop + m, n))
                      for i, m, n in zip(inner, margin, shape))
        return inner, outer

    def spatial_patch(self, sample: augment.Sample, case: TrainingCase
                      ) -> tuple[augment.Sample, tuple]:
        """A patch (with margin) of ``sample``, mirrored and warped at random, and where the
        patch lies in it."""
        centre = self._patch_centre(case)
        augmenting = self.options.augment
        if augmenting and self._chance(0.5):
            sample = augment.flip_left_right(sample, augment.lateral_swap(self.config.regions))
            centre[2] = sample.image.shape[-1] - 1 - centre[2]
        inner, outer = self._patch_boxes(centre, sample.image.shape[-3:])
        box = (slice(None), *outer)
        sample = augment.Sample(sample.image[box], sample.initial[box], sample.prior[box],
                                sample.quality, sample.error)
        if augmenting and self._chance(0.3):
            sample = augment.random_affine(sample, self.generator)
        trim = tuple(slice(i.start - o.start, i.stop - o.start) for i, o in zip(inner, outer))
        return sample, (slice(None), *trim)

    def loss_targets(self, sample: augment.Sample):
        """S̃, P, q, l as the SCORE loss sees them (batch of one; background prepended if
        used)."""
        initial, quality, error = sample.initial[None], sample.quality[None], sample.error[None]
        prior = region_priors(sample.prior[None], initial, self.config.background_region)
        if self.config.background_region:
            initial, quality, error = add_background_region(initial, quality, error)
        return initial, prior, quality, error

    def optimise(self, loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's logits for a training input, in training mode, mixed precision."""
        self.model.train()
        with autocast(self.device):
            return self.model(x)

    # -- validation --------------------------------------------------------------------------
    def validate(self, cases: list[TrainingCase]) -> dict[str, float]:
        """Mean SCORE loss over every rating set; mean Dice too when every case has a
        reference."""
        self.network.eval()
        dices, losses = [], []
        for case in cases:
            probs = predict_probabilities(self.network, case.inputs, self.config)
            if case.reference is not None:
                labels = refined_labels(probs, case.inputs, self.config)
                dices += [dice((labels == k + 1).cpu().numpy(), case.reference[k].cpu().numpy())
                          for k in range(len(self.config.regions))]
            logits = torch.logit(probs.clamp(1e-6, 1 - 1e-6))[None]
            crop = case.inputs
            for q, l_ in case.rating_sets:
                initial, prior, quality, error = self.loss_targets(
                    augment.Sample(crop.image, crop.initial, crop.prior, q, l_))
                losses.append(whole_case_loss(logits, initial, prior, quality, error,
                                              self.weights))
        if len(dices) == len(cases) * len(self.config.regions):
            return {"val_dice": float(np.mean(dices)), "val_loss": float(np.mean(losses))}
        return {"val_loss": float(np.mean(losses))}

    def _is_better(self, metrics: dict[str, float]) -> bool:
        value = self.selection_value(metrics)
        if self.best is None or value > self.best:
            self.best = value
            return True
        return False

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, train_cases, val_cases, progress: Progress) -> None:
        options = self.options
        sizes = len(train_cases), len(val_cases)  # as the saved config counts them
        progress.start("train", options.steps)
        progress.advance(self.step)
        started = time.monotonic()
        while self.step < options.steps:
            case = train_cases[self._pick(len(train_cases))]
            terms = self.train_step(case)
            self.step += 1
            record = {"step": self.step, **terms}
            main = self.group.is_main
            if main and val_cases and (self.step % options.validate_every == 0
                                       or self.step == options.steps):
                metrics = self.validate(val_cases)
                record.update(metrics)
                if self._is_better(metrics):
                    save_model(self.out, self.network, self._final_config(*sizes))
                    progress.log(f"step {self.step}: new best {metrics}")
            self.history.append(record)
            if main and (self.step % options.checkpoint_every == 0 or self.step == options.steps):
                self.save_checkpoint()
            progress.advance(loss=round(terms["loss"], 4))
        progress.close()
        if not self.group.is_main:
            return
        if not val_cases:
            save_model(self.out, self.network, self._final_config(*sizes))
        self.record_verdict(val_cases or train_cases, in_sample=not val_cases, progress=progress,
                            all_cases=train_cases + val_cases)
        summary = {"seconds": round(time.monotonic() - started, 1), "steps": self.step,
                   "processes": self.group.size}
        write_text_atomic(self.out / "history.json",
                          json.dumps({"summary": summary, "history": self.history}) + "\n")

    # -- go / no-go ----------------------------------------------------------------------------
    def record_verdict(self, cases: list[TrainingCase], in_sample: bool,
                       progress: Progress, all_cases: list[TrainingCase] = ()) -> None:
        """Judge the saved model on rated cases (``verdict.py``), store the verdict in its
        model.json and say it. The support of its changes needs ``MIN_SUPPORT_RATINGS``
        rated regions: where the held-out cases have fewer, every rated case counts."""
        network, config = load_model(self.out, self.device)
        losses_initial, losses_refined, right, stable = [], [], [], []
        predicted = {}  # the model's index maps, by case, for rating_agreement too
        for case in cases:
            labels = refined_labels(predict_probabilities(network, case.inputs, config),
                                    case.inputs, config)
            predicted[case.id] = labels
            refined = split_index(labels, len(config.regions))
            crop = case.inputs
            for q, l_ in case.rating_sets:
                initial, prior, quality, error = self.loss_targets(
                    augment.Sample(crop.image, crop.initial, crop.prior, q, l_))
                for masks, losses in ((crop.initial, losses_initial),
                                      (refined, losses_refined)):
                    outputs = masks[None]
                    if config.background_region:
                        outputs = torch.cat([~masks.any(0, keepdim=True), masks])[None]
                    losses.append(whole_case_loss(hard_logits(outputs), initial, prior,
                                                  quality, error, self.weights))
                moved, kept = direction_checks(crop.initial, refined, q, l_)
                right += moved
                stable += kept
        weighed = support_cases(cases, all_cases)
        held_out = not in_sample and weighed is cases
        scope = ("the training case" if in_sample else "the held-out cases" if held_out
                 else f"every rated case (the held-out ones hold fewer than "
                      f"{MIN_SUPPORT_RATINGS})")
        gains = rating_agreement(weighed, network, config, predicted)
        verdict = decide(losses_initial, losses_refined, right, stable, in_sample,
                         gains["model"], scope)
        verdict.update(name_best(gains, verdict["go"], held_out))
        config.training["verdict"] = verdict
        save_model(self.out, network, config)
        progress.log(f"verdict: {describe(verdict)}")

    def _final_config(self, n_cases: int, n_validation: int) -> ModelConfig:
        options = asdict(self.options)  # "steps" below is the step these weights come from
        return replace(self.config, training={**options, "steps_planned": options["steps"],
                                              "cases": n_cases,
                                              "validation_cases": n_validation,
                                              "steps": self.step,
                                              "best_validation": self.best,
                                              "device": str(self.device)})

    # -- checkpoints -------------------------------------------------------------------------
    @property
    def _checkpoint(self) -> Path:
        return self.out / registry.CHECKPOINT

    def save_checkpoint(self) -> None:
        from safetensors.torch import save_file

        tensors = {f"model.{k}": v.detach().cpu().contiguous()
                   for k, v in self.network.state_dict().items()}
        optim = self.optimizer.state_dict()
        for index, state in optim["state"].items():
            for key, value in state.items():
                tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).cpu().contiguous()
        tensors["rng"] = self.generator.get_state()
        meta = {"step": self.step, "best": self.best, "history": self.history,
                "param_groups": optim["param_groups"], "options": asdict(self.options)}
        with atomic_path(self._checkpoint.with_suffix(".safetensors")) as tmp:
            save_file(tensors, str(tmp), metadata={CHECKPOINT_KEY: json.dumps(meta)})

    def load_checkpoint(self, progress: Progress) -> None:
        from safetensors.torch import load_file

        path = self._checkpoint.with_suffix(".safetensors")
        if not path.exists():
            progress.log(f"no checkpoint in {self.out}; starting from scratch")
            return
        try:
            meta = checkpoint_meta(path)
            tensors = load_file(str(path))
            self.network.load_state_dict({k[6:]: v for k, v in tensors.items()
                                          if k.startswith("model.")})
            state: dict[int, dict] = {}
            for name, value in tensors.items():
                if name.startswith("optim."):
                    _, index, key = name.split(".", 2)
                    state.setdefault(int(index), {})[key] = value.to(self.device) \
                        if key != "step" else value
            self.optimizer.load_state_dict({"state": state,
                                            "param_groups": meta["param_groups"]})
            self.generator.set_state(tensors["rng"])  # process 0's stream
            step, best, history = meta["step"], meta["best"], meta["history"]
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            # safetensors refuses a pickle or a cut file; torch refuses other options' shapes
            reason = str(exc).splitlines()[0][:200]
            raise ScoreKitError(f"{self._checkpoint}: cannot resume from this checkpoint "
                                f"({type(exc).__name__}: {reason}); train again without "
                                "--resume, or with the options it was made with") from None
        if not self.group.is_main:  # the others continue on streams of their own
            self.generator.manual_seed(self.options.seed + 1000 * self.group.rank + step)
        self.step, self.best, self.history = step, best, history
        progress.log(f"resumed from step {self.step} of {self.out}")
