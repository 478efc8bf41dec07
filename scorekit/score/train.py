"""Training the refinement network from a workspace's ratings alone.

Each step takes one rated case (and one of its raters, see below), picks a patch centred
on a band voxel (80 %) or anywhere (20 %), cuts it with a margin, augments it (flip,
affine, score-guided morphology, with the volume change measured against the whole
region), computes Ω_stab and Ω_corr on it (the margin makes them exact up to the patch's
edges), trims the margin, applies intensity augmentation and takes one Adam step on the
SCORE loss.

* **Several raters**: every rater who rated all of a case's regions gives that case one
  rating set; a step draws one set at random, so the expected loss is the mean of the
  raters' losses (no vote, no averaging of labels that would mix directions).
* **Validation and model selection**: when there are at least three rated cases, the last
  20 % (at least one) by case id are held out. SCORE keeps the model with the lowest
  SCORE loss on them — the ratings are its only signal, even when the workspace holds
  reference masks (their Dice is logged, never used). The Post-DAE baselines, trained on
  the references anyway, keep the best mean Dice. With fewer cases the last model is kept.
* **Checkpoints**: ``checkpoint_latest.safetensors`` + ``.json`` every
  ``checkpoint_every`` steps (weights, optimizer, random generator, step, history), so a
  killed run continues with ``resume=True`` exactly where the checkpoint was.
* **Several GPUs**: launched with ``torchrun --nproc_per_node N -m scorekit train ...``
  every process trains on its own random patches and DistributedDataParallel averages the
  gradients (NCCL on GPUs, gloo on CPUs); process 0 alone validates and writes files.
* **Ablations** (the SCORE paper's Table 2): ``no-stab`` (λ_stab = 0), ``no-prior``
  (P ≡ 1 in L+ and L−), ``no-morph-aug`` (no score-guided morphology) and
  ``ternary-labels`` (raters cannot say *both*: such a label becomes the dominant
  direction measured against the reference, so it needs reference masks).
* **Post-DAE baselines** (``method``; fully supervised comparators, not SCORE): the same
  network, patches and spatial augmentation, but the input masks are the *reference*
  masks randomly eroded / dilated (the score-guided morphology with no rating to follow,
  up to ``DENOISING_MAX_RADIUS`` voxels) and the target is the reference itself (binary
  cross-entropy + soft Dice). ``post-dae`` sees the masks only (image and prior channels
  zeroed), ``post-dae+scan`` the image too.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from scorekit.data.atomic import atomic_path, write_text_atomic
from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
from scorekit.data.workspace import Case, Workspace
from scorekit.devices import autocast, resolve_device
from scorekit.errors import ScoreKitError
from scorekit.eval.metrics import dice
from scorekit.progress import Progress, Silent
from scorekit.score import augment
from scorekit.score.inputs import CaseInputs, case_inputs, region_masks
from scorekit.score.loss import (
    LossWeights,
    add_background_region,
    regions_of_interest,
    score_loss,
    with_background_prior,
)
from scorekit.score.model import ModelConfig, build_network, save_model
from scorekit.score.morphology import band
from scorekit.score.refine import (
    labels_from_probabilities,
    network_input,
    predict_probabilities,
)

ABLATIONS = ("ternary-labels", "no-stab", "no-prior", "no-morph-aug")
METHODS = ("score", "post-dae", "post-dae+scan")
# Post-DAE corruption: the radius field peaks at this many voxels (SCORE's augmentation: 3).
# Chosen on the held-out training case of the quick phantom plan (post-dae+scan, 1500
# steps; validation Dice, initial masks 0.940): 3 voxels 0.948, 8 voxels 0.981. With 3 the
# baseline only learns to undo changes far milder than a model's errors.
DENOISING_MAX_RADIUS = 8.0
CHECKPOINT = "checkpoint_latest"


@dataclass
class TrainOptions:
    steps: int = 2000
    lr: float = 1e-4  # the paper's; short CPU runs want ~1e-3 (see README)
    patch_size: list[int] = field(default_factory=lambda: [64, 64, 64])
    features: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    res_units: int = 0
    seed: int = 0
    ablation: str | None = None
    augment: bool = True
    confine_to_band: bool = True
    background_region: bool = False
    initial_logit: float = ModelConfig.initial_logit  # 0: no initial-mask skip (model.py)
    validate_every: int = 100
    checkpoint_every: int = 50
    band_patch_fraction: float = 0.8
    method: str = "score"  # or a Post-DAE baseline, see module doc


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
    """Train on ``workspace``; the selected model is written to ``out``."""
    progress = progress or Silent()
    out = Path(out)
    if options.method not in METHODS:
        raise ScoreKitError(f"unknown method '{options.method}'; one of {', '.join(METHODS)}")
    if options.ablation not in (None, *ABLATIONS):
        raise ScoreKitError(f"unknown ablation '{options.ablation}'; one of "
                            + ", ".join(ABLATIONS))
    if (out / f"{CHECKPOINT}.json").exists() and not resume:
        raise ScoreKitError(f"{out}: holds a checkpoint; pass --resume to continue it or "
                            "choose another --out")
    group, torch_device = _join_process_group(device)
    if not group.is_main:
        progress = Silent()
    torch.manual_seed(options.seed)
    ws = Workspace(workspace)
    regions = _common_regions(ws)
    config = ModelConfig(regions=regions, patch_size=list(options.patch_size),
                         features=list(options.features), res_units=options.res_units,
                         confine_to_band=options.confine_to_band,
                         background_region=options.background_region,
                         initial_logit=options.initial_logit,
                         mask_only=options.method == "post-dae")
    progress.log(f"loading rated cases from {ws.path} onto {torch_device}")
    cases = [c for c in (_load_case(ws, case, config, options, torch_device)
                         for case in ws.cases()) if c is not None]
    if not cases:
        raise ScoreKitError(f"{ws.path}: no case has ratings for all of its regions "
                            f"({', '.join(regions)})")
    train_cases, val_cases = _split(cases)
    progress.log(f"{len(train_cases)} training and {len(val_cases)} validation cases; "
                 f"regions {', '.join(regions)}")
    run = _Run(config, options, torch_device, out, group)
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


def _common_regions(ws: Workspace) -> list[str]:
    cases = ws.cases()
    if not cases:
        raise ScoreKitError(f"{ws.path}: workspace has no case")
    regions = cases[0].regions
    for case in cases[1:]:
        if case.regions != regions:
            raise ScoreKitError(f"case '{case.id}': regions {', '.join(case.regions)} differ "
                                f"from case '{cases[0].id}' ({', '.join(regions)})")
    return regions


def _load_case(ws: Workspace, case: Case, config: ModelConfig, options: TrainOptions,
               device) -> TrainingCase | None:
    by_rater: dict[str, dict[str, tuple[int, int]]] = {}
    for r in ws.ratings.all(case.id):
        by_rater.setdefault(r.rater, {})[r.region] = (r.score, r.error)
    complete = [v for v in by_rater.values() if set(config.regions) <= set(v)]
    if not complete:
        return None
    if options.method != "score" and not case.has_reference:
        raise ScoreKitError(f"case '{case.id}': {options.method} trains on reference masks, "
                            "and this case has none")
    initial = case.initial()
    inputs = case_inputs(case.image(), initial, config, f"case '{case.id}'", device)
    reference = None
    if case.has_reference:
        ref = region_masks(case.reference(), config.regions, f"case '{case.id}' reference")
        reference = torch.from_numpy(ref[(slice(None), *inputs.box)].copy()).to(device)
    sets = []
    for ratings in complete:
        q = torch.tensor([ratings[r][0] for r in config.regions], device=device)
        l_ = torch.tensor([ratings[r][1] for r in config.regions], device=device)
        if options.ablation == "ternary-labels":
            l_ = _ternary(l_, inputs.initial, reference, case.id)
        sets.append((q, l_))
    inputs, reference = _padded_to_patch(inputs, reference, config.patch_size)
    band_voxels = torch.nonzero(band(inputs.initial.any(0), config.eta)).cpu()
    volumes = inputs.initial.flatten(1).sum(1)
    return TrainingCase(case.id, inputs, sets, reference, band_voxels, volumes)


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


def _ternary(error: torch.Tensor, initial: torch.Tensor, reference: torch.Tensor | None,
             case_id: str) -> torch.Tensor:
    """'both' → the dominant direction (more voxels missed → under, else over)."""
    error = error.clone()
    for k in torch.nonzero(error == BOTH).flatten().tolist():
        if reference is None:
            raise ScoreKitError(f"case '{case_id}': ternary-labels needs a reference mask to "
                                "resolve a 'both' rating")
        missed = (reference[k] & ~initial[k]).sum()
        extra = (initial[k] & ~reference[k]).sum()
        error[k] = UNDER if missed >= extra else OVER
    return error


def _split(cases: list[TrainingCase]) -> tuple[list[TrainingCase], list[TrainingCase]]:
    if len(cases) < 3:
        return cases, []
    held_out = max(1, round(0.2 * len(cases)))
    cases = sorted(cases, key=lambda c: c.id)
    return cases[:-held_out], cases[-held_out:]


class _Run:
    """The state of one training run: network, optimizer, generator, history."""

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
        weights = LossWeights()
        if options.ablation == "no-stab":
            weights = replace(weights, stab=0.0)
        elif options.ablation == "no-prior":
            weights = replace(weights, use_prior=False)
        self.weights = weights
        self.step = 0
        self.best: float | None = None
        self.history: list[dict] = []

    # -- one step ---------------------------------------------------------------------------
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

    def _spatial_patch(self, sample: augment.Sample, case: TrainingCase
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

    def _augmented_patch(self, case: TrainingCase) -> tuple[augment.Sample, tuple]:
        """A patch (with margin) of the case, augmented, and where the patch lies in it."""
        q, l_ = case.rating_sets[self._pick(len(case.rating_sets))]
        crop = case.inputs
        sample, trim = self._spatial_patch(
            augment.Sample(crop.image, crop.initial, crop.prior, q, l_), case)
        if self.options.augment and self.options.ablation != "no-morph-aug":
            sample = augment.morphological_augment(sample, self.generator,
                                                   volumes=case.volumes)
        return sample, trim

    def _targets(self, sample: augment.Sample):
        """S̃, P, q, l as the loss sees them (batch of one; background prepended if used)."""
        initial, prior = sample.initial[None], sample.prior[None]
        quality, error = sample.quality[None], sample.error[None]
        if self.config.background_region:
            initial, quality, error = add_background_region(initial, quality, error)
            prior = with_background_prior(prior, len(self.config.regions))
        return initial, prior, quality, error

    def train_step(self, case: TrainingCase) -> dict[str, float]:
        if self.options.method != "score":
            return self._denoising_step(case)
        sample, trim = self._augmented_patch(case)
        initial, prior, quality, error = self._targets(sample)
        # Ω are computed on the patch with its margin, so they are right up to its edges.
        stab, corr = regions_of_interest(initial, error, self.config.eta)
        patch = augment.Sample(sample.image[trim], sample.initial[trim], sample.prior[trim],
                               sample.quality, sample.error)
        if self.options.augment:
            patch = augment.intensity_augment(patch, self.generator)
        self.model.train()
        with autocast(self.device):
            logits = self.model(network_input(patch.image, patch.initial, patch.prior,
                                              self.config))
        batch_trim = (slice(None), *trim)
        loss, terms = score_loss(logits, initial[batch_trim], prior[batch_trim], quality, error,
                                 self.weights, rois=(stab[batch_trim], corr[batch_trim]))
        return self._step(loss, terms)

    def _denoising_step(self, case: TrainingCase) -> dict[str, float]:
        """Post-DAE: corrupted reference masks in, the reference out."""
        crop, regions = case.inputs, len(self.config.regions)
        clean = augment.Sample(crop.image, case.reference, crop.prior,
                               torch.zeros(regions, dtype=torch.long),
                               torch.full((regions,), NONE, dtype=torch.long))
        sample, trim = self._spatial_patch(clean, case)
        corrupted = augment.morphological_augment(sample, self.generator, probability=0.8,
                                                  max_radius=DENOISING_MAX_RADIUS,
                                                  volumes=case.reference.flatten(1).sum(1))
        target = sample.initial[trim].float()[None]
        self.model.train()
        with autocast(self.device):
            logits = self.model(network_input(sample.image[trim], corrupted.initial[trim],
                                              sample.prior[trim], self.config)).float()
        probabilities = torch.sigmoid(logits)
        overlap = (probabilities * target).sum()
        soft_dice = 1 - 2 * overlap / (probabilities.sum() + target.sum() + 1e-6)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        return self._step(bce + soft_dice, {"bce": bce, "soft_dice": soft_dice})

    def _step(self, loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}}

    # -- validation -------------------------------------------------------------------------
    def validate(self, cases: list[TrainingCase]) -> dict[str, float]:
        """Mean Dice vs reference when every case has one, else mean SCORE loss."""
        self.network.eval()
        dices, losses = [], []
        for case in cases:
            probs = predict_probabilities(self.network, case.inputs, self.config)
            if case.reference is not None:
                labels = labels_from_probabilities(probs, case.inputs.initial, self.config)
                dices += [dice((labels == k + 1).cpu().numpy(), case.reference[k].cpu().numpy())
                          for k in range(len(self.config.regions))]
            q, l_ = case.rating_sets[0]
            crop = case.inputs
            initial, prior, quality, error = self._targets(
                augment.Sample(crop.image, crop.initial, crop.prior, q, l_))
            logits = torch.logit(probs.clamp(1e-6, 1 - 1e-6))[None]
            loss, _ = score_loss(logits, initial, prior, quality, error, self.weights)
            losses.append(float(loss))
        if len(dices) == len(cases) * len(self.config.regions):
            return {"val_dice": float(np.mean(dices)), "val_loss": float(np.mean(losses))}
        return {"val_loss": float(np.mean(losses))}

    def _is_better(self, metrics: dict[str, float]) -> bool:
        scored_on_ratings = self.options.method == "score"
        value = -metrics["val_loss"] if scored_on_ratings else metrics["val_dice"]
        if self.best is None or value > self.best:
            self.best = value
            return True
        return False

    # -- the loop ---------------------------------------------------------------------------
    def fit(self, train_cases, val_cases, progress: Progress) -> None:
        options = self.options
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
                    save_model(self.out, self.network, self._final_config(len(train_cases)))
                    progress.log(f"step {self.step}: new best {metrics}")
            self.history.append(record)
            if main and (self.step % options.checkpoint_every == 0 or self.step == options.steps):
                self.save_checkpoint()
            progress.advance(loss=round(terms["loss"], 4))
        progress.close()
        if not self.group.is_main:
            return
        if not val_cases:
            save_model(self.out, self.network, self._final_config(len(train_cases)))
        summary = {"seconds": round(time.monotonic() - started, 1), "steps": self.step,
                   "processes": self.group.size}
        write_text_atomic(self.out / "history.json",
                          json.dumps({"summary": summary, "history": self.history}) + "\n")

    def _final_config(self, n_cases: int) -> ModelConfig:
        options = asdict(self.options)
        return replace(self.config, training={"cases": n_cases, "steps": self.step,
                                              "best_validation": self.best,
                                              "device": str(self.device), **options})

    # -- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        from safetensors.torch import save_file

        tensors = {f"model.{k}": v.detach().cpu().contiguous()
                   for k, v in self.network.state_dict().items()}
        optim = self.optimizer.state_dict()
        for index, state in optim["state"].items():
            for key, value in state.items():
                tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).cpu().contiguous()
        tensors["rng"] = self.generator.get_state()
        with atomic_path(self.out / f"{CHECKPOINT}.safetensors") as tmp:
            save_file(tensors, str(tmp))
        meta = {"step": self.step, "best": self.best, "history": self.history,
                "param_groups": optim["param_groups"], "options": asdict(self.options)}
        write_text_atomic(self.out / f"{CHECKPOINT}.json", json.dumps(meta) + "\n")

    def load_checkpoint(self, progress: Progress) -> None:
        from safetensors.torch import load_file

        meta_path = self.out / f"{CHECKPOINT}.json"
        if not meta_path.exists():
            progress.log(f"no checkpoint in {self.out}; starting from scratch")
            return
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tensors = load_file(str(self.out / f"{CHECKPOINT}.safetensors"))
        self.network.load_state_dict({k[6:]: v for k, v in tensors.items()
                                      if k.startswith("model.")})
        state: dict[int, dict] = {}
        for name, value in tensors.items():
            if name.startswith("optim."):
                _, index, key = name.split(".", 2)
                state.setdefault(int(index), {})[key] = value.to(self.device) \
                    if key != "step" else value
        self.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        self.generator.set_state(tensors["rng"])  # process 0's stream
        if not self.group.is_main:  # the others continue on streams of their own
            self.generator.manual_seed(self.options.seed + 1000 * self.group.rank + meta["step"])
        self.step, self.best, self.history = meta["step"], meta["best"], meta["history"]
        progress.log(f"resumed from step {self.step} of {self.out}")

