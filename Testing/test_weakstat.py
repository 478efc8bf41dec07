"""WeakStatSeg: losses as written, weak masks, datasets and their errors, training, CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from scorekit.cli import main
from scorekit.data.volume import Geometry, Volume, read_volume, write_volume
from scorekit.errors import ScoreKitError
from scorekit.metrics import iou
from scorekit.synth.ultrasound import write_lesion_dataset
from scorekit.weakstat.data import read_dataset, split_by_group
from scorekit.weakstat.losses import (
    confidence_loss,
    reconstruction_loss,
    statistics_loss,
    weak_mask_loss,
)
from scorekit.weakstat.model import WeakStatConfig
from scorekit.weakstat.train import predict, train
from scorekit.weakstat.weakmask import weak_mask_from_reference


# -- losses ------------------------------------------------------------------------------------
def test_confidence_loss_is_a_quarter_when_undecided_and_zero_when_decided():
    assert float(confidence_loss(torch.full((2, 1, 4, 4), 0.5))) == pytest.approx(0.25)
    decided = torch.zeros(2, 1, 4, 4)
    decided[:, :, :2] = 1
    assert float(confidence_loss(decided)) == pytest.approx(0.0)


def test_reconstruction_loss_is_the_mean_absolute_error():
    image = torch.zeros(1, 1, 2, 2)
    assert float(reconstruction_loss(image, image + 0.3)) == pytest.approx(0.3)


def test_weak_mask_loss_pulls_only_marked_pixels_and_stays_finite():
    m_p = torch.tensor([[[[0.0, 1.0], [0.2, 0.9]]]], requires_grad=True)
    unmarked = weak_mask_loss(m_p, torch.zeros_like(m_p))
    assert unmarked.item() == pytest.approx(0.0, abs=1e-6)  # no negative signal
    m_w = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    loss = weak_mask_loss(m_p, m_w)
    # −log(0 → eps) and −log(1) on the two marked pixels, nothing elsewhere; mean over them.
    assert loss.item() == pytest.approx(-np.log(1e-6) / 2, rel=1e-3)
    loss.backward()
    assert torch.isfinite(m_p.grad).all()
    assert m_p.grad[0, 0, 1].abs().sum() == 0  # unmarked pixels get no gradient


def test_statistics_loss_compares_the_fraction_with_the_mean_prediction():
    m_p = torch.zeros(2, 1, 10, 10)
    m_p[0, :, :5] = 1  # 50 %
    fraction = torch.tensor([0.2, 0.1])
    assert float(statistics_loss(m_p, fraction)) == pytest.approx((0.3 + 0.1) / 2)


# -- weak masks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(60, 80), (20, 30, 40)])
@pytest.mark.parametrize("size", [0.04, 0.08, 0.12])
def test_weak_masks_are_the_innermost_share_of_the_roi(shape, size):
    from scipy import ndimage

    grid = np.indices(shape)
    centre = np.array(shape)[:, None, None] if len(shape) == 2 else \
        np.array(shape)[:, None, None, None]
    roi = (((grid - centre / 2) / (np.array(shape) / 3).reshape(centre.shape)) ** 2).sum(0) < 1
    weak = weak_mask_from_reference(roi, size)
    assert weak.sum() == round(size * roi.sum())
    assert not (weak & ~roi).any()
    depth = ndimage.distance_transform_edt(roi)
    assert depth[weak].min() >= depth[roi & ~weak].max()


def test_an_empty_reference_has_no_weak_mask():
    with pytest.raises(ValueError, match="empty"):
        weak_mask_from_reference(np.zeros((5, 5), bool), 0.08)


# -- datasets -----------------------------------------------------------------------------------
def test_the_busbra_folder_pairs_images_with_masks_and_groups_patients(shared_data):
    folder = shared_data / "us" / "busbra"
    samples = read_dataset(folder)
    assert len(samples) == len(list((folder / "Images").glob("*.png")))
    assert len(samples) >= 150
    first = samples[0]
    assert first.name == "bus_0001-l.png" and first.group == "0001"
    assert first.image.dtype == np.float32 and 0 <= first.image.min() <= first.image.max() <= 1
    assert first.mask.shape == first.image.shape and 0 < first.fraction < 1
    train_set, test_set = split_by_group(samples, 0.27, seed=0)
    assert 0.22 * len(samples) <= len(test_set) <= 0.32 * len(samples)
    assert not {s.group for s in train_set} & {s.group for s in test_set}


def _picture(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_csv_may_give_only_the_fraction_and_a_painted_weak_mask(tmp_path):
    image = _picture(tmp_path / "a.png", np.full((20, 30, 3), 128, np.uint8))  # RGB
    weak = np.zeros((20, 30), np.uint8)
    weak[8:10, 10:12] = 255
    _picture(tmp_path / "a_weak.png", weak)
    samples = read_dataset(_csv(tmp_path / "d.csv", [
        {"image": image.name, "mask": "", "fraction": "0.25", "weak_mask": "a_weak.png"}]))
    assert samples[0].mask is None and samples[0].fraction == 0.25
    assert samples[0].weak.sum() == 4 and samples[0].image.shape == (20, 30)


@pytest.mark.parametrize(("row", "message"), [
    ({"fraction": "1.5"}, "a.png: ROI fraction 1.5 is outside [0, 1]"),
    ({"fraction": "abc"}, "line 2: fraction 'abc' is not a number"),
    ({"weak_mask": "small.png", "fraction": "0.1"}, "small.png: weak mask is 5x5 but its image "
                                                   "is 20x30"),
    ({"weak_mask": "empty.png", "fraction": "0.1"}, "empty.png: weak mask is empty"),
    ({"mask": "missing.png"}, "missing.png: file not found"),
    ({"fraction": ""}, "a.png: neither a mask nor a fraction"),
])
def test_bad_datasets_are_refused_naming_the_file(tmp_path, row, message):
    _picture(tmp_path / "a.png", np.zeros((20, 30), np.uint8))
    _picture(tmp_path / "small.png", np.full((5, 5), 255, np.uint8))
    _picture(tmp_path / "empty.png", np.zeros((20, 30), np.uint8))
    with pytest.raises(ScoreKitError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_dataset(_csv(tmp_path / "d.csv", [{"image": "a.png", **row}]))


# -- training -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lesions(tmp_path_factory):
    return write_lesion_dataset(tmp_path_factory.mktemp("us") / "lesions", count=16, seed=0,
                                size=(96, 112))


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
    config = WeakStatConfig(losses=["full"], steps=150, lr=2e-3, **TINY)
    network = train(train_set, config, device="cpu")
    scores = [iou(predict(network, config, s.image) > 0.5, s.mask) for s in test_set]
    assert np.mean(scores) > 0.25, scores  # an untrained network scores about 0


def test_training_without_the_masks_it_needs_is_refused(lesions, tmp_path):
    samples = [s.__class__(s.name, s.image, s.fraction) for s in read_dataset(lesions)[:2]]
    with pytest.raises(ScoreKitError, match="full supervision needs a reference mask"):
        train(samples, WeakStatConfig(losses=["full"], steps=1, **TINY))
    with pytest.raises(ScoreKitError, match=r"a weak mask of size .* needs a non-empty reference"):
        train(samples, WeakStatConfig(losses=["weak"], steps=1, **TINY))


# -- command line -------------------------------------------------------------------------------
def test_cli_trains_segments_and_benchmarks_in_2d(lesions, tmp_path, capsys):
    model = tmp_path / "model"
    assert main(["weakstat", "train", "--data", str(lesions), "--out", str(model),
                 "--backbone", "mobilenet_v3_large", "--size", "64", "64", "--steps", "3",
                 "--device", "cpu"]) == 0
    image = next((lesions / "images").iterdir())
    assert main(["weakstat", "segment", "--model", str(model), "--image", str(image),
                 "--out", str(tmp_path / "mask.png"), "--device", "cpu"]) == 0
    mask = np.asarray(Image.open(tmp_path / "mask.png"))
    assert mask.shape == np.asarray(Image.open(image)).shape
    assert set(np.unique(mask)) <= {0, 255}

    from scorekit.experiments import weakstat

    plan = weakstat.WeakStatPlan("mobilenet_v3_large", [64, 64], 3, 4)
    out = weakstat.run_weakstat_benchmark(lesions, tmp_path / "bench", plan=plan, device="cpu",
                                          configs=["stat-only", "stat+weak-8%", "full"])
    rows = weakstat.read_weakstat_results(out / "results.csv")
    assert {r["config"] for r in rows} == {"stat-only", "stat+weak-8%", "full"}
    assert all(0 <= r["iou"] <= 1 for r in rows)
    table = (out / "table.md").read_text()
    assert "| Dataset | L_s only | L_s + L_ws (8 %) | Fully supervised |" in table
    assert "of the fully supervised IoU" in table
    assert (out / "overlays.png").stat().st_size > 5000


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
