"""bf16 that pays: the MLP autoencoder trained with `--mixed_precision bf16` against the fp32 plain loop.

    python benchmarks/bf16_autoencoder.py --update_readme     # fashion_mnist, ~25 minutes on 2 quiet CPU cores
    python benchmarks/bf16_autoencoder.py --quick             # digits, a tiny model: checks that it runs

The baseline is the fp32 plain PyTorch loop of benchmarks/loop_throughput.py (MLPAutoencoder 784-512-256-64,
batch 128, fused AdamW 1e-3, the images in RAM). Against it, `train()` (`genzoo train mlp_autoencoder`) in fp32 and
with `--mixed_precision bf16` (accelerate's autocast: the matrix products in bf16, the weights and AdamW in fp32)
at batch 128 and at larger batches with the learning rate scaled by the square root of the batch ratio (Adam's
usual rule; Malladi et al. 2022), and the levers one at a time in a bare step on random data: autocast, bf16
weights with fp32 master copies, the batch.

Speed: images/s over --steps timed steps after WARMUP_STEPS, --rounds rounds in rotating order, medians.
Quality: the held-out R^2 (test split, pixel space) after --epochs epochs of each configuration, one run each
(seed 0): the target is bf16 at least 1.5x the fp32 plain loop's images/s at an R^2 within 0.005 of it.
"""

import argparse
import math
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from loop_throughput import _batches
from report import publish

from hf_genzoo.data import load_images, make_loader, to_unit_range
from hf_genzoo.metrics import R2Score
from hf_genzoo.models import MLPAutoencoder
from hf_genzoo.training import make_config, train
from hf_genzoo.training.loop import WARMUP_STEPS

HERE = Path(__file__).resolve().parent
AE = {"hidden_dim": 512, "latent_dim": 64}
TINY_AE = {"hidden_dim": 32, "latent_dim": 4}
BASE_BATCH, BASE_LR = 128, 1e-3
BATCHES = (128, 256, 512)  # train() with bf16 at each; the learning rate scaled by sqrt(batch / 128)


def lr_for(batch: int) -> float:
    return BASE_LR * math.sqrt(batch / BASE_BATCH)


def plain_fit(data, steps: int, batch: int, model_kwargs: dict) -> tuple[float, MLPAutoencoder]:
    """The fp32 plain loop (loop_throughput.py's): images/s after the warm-up steps, and the trained model."""
    torch.manual_seed(0)
    mean, std = data.channel_stats()
    model = MLPAutoencoder(in_channels=data.channels, sample_size=data.resolution, mean=mean, std=std, **model_kwargs)
    opt = torch.optim.AdamW(model.parameters(), lr=BASE_LR, weight_decay=0.0, fused=True)
    batches = _batches(data.images, batch)
    start = time.perf_counter()
    for step in range(steps + WARMUP_STEPS):
        if step == WARMUP_STEPS:
            start = time.perf_counter()
        x = next(batches).float() / 255
        out = model(x)
        loss = F.mse_loss(out.sample, out.normed)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start), model


@torch.no_grad()
def held_out_r2(model: MLPAutoencoder, test) -> float:
    r2 = R2Score()
    for b in make_loader(test, 500, shuffle=False):
        x = to_unit_range(b["pixel_values"])
        r2.update(model.to_pixels(model(x).sample.float()), x)
    return r2.compute()


def ours(dataset, batch, precision, model_kwargs, workdir: Path, steps=None, epochs=None):
    cfg = make_config(
        "mlp_autoencoder",
        dataset=dataset,
        batch_size=batch,
        learning_rate=lr_for(batch),
        mixed_precision=precision,
        model_config=",".join(f"{k}={v}" for k, v in model_kwargs.items()),
        output_dir=str(workdir),
        checkpointing_steps=0,
        overwrite_output_dir=True,
        **({"max_steps": steps + WARMUP_STEPS, "eval_batches": 1} if steps else {"epochs": epochs}),
        eval_every_epochs=epochs or 1,  # one evaluation, at the end
    )
    return train(cfg)


def bare_step(batch: int, model_kwargs: dict, steps: int, lever: str) -> float:
    """One lever alone on random data: `fp32`, `autocast` (bf16 matmuls, fp32 weights) or `bf16 weights` (the model
    in bf16, AdamW on fp32 master copies, copied back after each step)."""
    torch.manual_seed(0)
    model = MLPAutoencoder(in_channels=1, sample_size=28, **model_kwargs)
    params = list(model.parameters())
    master = params
    if lever == "bf16 weights":
        master = [p.detach().clone().float().requires_grad_() for p in params]
        model = model.to(torch.bfloat16)
        params = list(model.parameters())
    opt = torch.optim.AdamW(master, lr=BASE_LR, fused=True)
    x = torch.rand(batch, 1, 28, 28, dtype=torch.bfloat16 if lever == "bf16 weights" else torch.float32)
    for step in range(steps + 3):
        if step == 3:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=lever == "autocast"):
            out = model(x)
        loss = F.mse_loss(out.sample.float(), out.normed.float())
        for p in params:
            p.grad = None
        loss.backward()
        if lever == "bf16 weights":
            for p, q in zip(params, master, strict=True):
                q.grad = p.grad.float()
        opt.step()
        if lever == "bf16 weights":
            with torch.no_grad():
                torch._foreach_copy_(params, master)
    return steps * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the quality runs")
    parser.add_argument("--steps", type=int, default=300, help="timed steps of the speed runs (at batch 128)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="digits, a tiny model, 1 epoch, 1 round")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output", default=str(HERE / "results" / "bf16_autoencoder.md"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.dataset, args.epochs, args.steps, args.rounds = "digits", 1, 3, 1
    model_kwargs = TINY_AE if args.quick else AE
    data, test = load_images(args.dataset, "train"), load_images(args.dataset, "test")
    work = Path(tempfile.mkdtemp(prefix="genzoo-bf16-"))

    configs = {
        "plain loop, fp32": None,
        "`train()`, fp32": ("no", BASE_BATCH),
        "`train()`, fp32, batch 256": ("no", 256),
    }
    configs.update({f"`train()`, bf16, batch {b}": ("bf16", b) for b in BATCHES})

    def steps_at(batch):  # the same images per speed run at every batch
        return max(2, args.steps * BASE_BATCH // batch)

    def speed(name):
        if configs[name] is None:
            return plain_fit(data, args.steps, BASE_BATCH, model_kwargs)[0]
        precision, batch = configs[name]
        return ours(
            args.dataset, batch, precision, model_kwargs, work / "speed", steps=steps_at(batch)
        ).images_per_second

    levers = [(lever, b) for b in (128, 256) for lever in ("fp32", "autocast", "bf16 weights")]
    speeds = {k: [] for k in [*configs, *levers]}
    keys = list(speeds)
    for r in range(args.rounds):
        for i in range(len(keys)):
            key = keys[(i + r) % len(keys)]
            if isinstance(key, tuple):
                speeds[key].append(bare_step(key[1], model_kwargs, steps_at(key[1]), key[0]))
            else:
                speeds[key].append(speed(key))
        print({str(k): [round(v) for v in vs] for k, vs in speeds.items()}, flush=True)
    med = {k: statistics.median(v) for k, v in speeds.items()}

    r2 = {}
    steps_per_epoch = len(data) // BASE_BATCH
    _, model = plain_fit(data, args.epochs * steps_per_epoch - WARMUP_STEPS, BASE_BATCH, model_kwargs)
    r2["plain loop, fp32"] = held_out_r2(model, test)
    for name, cfg in configs.items():
        if cfg is not None:
            r2[name] = ours(args.dataset, cfg[1], cfg[0], model_kwargs, work / "quality", epochs=args.epochs).metrics[
                "r2"
            ]
        print(name, r2[name], flush=True)

    base, base_r2 = med["plain loop, fp32"], r2["plain loop, fp32"]
    lines = [
        f"{'a tiny MLPAutoencoder (--quick)' if args.quick else 'MLPAutoencoder 784-512-256-64'} on `{args.dataset}` "
        f"({platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}). images/s: medians of {args.rounds} rounds of {args.steps * BASE_BATCH:,} images "
        f"after {WARMUP_STEPS} warm-up steps; R^2: the test split after {args.epochs} epochs (one run, seed 0); "
        f"learning rate {BASE_LR:g} x sqrt(batch / {BASE_BATCH}):",
        "",
        f"| loop | batch | learning rate | images/s | / plain fp32 | held-out R^2 after {args.epochs} epochs | "
        "R^2 - plain fp32 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, cfg in configs.items():
        batch = cfg[1] if cfg else BASE_BATCH
        lr = lr_for(batch) if cfg else BASE_LR
        ratio = med[name] / base
        bold = "**" if cfg and cfg[0] == "bf16" else ""
        lines.append(
            f"| {name} | {batch} | {lr:.3g} | {med[name]:,.0f} | {bold}{ratio:.2f}x{bold} | {r2[name]:.4f} | "
            f"{r2[name] - base_r2:+.4f} |"
        )
    lines += ["", "The levers alone (a bare step on random data, no loop):", ""]
    lines += ["| step | batch | images/s | / fp32 at batch 128 |", "|---|---|---|---|"]
    for lever, b in levers:
        lines.append(f"| {lever} | {b} | {med[(lever, b)]:,.0f} | {med[(lever, b)] / med[('fp32', 128)]:.2f}x |")
    raw = {"speeds": {str(k): v for k, v in speeds.items()}, "r2": r2}
    publish("\n".join(lines), raw, args.output, "bf16_autoencoder" if args.update_readme else None)


if __name__ == "__main__":
    main()
