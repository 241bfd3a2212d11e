"""DDPM sampling time per image: the 1000-step DDPM chain against fast samplers, the same network throughout.

    python benchmarks/ddpm_sampling.py --update_readme                       # the default 28x28 UNet
    python benchmarks/ddpm_sampling.py --model ddpm-fashion --update_readme  # a trained one: adds sample grids
    python benchmarks/ddpm_sampling.py --quick                               # a tiny UNet: checks that it runs

Only the scheduler changes between rows (`hf_genzoo.samplers.use_sampler`); the time of a sample is the number
of network evaluations (NFE) times the time of one, so it does not depend on what the weights are: without
--model the default `genzoo train ddpm` UNet for 28x28 grey images is timed with its initial weights. Each row
is one `DDPMPipeline` call for --batch_size images from a seeded CPU generator, in fp32; the fast rows are the
median of --repeats calls, the 1000-step row one call. With --model, each sampler's grid of the same seed goes
to benchmarks/results/ddpm_sampling/ (quality is measured against the data in the trilemma benchmark).
"""

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from diffusers import DDPMPipeline, DDPMScheduler
from report import publish

from hf_genzoo.models.unet import TINY_UNET, unet_for_images
from hf_genzoo.samplers import use_sampler
from hf_genzoo.viz import save_grid

HERE = Path(__file__).resolve().parent
ROWS = [("ddpm", 1000), ("ddim", 50), ("dpmsolver++", 20), ("dpmsolver++", 10)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        default=None,
        help="a saved DDPM pipeline (folder or Hub id); default: an untrained default UNet (timing only)",
    )
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a tiny UNet on 8x8 images, fewer steps")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output", default=str(HERE / "results" / "ddpm_sampling.md"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model:
        pipe = DDPMPipeline.from_pretrained(args.model)
        what = f"`{args.model}`"
    else:
        torch.manual_seed(0)
        unet = unet_for_images(1, 8, **TINY_UNET) if args.quick else unet_for_images(1, 28)
        pipe = DDPMPipeline(unet=unet.eval(), scheduler=DDPMScheduler(num_train_timesteps=1000))
        what = "the default `genzoo train ddpm` UNet (28x28, 1 channel; untrained: timing only)"
        if args.quick:
            what = "a tiny UNet (8x8)"
    if torch.cuda.is_available():
        pipe.to("cuda")
    pipe.set_progress_bar_config(disable=True)
    rows = [(s, max(2, n // 20) if args.quick else n) for s, n in ROWS]
    grids = Path(args.output).parent / "ddpm_sampling"
    results = {}
    for name, steps in rows:
        use_sampler(pipe, name)
        times = []
        for _ in range(1 if steps >= 1000 else args.repeats):
            g = torch.Generator().manual_seed(args.seed)
            t = time.perf_counter()
            images = pipe(batch_size=args.batch_size, generator=g, num_inference_steps=steps, output_type="pt").images
            times.append(time.perf_counter() - t)
            print(f"{name} {steps} steps: {times[-1]:.1f} s", flush=True)
        results[f"{name}_{steps}"] = {"seconds": times, "nfe": len(pipe.scheduler.timesteps)}
        if args.model:
            save_grid(images[:32].float().cpu(), grids / f"{name}_{steps}.png", ncols=8)
    base = statistics.median(results[f"{rows[0][0]}_{rows[0][1]}"]["seconds"])
    device = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    )
    lines = [
        f"{what}; batch {args.batch_size}, fp32, {device}:",
        "",
        "| sampler | steps (network evaluations) | ms per image | time / DDPM 1000 |"
        + (" samples |" if args.model else ""),
        "|---|---|---|---|" + ("---|" if args.model else ""),
    ]
    for name, steps in rows:
        r = results[f"{name}_{steps}"]
        sec = statistics.median(r["seconds"])
        cell = f" ![{name} {steps}](benchmarks/results/ddpm_sampling/{name}_{steps}.png) |" if args.model else ""
        lines.append(f"| {name} | {r['nfe']} | {1000 * sec / args.batch_size:.1f} | {sec / base:.1%} |{cell}")
    publish("\n".join(lines), results, args.output, "ddpm_sampling" if args.update_readme else None)


if __name__ == "__main__":
    main()
