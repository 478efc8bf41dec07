"""Every choice and default the front ends offer, in one place: pure data, no torch.

The command line, the Slicer modules, the web form and the benchmarks read their choice
lists and defaults from here; nothing re-types them. An entry that names code does so as
``"module:attribute"``, imported only when used (:func:`load`), so reading this module
costs nothing and never imports torch.

Adding a refinement method, a boundary prior or an initial segmenter is one new file plus
one line below (``docs/extending.md``).
"""

from __future__ import annotations

import importlib
import re

# -- refinement methods (trainers with hooks, see scorekit/score/trainer.py) -----------------
METHODS = {
    "score": "scorekit.score.method:ScoreTrainer",
    "post-dae": "scorekit.baselines.postdae:PostDAE",
    "post-dae+scan": "scorekit.baselines.postdae:PostDAEScan",
}
DEFAULT_METHOD = "score"
# SCORE's ablations (the paper's Table 2), options of the ``score`` method.
ABLATIONS = ("ternary-labels", "no-stab", "no-prior", "no-morph-aug", "no-veto")

# -- boundary priors P (scorekit/score/priors/) ------------------------------------------------
PRIORS = {
    "edge": "scorekit.score.priors.edge:edge_prior",
    "local": "scorekit.score.priors.local:local_prior",
    "paper": "scorekit.score.priors.paper:paper_prior",
    "edge-polar": "scorekit.score.priors.edge:polar_edge_prior",  # measured, lost (evaluation.md)
}
DEFAULT_PRIOR = "edge"

# -- initial segmenters (scorekit/initial/) ----------------------------------------------------
ENGINES = {
    "totalsegmentator": "scorekit.initial.totalseg:run_totalsegmentator",
    "threshold": "scorekit.initial.threshold:threshold_segment",
}
DEFAULT_STRUCTURES = ("humerus_left", "humerus_right")

# -- training defaults (SCORE paper: Adam, lr 1e-4) --------------------------------------------
TRAINING_STEPS = 2000
LEARNING_RATE = 1e-4  # the paper's; short CPU runs want ~1e-3 (see docs/method.md)
PATCH_SIZE = 64  # cubic patch edge, voxels of the working grid
ETA_MM = 3.0  # η: erosion / dilation radius of Ω_stab and Ω_corr
ETA = 2  # η in voxels of models made before the working grid
AUGMENT_RADIUS_MM = 3.0  # the largest radius of score-guided morphology
CHECKPOINT = "checkpoint_latest"  # <name>.safetensors beside the model (one file)

# -- WeakStatSeg (scorekit/weakstat/) ---------------------------------------------------------
WEAKSTAT_LOSSES = ("stat", "weak", "full")  # confidence and reconstruction are always on
WEAKSTAT_DEFAULT_LOSSES = ("stat", "weak")
# Backbones per dimension; the first is the default. The 2D default plan (a small UNet at
# 128 × 128, 5000 steps, the learning rate decaying) was chosen on BUS-BRA's five folds on
# 2 CPU cores: the paper's DeepLabV3-ResNet-50 at 256² takes 25× longer a step there
# (docs/weakstatseg.md).
WEAKSTAT_BACKBONES = {2: ("unet2d", "resnet50", "mobilenet_v3_large"), 3: ("unet3d",)}
WEAKSTAT_GRID = {2: (128, 128), 3: (64, 64, 64)}  # default training grid per dimension
WEAKSTAT_WEAK_SIZES = (0.04, 0.08, 0.12)  # the paper's weak-mask sizes, × ROI
WEAKSTAT_WEAK_SIZE = 0.08
WEAKSTAT_STEPS = 5000
# Spatial priors beside the paper's losses (scorekit/weakstat/priors.py); each applies only
# where its inputs exist: "smooth" to every weakly supervised configuration, "place" where
# both the weak mask and the fraction are used, "contrast" (place seeded at the image's
# most contrasting disc) where the fraction is the only supervision.
WEAKSTAT_PRIORS = ("smooth", "place", "contrast")
# how the ROI stands out, for the contrast prior: breast lesions in ultrasound are darker
# than their surroundings, bone in CT brighter
WEAKSTAT_ROI_CONTRASTS = ("darker", "brighter")

# -- refinement without a model (scorekit/score/prior_refine.py): "rate this scan, fix it now"
NO_LEARNING = {
    "prior-only": "scorekit.score.prior_refine:prior_only",
    "rating-guided-prior": "scorekit.score.prior_refine:rating_guided_prior",
}
NEEDS_RATINGS = ("rating-guided-prior",)  # refines with the scan's own ratings
# the prior where a gate learned from the training ratings lets it act (score/gate.py)
LEARNED_GATE = "learned-gate"
RATED_GATE = "learned-gate+ratings"  # the gate where this scan's ratings also call for it
# Standard errors by which the ratings' mean benefit (score/gate.py) must exceed 0 before
# anything decided from them changes a mask: the gate's options, the verdict's go where it
# weighs one or two rated regions (else their median, score/verdict.py) and the refinement
# it names (a volume-based agreement cannot see where a change lies, so only a clear margin
# counts).
RATING_EVIDENCE_SE = 2.0
# `scorekit refine --method`: "auto" uses what the model's verdict names, "model" its network
REFINE_METHODS = ("auto", "model", LEARNED_GATE, *NO_LEARNING)

# -- benchmark rows: display name → training options (None: not trained) ---------------------
BENCHMARK_METHODS = {
    "initial": None,
    "prior-only": None,
    "rating-guided-prior": None,
    LEARNED_GATE: None,
    RATED_GATE: None,
    "Post-DAE": {"method": "post-dae"},
    "Post-DAE+Scan": {"method": "post-dae+scan"},
    "SCORE": {},
    "SCORE-ternary": {"ablation": "ternary-labels"},
    "SCORE-no-stab": {"ablation": "no-stab"},
    "SCORE-no-prior": {"ablation": "no-prior"},
    "SCORE-no-morph-aug": {"ablation": "no-morph-aug"},
    "SCORE-no-veto": {"ablation": "no-veto"},
    # variants measured against SCORE on the real suites (docs/evaluation.md)
    "SCORE-gated-labels": {"gated_labels": True},
    "SCORE-hold-band": {"hold_band": True},
    "SCORE-gated-hold": {"gated_labels": True, "hold_band": True},
    "SCORE-region-free": {"region_free": True},
    "SCORE-region-free-hold": {"region_free": True, "hold_band": True},
}
TABLE1 = ("initial", "prior-only", "rating-guided-prior", LEARNED_GATE, RATED_GATE,
          "Post-DAE", "Post-DAE+Scan", "SCORE", "SCORE-default")
TABLE2 = ("SCORE", "SCORE-ternary", "SCORE-no-stab", "SCORE-no-prior", "SCORE-no-morph-aug",
          "SCORE-no-veto")
SUITES = ("phantom", "verse", "folder")
# the real suites' initial masks (or a folder of a user's masks); the first is the default
INITIAL_KINDS = ("model-like", "threshold")

# -- files ---------------------------------------------------------------------------------------
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
DEVICES = ("auto", "cpu", "cuda", "mps")  # and cuda:N; mps: Apple silicon


def case_id_from_name(name: str) -> str:
    """A valid case id made from any name (a node, a file): other characters become '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip("_.-")[:128] or "case"


def load(table: dict[str, str], name: str, kind: str):
    """The object a registry entry names, imported now; ``kind`` words the error."""
    from scorekit.errors import ScoreKitError

    if name not in table:
        raise ScoreKitError(f"unknown {kind} '{name}'; one of {', '.join(table)}")
    module, attribute = table[name].split(":")
    return getattr(importlib.import_module(module), attribute)
