"""One WeakStatSeg training step (forward, L_c + L_r + L_s + L_ws, backward, Adam) per network.

    python benchmarks/bench_weakstat_step.py [--device cpu] [--quick]
"""

from __future__ import annotations

import time

import torch
from benchcli import bench_parser

from scorekit.devices import resolve_device
from scorekit.weakstat.losses import total_loss
from scorekit.weakstat.model import WeakStatConfig, WeakStatNet

# (network, edge, batch)
CASES = [("unet2d", 128, 8), ("mobilenet_v3_large", 128, 8), ("resnet50", 128, 4)]


def seconds_per_step(backbone: str, edge: int, batch: int, device, steps: int) -> float:
    network = WeakStatNet(WeakStatConfig(backbone=backbone, size=[edge, edge])).to(device)
    optimizer = torch.optim.Adam(network.parameters(), 1e-3)
    image = torch.rand(batch, 1, edge, edge, device=device)
    batch_data = {"image": image, "weak": (image > 0.9).float(),
                  "fraction": torch.full((batch,), 0.1, device=device)}
    for step in range(steps + 1):
        if step == 1:  # the first step warms up
            start = time.perf_counter()
        logits, reconstruction = network(image)
        loss, _ = total_loss(batch_data, logits, reconstruction, ("stat", "weak"))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main(argv=None) -> dict:
    args = bench_parser(__doc__, quick="2 timed steps instead of 5").parse_args(argv)
    device = resolve_device(args.device)
    result = {}
    for backbone, edge, batch in CASES:
        result[backbone] = seconds_per_step(backbone, edge, batch, device,
                                            2 if args.quick else 5)
        print(f"weakstat step: {backbone} {edge}x{edge} batch {batch}: "
              f"{result[backbone]:.2f} s on {device}")
    return result


if __name__ == "__main__":
    main()
