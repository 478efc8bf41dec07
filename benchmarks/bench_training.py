"""Training speed of the default SCORE network (steps per second, GPU memory).

    python benchmarks/bench_training.py [--patch 128] [--device auto] [--steps 20]
"""

from __future__ import annotations

import time

import torch
from benchcli import bench_parser

from scorekit.data.ratings import BOTH, UNDER
from scorekit.devices import autocast, resolve_device
from scorekit.score.loss import regions_of_interest, score_loss
from scorekit.score.model import ModelConfig, build_network


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="64³ patches, 5 steps")
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--res-units", type=int, default=0, help="residual units per level")
    args = parser.parse_args(argv)
    patch, steps = (64, 5) if args.quick else (args.patch, args.steps)
    device = resolve_device(args.device)
    config = ModelConfig(regions=["humerus_left", "humerus_right"], patch_size=[patch] * 3,
                         res_units=args.res_units)
    network = build_network(config).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    shape = (1, 2, patch, patch, patch)
    initial = torch.zeros(shape, dtype=torch.bool, device=device)
    initial[:, :, patch // 4: 3 * patch // 4, patch // 4: 3 * patch // 4] = True
    image = torch.randn((1, 1, patch, patch, patch), device=device)
    prior = torch.rand((1, 1, patch, patch, patch), device=device)
    quality = torch.tensor([[2, 3]], device=device)
    error = torch.tensor([[UNDER, BOTH]], device=device)

    def step():
        rois = regions_of_interest(initial, error)
        with autocast(device):
            logits = network(torch.cat([image, initial.float(), prior], 1))
        loss, _ = score_loss(logits, initial, prior, quality, error, rois=rois)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = steps / (time.perf_counter() - start)
    memory = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    extra = f", peak GPU memory {memory:.2f} GiB" if memory is not None else ""
    print(f"training {patch}³ patches, {args.res_units} residual units, on {device}: "
          f"{rate:.2f} it/s{extra}")
    return {"device": str(device), "patch": patch, "it_per_s": rate, "gpu_gib": memory}


if __name__ == "__main__":
    main()
