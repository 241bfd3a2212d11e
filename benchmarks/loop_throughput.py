"""The one training loop's speed against a minimal plain PyTorch loop, same model, data and batch.

    python benchmarks/loop_throughput.py --update_readme      # fashion_mnist, about 3 minutes on 2 CPU cores

Model: MLPAutoencoder 784-512-256-64-256-512-784, batch 128. Each measurement times --steps optimizer
steps after WARMUP_STEPS warm-up steps. Three loops, run --rounds times in rotating order (no loop
always first); medians and ratios. `train()` runs as a user runs it: tracker, progress bar, accelerate.
The plain loop runs twice: with the fused AdamW that `train()` uses (the loop's own overhead) and with
AdamW's default kernel (what a hand-written loop usually gets).
"""

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from report import publish

from hf_genzoo.data import load_images
from hf_genzoo.models import MLPAutoencoder
from hf_genzoo.training import make_config, train
from hf_genzoo.training.loop import WARMUP_STEPS

HERE = Path(__file__).resolve().parent
MODEL = {"hidden_dim": 512, "latent_dim": 64}


def plain_loop_images_per_second(data, steps: int, batch_size: int, fused: bool) -> float:
    """The baseline: the same model and data in a 15-line PyTorch loop, nothing else."""
    torch.manual_seed(0)
    mean, std = data.channel_stats()
    model = MLPAutoencoder(in_channels=data.channels, sample_size=data.resolution, mean=mean, std=std, **MODEL)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0, fused=fused)
    x_all = torch.from_numpy(np.array(data.images))  # (N, C, H, W) uint8 in RAM
    g = torch.Generator().manual_seed(0)
    for step in range(steps + WARMUP_STEPS):
        if step == WARMUP_STEPS:
            start = time.perf_counter()
        idx = torch.randint(0, len(x_all), (batch_size,), generator=g)
        x = x_all[idx].float() / 255
        out = model(x)
        loss = F.mse_loss(out.sample, out.normed)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch_size / (time.perf_counter() - start)


def ours_images_per_second(dataset: str, steps: int, batch_size: int, workdir: Path) -> float:
    cfg = make_config(
        "mlp_autoencoder",
        dataset=dataset,
        max_steps=steps + WARMUP_STEPS,
        batch_size=batch_size,
        model_config=",".join(f"{k}={v}" for k, v in MODEL.items()),
        output_dir=str(workdir / "speed"),
        checkpointing_steps=0,
        eval_batches=1,
        overwrite_output_dir=True,  # a scratch folder, trained into once per round
    )
    return train(cfg).images_per_second


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=1000, help="timed optimizer steps per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--update_readme", action="store_true")
    parser.add_argument("--output", default=str(HERE / "results" / "loop_throughput.md"))
    args = parser.parse_args()
    data = load_images(args.dataset, "train")
    workdir = Path(tempfile.mkdtemp(prefix="genzoo-speed-"))
    results = {"train()": [], "plain, fused AdamW": [], "plain, default AdamW": []}
    runs = [
        lambda: results["train()"].append(ours_images_per_second(args.dataset, args.steps, args.batch_size, workdir)),
        lambda: results["plain, fused AdamW"].append(
            plain_loop_images_per_second(data, args.steps, args.batch_size, True)
        ),
        lambda: results["plain, default AdamW"].append(
            plain_loop_images_per_second(data, args.steps, args.batch_size, False)
        ),
    ]
    for r in range(args.rounds):
        for i in range(len(runs)):
            runs[(i + r) % len(runs)]()
        print({k: [round(v) for v in vs] for k, vs in results.items()}, flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    ours = med["train()"]
    lines = [
        f"MLPAutoencoder 784-512-256-64, `{args.dataset}`, batch {args.batch_size}, {args.steps} timed steps after "
        f"{WARMUP_STEPS} warm-up steps, {args.rounds} rounds in rotating order, medians "
        f"({platform.machine()}, {torch.get_num_threads()} threads):",
        "",
        "| loop | images/s | `train()` / it |",
        "|---|---|---|",
        f"| `hf_genzoo.training.train` (fused AdamW, tracker and progress bar on) | {ours:,.0f} | |",
        f"| plain PyTorch loop, same fused AdamW | {med['plain, fused AdamW']:,.0f} | "
        f"**{ours / med['plain, fused AdamW']:.2f}x** |",
        f"| plain PyTorch loop, AdamW's default kernel | {med['plain, default AdamW']:,.0f} | "
        f"{ours / med['plain, default AdamW']:.2f}x |",
    ]
    publish("\n".join(lines), results, args.output, "loop_throughput" if args.update_readme else None)


if __name__ == "__main__":
    main()
