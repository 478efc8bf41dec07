"""WeakStatSeg training and prediction, 2D and 3D."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from support import write_csv as _csv

from scorekit.cli import main
from scorekit.data.volume import Geometry, Volume, read_volume, write_volume
from scorekit.errors import ScoreKitError
from scorekit.metrics import iou
from scorekit.weakstat.data import read_dataset
from scorekit.weakstat.model import WeakStatConfig
from scorekit.weakstat.train import predict, train

TINY = {"backbone": "mobilenet_v3_large", "size": [64, 64], "batch": 4}



def test_recalibrated_batchnorm_makes_eval_match_batch_statistics(lesions):
    from scorekit.weakstat.train import to_grid

    samples = read_dataset(lesions)
    config = WeakStatConfig(losses=["full"], steps=30, **TINY)
    network = train(samples, config, device="cpu")
    images = to_grid(samples, config)["image"]
    with torch.no_grad():
        evaluated = torch.sigmoid(network.eval()(images)[0])
        for module in network.modules():  # batch statistics, but no dropout
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.train()
        batch_statistics = torch.sigmoid(network(images)[0])
    network.eval()
    # Equal up to BatchNorm's unbiased running variance (n/(n−1): 16/15 on pooled features).
    assert (evaluated - batch_statistics).abs().mean() < 0.005
    assert ((evaluated > 0.5) == (batch_statistics > 0.5)).float().mean() > 0.99



def test_full_supervision_learns_the_lesions(lesions):
    samples = read_dataset(lesions)
    train_set, test_set = samples[:12], samples[12:]
    # at a constant rate: a decay to 0 over 150 steps leaves this tiny run half the learning
    config = WeakStatConfig(losses=["full"], steps=150, lr=2e-3, lr_decay=False, **TINY)
    network = train(train_set, config, device="cpu")
    scores = [iou(predict(network, config, s.image) > 0.5, s.mask) for s in test_set]
    assert np.mean(scores) > 0.25, scores  # an untrained network scores about 0



def test_training_without_the_masks_it_needs_is_refused(lesions, tmp_path):
    samples = [s.__class__(s.name, s.image, s.fraction) for s in read_dataset(lesions)[:2]]
    with pytest.raises(ScoreKitError, match="full supervision needs a reference mask"):
        train(samples, WeakStatConfig(losses=["full"], steps=1, **TINY))
    with pytest.raises(ScoreKitError, match=r"a weak mask of size .* needs a non-empty reference"):
        train(samples, WeakStatConfig(losses=["weak"], steps=1, **TINY))



def test_a_model_written_before_the_learning_rate_decayed_keeps_its_record(tmp_path):
    """Configs without ``lr_decay`` were trained at a constant learning rate, those
    without ``mirror_average`` predicted from the image alone."""
    import json
    from dataclasses import asdict

    from scorekit.weakstat.model import CONFIG, CONFIG_KEY, WEIGHTS, WeakStatNet, load_model
    from scorekit.weights import save_weights

    config = WeakStatConfig(**TINY)
    assert config.lr_decay  # new models decay it
    earlier = {k: v for k, v in asdict(config).items()
               if k not in ("lr_decay", "mirror_average")}
    text = json.dumps(earlier)
    save_weights(WeakStatNet(config), tmp_path / WEIGHTS, {CONFIG_KEY: text})
    (tmp_path / CONFIG).write_text(text)
    loaded = load_model(tmp_path)[1]
    assert loaded.lr_decay is False and loaded.mirror_average is False


def test_a_mirrored_image_gets_the_mirrored_prediction():
    """The prediction averages the image's and its mirror's, so it commutes with the
    mirror (without the average a network's does not)."""
    from scorekit.weakstat.model import WeakStatNet

    torch.manual_seed(0)
    config = WeakStatConfig(**TINY)
    network = WeakStatNet(config)
    with torch.no_grad():  # weights that see the image (a new head predicts a constant)
        for weight in network.parameters():
            weight.normal_(0.0, 0.1)
    image = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    mirrored = predict(network, config, image[:, ::-1].copy())
    assert np.allclose(mirrored, predict(network, config, image)[:, ::-1], atol=1e-5)
    alone = replace(config, mirror_average=False)
    assert not np.allclose(predict(network, alone, image[:, ::-1].copy()),
                           predict(network, alone, image)[:, ::-1], atol=1e-5)


def test_3d_volumes_train_with_the_unet_and_segment_on_their_grid(tmp_path):
    geometry = Geometry((24, 20, 16), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0),
                        (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    rows = []
    rng = np.random.default_rng(0)
    for i in range(3):
        z, y, x = np.indices(geometry.shape)
        ball = 9 * (z - 8) ** 2 + (y - 10) ** 2 + (x - 12 - i) ** 2 < 25  # widest at z = 8
        image = Volume((ball * 200 + rng.normal(0, 20, ball.shape)).astype(np.float32),
                       geometry)
        write_volume(image, tmp_path / f"v{i}.nii.gz")
        write_volume(image.with_array(ball.astype(np.uint8)), tmp_path / f"m{i}.nii.gz")
        rows.append({"image": f"v{i}.nii.gz", "mask": f"m{i}.nii.gz"})
    data = _csv(tmp_path / "volumes.csv", rows)
    assert main(["weakstat", "train", "--data", str(data), "--out", str(tmp_path / "m3"),
                 "--size", "16", "16", "16", "--steps", "2", "--batch", "2",
                 "--device", "cpu"]) == 0
    assert main(["weakstat", "segment", "--model", str(tmp_path / "m3"),
                 "--image", str(tmp_path / "v0.nii.gz"), "--out", str(tmp_path / "s.nii.gz"),
                 "--device", "cpu"]) == 0
    assert read_volume(tmp_path / "s.nii.gz").geometry.matches(geometry)
    # The paper's 2D protocol on the same volumes: each one's largest-ROI slice.
    from scorekit.weakstat.data import largest_roi_slices

    slices = largest_roi_slices(read_dataset(data))
    assert [s.name for s in slices] == [f"v{i}.nii.gz[z=8]" for i in range(3)]
    assert all(s.image.ndim == 2 for s in slices)


def test_the_predicted_roi_fraction_matches_the_statistic_given_on_training_images(lesions):
    samples = read_dataset(lesions)
    config = WeakStatConfig(backbone="unet2d", size=[48, 48], batch=8, steps=300,
                            losses=["stat", "weak"], lr_decay=False)  # short: constant
    network = train(samples, config, device="cpu")
    given = np.array([s.fraction for s in samples])
    predicted = np.array([(predict(network, config, s.image) > 0.5).mean() for s in samples])
    # An empty, a full or a half-decided prediction misses by ~100 % of the mean fraction.
    assert abs(predicted.mean() - given.mean()) < 0.2 * given.mean(), (predicted, given)
    assert np.abs(predicted - given).mean() < 0.4 * given.mean(), (predicted, given)


def test_a_model_trained_on_vertebrae_scales_new_ct_by_the_same_hu_window(shared_data,
                                                                          tmp_path):
    from scorekit.weakstat.data import CT_WINDOW_HU, scale_image
    from scorekit.weakstat.model import load_model
    from scorekit.weakstat.train import segment_file, train_model

    model = train_model(shared_data / "ct" / "verse19", tmp_path / "model", backbone="unet3d",
                        size=[16, 16, 16], steps=2, batch=2, device="cpu")
    network, config = load_model(model)
    assert config.intensity_window == list(CT_WINDOW_HU)
    ct = read_volume(shared_data / "ct" / "verse19" / "sub-verse006_ct.nii.gz")
    cube = Volume(ct.array[:24, :24, :24], Geometry((24, 24, 24), (1.0,) * 3, (0.0,) * 3,
                                                     (1, 0, 0, 0, 1, 0, 0, 0, 1)))
    write_volume(cube, tmp_path / "cube.nii.gz")
    probabilities = predict(network, config, scale_image(cube.array, CT_WINDOW_HU))
    threshold = float(np.median(probabilities))  # any other scaling moves half the voxels
    segment_file(model, tmp_path / "cube.nii.gz", tmp_path / "mask.nii.gz", threshold, "cpu")
    mask = read_volume(tmp_path / "mask.nii.gz")
    assert mask.geometry.matches(cube.geometry)
    assert np.array_equal(mask.array > 0, probabilities > threshold)
