"""Self-supervised pretraining: it helps a small synthetic task, and its file loads safely."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorekit.cli import main
from scorekit.errors import ScoreKitError
from scorekit.metrics import iou
from scorekit.weakstat.data import read_dataset
from scorekit.weakstat.model import WeakStatConfig, WeakStatNet, load_backbone_weights
from scorekit.weakstat.pretrain import pretrain, save_pretrained
from scorekit.weakstat.train import predict, train

SMALL = {"backbone": "unet2d", "size": [48, 48], "batch": 8}


def test_pretraining_on_images_alone_helps_a_segmenter_trained_from_few_masks(lesions,
                                                                           tmp_path):
    samples = read_dataset(lesions)
    labelled, held_out = samples[:4], samples[4:]
    weights = save_pretrained(pretrain([s.image for s in samples],
                                       WeakStatConfig(steps=200, **SMALL), "cpu"),
                              WeakStatConfig(**SMALL), tmp_path / "pre.safetensors")
    config = WeakStatConfig(losses=["full"], steps=100, lr_decay=False, **SMALL)  # as measured

    def held_out_iou(backbone_weights) -> float:
        network = train(labelled, config, "cpu", backbone_weights=backbone_weights)
        return float(np.mean([iou(predict(network, config, s.image) > 0.5, s.mask)
                              for s in held_out]))

    scratch, pretrained = held_out_iou(None), held_out_iou(weights)
    assert pretrained > scratch + 0.03, (scratch, pretrained)  # measured: 0.09 → 0.16


def test_the_pretrain_verb_writes_safetensors_that_backbone_weights_accepts(lesions, tmp_path):
    out = tmp_path / "pre.safetensors"
    assert main(["weakstat", "pretrain", "--data", str(lesions), "--out", str(out),
                 "--backbone", "unet2d", "--size", "32", "32", "--steps", "2",
                 "--device", "cpu"]) == 0
    network = WeakStatNet(WeakStatConfig(backbone="unet2d", size=[32, 32]))
    before = {k: v.clone() for k, v in network.state_dict().items()}
    assert "tensors from pre.safetensors" in load_backbone_weights(network, out)
    changed = [k for k, v in network.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) > 10
    with pytest.raises(ScoreKitError, match="no tensor matches"):
        load_backbone_weights(WeakStatNet(WeakStatConfig(backbone="mobilenet_v3_large",
                                                         size=[32, 32])), out)
    pickled = tmp_path / "pre.pth"
    pickled.write_bytes(b"not read")
    with pytest.raises(ScoreKitError, match=r"pre\.pth: backbone weights must be \.safetensors"):
        load_backbone_weights(network, pickled)


def test_pretraining_on_a_verse_folder_sees_the_vertebra_cubes_never_the_masks(shared_data):
    from scorekit.weakstat.pretrain import pretrain_images

    images = pretrain_images(shared_data / "ct" / "verse19")
    assert len(images) == 7 and all(i.ndim == 3 for i in images)
    assert all(len(np.unique(i)) > 100 for i in images)  # CT intensities, not label values
