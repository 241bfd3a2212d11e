"""The one training loop's speed against a plain PyTorch loop: same model, optimizer, data and batch.

    python benchmarks/loop_throughput.py --update_readme              # both models at 1 and 2 threads, ~20 min
    python benchmarks/loop_throughput.py --profile --update_readme    # where a step's time goes, ~3 min
    python benchmarks/loop_throughput.py --quick                      # digits, tiny models: checks that it runs

Models (fashion_mnist): the MLPAutoencoder 784-512-256-64 at batch 128, and the default `genzoo train ddpm` UNet
(3.9M parameters) at batch 64 with the DDPM recipe (AdamW 2e-4 with warm-up, gradient clipping at 1, EMA).
`train()` runs as a user runs it: `make_config(family)` with its recipe, accelerate, tracker, progress bar.
The plain loop is what a person writes by hand for the same work: the uint8 images in RAM, a random batch
per step, the same fused AdamW, the same loss (and for the DDPM the same noise schedule, clipping, warm-up and
EMA update), `zero_grad`, `backward`, `step`; no accelerate, no logging. For the autoencoder a third loop uses
AdamW's default kernel (what a hand-written loop usually gets). Each measurement is images/s over --steps
optimizer steps after WARMUP_STEPS warm-up steps; the loops run --rounds times in rotating order (no loop always
first); medians and ratios, at each of --threads.

--profile: cProfile over the steady state of each loop, by part: each loop runs twice (N and 3N steps, one
evaluation at the end of both; after a warm-up run), and the difference of the two profiles, divided by 2N, is
the time one step spends in each part (cProfile's per-call cost inflates the Python parts of both loops alike).
"""

import argparse
import cProfile
import platform
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from report import publish

from hf_genzoo.data import load_images
from hf_genzoo.models import MLPAutoencoder
from hf_genzoo.models.unet import TINY_UNET, as_model_config, unet_for_images
from hf_genzoo.registry import get_family
from hf_genzoo.training import make_config, train
from hf_genzoo.training.loop import WARMUP_STEPS

HERE = Path(__file__).resolve().parent
AE = {"hidden_dim": 512, "latent_dim": 64}
TINY_AE = {"hidden_dim": 32, "latent_dim": 4}
CASES = {  # name -> (family, batch size, timed steps per measurement, N of the profile: 3N + 10 steps in one epoch)
    "mlp_autoencoder": ("mlp_autoencoder", 128, 1000, 150),
    "ddpm": ("ddpm", 64, 20, 5),
}


def _batches(images: np.ndarray, batch_size: int):
    """Random batches of uint8 images held in RAM: the hand-written loop's data path."""
    x_all = torch.from_numpy(np.array(images))  # (N, C, H, W) uint8
    g = torch.Generator().manual_seed(0)
    while True:
        yield x_all[torch.randint(0, len(x_all), (batch_size,), generator=g)]


def plain_autoencoder(data, steps: int, batch_size: int, model_kwargs: dict, fused: bool = True) -> float:
    torch.manual_seed(0)
    mean, std = data.channel_stats()
    model = MLPAutoencoder(in_channels=data.channels, sample_size=data.resolution, mean=mean, std=std, **model_kwargs)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0, fused=fused)
    batches = _batches(data.images, batch_size)
    for step in range(steps + WARMUP_STEPS):
        if step == WARMUP_STEPS:
            start = time.perf_counter()
        x = next(batches).float() / 255
        out = model(x)
        loss = F.mse_loss(out.sample, out.normed)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch_size / (time.perf_counter() - start)


def plain_ddpm(data, steps: int, batch_size: int, unet_kwargs: dict) -> float:
    """The DDPM recipe's step by hand: noise, UNet, MSE to the noise, clip, AdamW, warm-up schedule, EMA."""
    recipe = get_family("ddpm").objective.recipe
    torch.manual_seed(0)
    model = unet_for_images(data.channels, data.resolution, **unet_kwargs)
    noise_scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", prediction_type="epsilon")
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=recipe["learning_rate"],
        betas=(recipe["adam_beta1"], 0.999),
        weight_decay=recipe["weight_decay"],
        fused=True,
    )
    lr_schedule = get_scheduler("constant_with_warmup", opt, num_warmup_steps=recipe["lr_warmup_steps"])
    ema = EMAModel(model.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0, power=0.75, foreach=True)
    batches = _batches(data.images, batch_size)
    for step in range(steps + WARMUP_STEPS):
        if step == WARMUP_STEPS:
            start = time.perf_counter()
        x0 = next(batches).float() / 255 * 2 - 1
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (len(x0),))
        loss = F.mse_loss(model(noise_scheduler.add_noise(x0, noise, t), t).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe["max_grad_norm"])
        opt.step()
        lr_schedule.step()
        ema.step(model.parameters())
    return steps * batch_size / (time.perf_counter() - start)


def ours(case: str, dataset: str, steps: int, batch_size: int, model_config: str, workdir: Path) -> float:
    cfg = make_config(
        CASES[case][0],
        dataset=dataset,
        max_steps=steps + WARMUP_STEPS,
        batch_size=batch_size,
        model_config=model_config,
        output_dir=str(workdir / case),
        mixed_precision="no",  # the plain loop's precision (the DDPM recipe's default is auto: bf16 where native)
        checkpointing_steps=0,
        eval_batches=1,
        overwrite_output_dir=True,  # a scratch folder, trained into once per round
    )
    return train(cfg).images_per_second


def loops_of(case, data, dataset, batch, model_kwargs, model_config, workdir) -> dict:
    """The loops to compare for `case`: name -> (timed steps -> images/s)."""
    if case == "mlp_autoencoder":
        return {
            "train()": lambda n: ours(case, dataset, n, batch, model_config, workdir),
            "plain, fused AdamW": lambda n: plain_autoencoder(data, n, batch, model_kwargs),
            "plain, default AdamW": lambda n: plain_autoencoder(data, n, batch, model_kwargs, fused=False),
        }
    return {
        "train()": lambda n: ours(case, dataset, n, batch, model_config, workdir),
        "plain, fused AdamW": lambda n: plain_ddpm(data, n, batch, model_kwargs),
    }


PARTS = (  # (part, substrings of the profiled function's file or name), first match wins
    ("data: loader, batches", ("torch/utils/data", "hf_genzoo/data", "numpy", "accelerate/data_loader")),
    ("optimizer, schedule, EMA", ("torch/optim", "_fused_adam", "_foreach", "training_utils", "clip_grad")),
    ("accelerate's wrappers", ("accelerate/",)),
    ("progress bar, tracker, logging", ("tqdm", "tensorboard", "logging")),
    ("the loop (hf_genzoo/training)", ("hf_genzoo/training",)),
    ("model forward, loss, backward", ("torch", "diffusers", "hf_genzoo/models", "run_backward")),
)


def _by_part(profile: cProfile.Profile) -> dict[str, float]:
    """Own time (tottime, s) of every profiled function, summed by part."""
    out = dict.fromkeys([p for p, _ in PARTS] + ["other"], 0.0)
    for (file, _, name), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():
        where = f"{file}:{name}"
        out[next((p for p, keys in PARTS if any(k in where for k in keys)), "other")] += tottime
    return out


def profile_per_step(run, steps: int) -> dict[str, float]:
    """ms per step in each part over the steady state: profile(3N steps) - profile(N steps), over 2N."""
    run(steps)  # first calls: imports, allocations, kernel choices
    parts = []
    for n in (steps, 3 * steps):
        prof = cProfile.Profile()
        prof.enable()
        run(n)
        prof.disable()
        parts.append(_by_part(prof))
    return {k: (parts[1][k] - parts[0][k]) / (2 * steps) * 1e3 for k in parts[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--threads", default="1,2", help="torch CPU threads to measure at, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps_scale", type=float, default=1.0, help="multiply each case's timed steps")
    parser.add_argument("--profile", action="store_true", help="the profile by part instead of the speed table")
    parser.add_argument("--quick", action="store_true", help="digits, tiny models, few steps, 1 round, 1 thread")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output", default=None, help="default: benchmarks/results/loop_throughput[_profile].md")
    args = parser.parse_args()
    if args.quick:
        args.dataset, args.rounds, args.threads = "digits", 1, "1"
    name = "loop_profile" if args.profile else "loop_throughput"
    output = args.output or str(HERE / "results" / f"{name}.md")
    data = load_images(args.dataset, "train")
    workdir = Path(tempfile.mkdtemp(prefix="genzoo-speed-"))
    machine = f"{platform.machine()}, torch {torch.__version__}"
    raw, lines = {}, []
    for case in args.cases.split(","):
        _, batch, steps, profile_steps = CASES[case]
        steps = max(2, round(steps * args.steps_scale)) if not args.quick else 3
        profile_steps = 3 if args.quick else profile_steps
        model_kwargs = (TINY_AE if args.quick else AE) if case == "mlp_autoencoder" else TINY_UNET if args.quick else {}
        model_config = ",".join(f"{k}={v}" for k, v in model_kwargs.items()) if case == "mlp_autoencoder" else ""
        model_config = model_config or as_model_config(model_kwargs)
        batch = 16 if args.quick else batch
        loops = loops_of(case, data, args.dataset, batch, model_kwargs, model_config, workdir)
        for threads in map(int, args.threads.split(",")):
            torch.set_num_threads(threads)
            where = f"{case}, {threads} thread{'s' if threads > 1 else ''}"
            if args.profile:
                ms = {
                    k: profile_per_step(run, profile_steps) for k, run in loops.items() if k != "plain, default AdamW"
                }
                raw[where] = ms
                lines += [
                    f"**{where}** (batch {batch}; ms per step by part, cProfile own time, "
                    f"steps {profile_steps}..{3 * profile_steps}):",
                    "",
                    "| part | " + " | ".join(ms) + " |",
                    "|---|" + "---|" * len(ms),
                ]
                for part in ms["train()"]:
                    if any(abs(v[part]) >= 0.005 for v in ms.values()):
                        lines.append(f"| {part} | " + " | ".join(f"{v[part]:.2f}" for v in ms.values()) + " |")
                lines += ["| **total** | " + " | ".join(f"**{sum(v.values()):.2f}**" for v in ms.values()) + " |", ""]
                continue
            results = {k: [] for k in loops}
            keys = list(loops)
            for r in range(args.rounds):
                for i in range(len(keys)):
                    key = keys[(i + r) % len(keys)]
                    results[key].append(loops[key](steps))
                print(where, {k: [round(v, 1) for v in vs] for k, vs in results.items()}, flush=True)
            med = {k: statistics.median(v) for k, v in results.items()}
            raw[where] = {"results": results, "medians": med, "batch_size": batch, "steps": steps}
            mine = med["train()"]
            rows = [f"| {where} | `train()` | {mine:,.1f} | |"]
            for k in keys[1:]:
                bold = "**" if k == "plain, fused AdamW" else ""
                rows.append(f"| | plain loop, {k.split(', ')[1]} | {med[k]:,.1f} | {bold}{mine / med[k]:.2f}x{bold} |")
            lines += rows
    if args.profile:
        head = (
            f"`{args.dataset}`, {machine}. Time per optimizer step by part of the code, in the steady state "
            f"(cProfile: the difference of a run of N and of 3N steps, over 2N):"
        )
        table = head + "\n\n" + "\n".join(lines).rstrip()
    else:
        head = (
            f"`{args.dataset}`, {machine}; MLPAutoencoder 784-512-256-64 at batch {CASES['mlp_autoencoder'][1]}, "
            f"the default DDPM UNet at batch {CASES['ddpm'][1]}; timed steps after {WARMUP_STEPS} warm-up steps, "
            f"{args.rounds} rounds in rotating order, medians:"
        )
        if args.quick:
            head = f"`{args.dataset}`, tiny models at batch 16 (--quick: checks that it runs), {machine}:"
        table = "\n".join(
            [head, "", "| model, threads | loop | images/s | `train()` / it |", "|---|---|---|---|", *lines]
        )
    publish(table, raw, output, name if args.update_readme else None)


if __name__ == "__main__":
    main()
