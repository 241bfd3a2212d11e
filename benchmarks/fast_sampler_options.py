"""Fast samplers at few steps on one trained DDPM: which scheduler and which options keep its samples nearest DDPM
1000's quality. The defaults of `genzoo sample --scheduler dpmsolver++` (`hf_genzoo.samplers.SAMPLERS`) and of the
trilemma's rows are chosen from this table.

    python benchmarks/fast_sampler_options.py --model ddpm-small --classifier fashion_mnist-classifier --update_readme
    python benchmarks/fast_sampler_options.py --quick      # a tiny DDPM and classifier on digits: checks that it runs

Every row is the same network, the same seed and the same number of samples, scored in the classifier's features
against as many training images (`trilemma.score`); only the scheduler differs. DPM-Solver++ (Lu et al. 2022) is
tried as diffusers builds it from the DDPM's config, then with each option its docs offer for pixel-space models:
`thresholding=True` (dynamic thresholding, Saharia et al. 2022; with `sample_max_value=1` it clips the x0 estimate
to [-1, 1] at every step, as DDPM's own sampler does), third order, Karras sigmas, the final step to sigma_min
instead of 0, "trailing" timestep spacing, and the stochastic SDE variant; and UniPC (Zhao et al. 2023), the other
multistep solver diffusers recommends, which `DDPMPipeline` cannot drive (its `step` takes no generator), so every
row is drawn by the loop below, which is `DDPMPipeline.__call__`'s (tests/test_benchmarks.py checks that the two
give the same images). Writes benchmarks/results/fast_sampler_options.md (+ .json).
"""

import argparse
import inspect
import tempfile
import time
from pathlib import Path

import torch
from diffusers import DPMSolverMultistepScheduler, UniPCMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor
from report import publish

from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.registry import get_family
from hf_genzoo.samplers import SAMPLERS
from hf_genzoo.trilemma import reference_set, score
from hf_genzoo.trilemma_bench import device_name, ensure_model

HERE = Path(__file__).resolve().parent
DPM = (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"})  # as diffusers builds it, no options
T = {"thresholding": True}
CANDIDATES = {
    "DPM-Solver++(2M), as built": DPM,
    "+ thresholding": (DPM[0], {**DPM[1], **T}),
    "+ thresholding, order 3": (DPM[0], {**DPM[1], **T, "solver_order": 3}),
    "+ thresholding, Karras sigmas": (DPM[0], {**DPM[1], **T, "use_karras_sigmas": True}),
    "+ thresholding, final sigma_min": (DPM[0], {**DPM[1], **T, "final_sigmas_type": "sigma_min"}),
    "+ thresholding, trailing spacing": (DPM[0], {**DPM[1], **T, "timestep_spacing": "trailing"}),
    "SDE-DPM-Solver++(2M) + thresholding": (DPM[0], {"algorithm_type": "sde-dpmsolver++", **T}),
    "UniPC (bh2)": (UniPCMultistepScheduler, {}),
    "UniPC (bh2) + thresholding": (UniPCMultistepScheduler, T),
    "UniPC (bh2) + thresholding, order 3": (UniPCMultistepScheduler, {**T, "solver_order": 3}),
}


@torch.no_grad()
def draw(unet, scheduler, n: int, steps: int, generator: torch.Generator, batch_size: int) -> torch.Tensor:
    """`n` images `(n, C, H, W)` in [0, 1]: `DDPMPipeline.__call__`'s loop (noise from `generator` on the CPU, the
    scheduler's steps), passing the generator to `step` where it takes one."""
    c = unet.config
    takes_generator = "generator" in inspect.signature(scheduler.step).parameters
    out = []
    for i in range(0, n, batch_size):
        shape = (min(batch_size, n - i), c.in_channels, c.sample_size, c.sample_size)
        x = randn_tensor(shape, generator=generator, device=unet.device, dtype=unet.dtype)
        scheduler.set_timesteps(steps)
        for t in scheduler.timesteps:
            eps = unet(x, t).sample
            x = scheduler.step(eps, t, x, **({"generator": generator} if takes_generator else {})).prev_sample
        out.append((x / 2 + 0.5).clamp(0, 1).float().cpu())
    return torch.cat(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a trained DDPM folder or Hub id")
    parser.add_argument("--classifier", help="the feature classifier of the same dataset")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--num_samples", type=int, default=1000)
    parser.add_argument("--steps", default="20,10", help="step counts, comma-separated (default: 20,10)")
    parser.add_argument("--batch_size", type=int, default=250)
    parser.add_argument("--quick", action="store_true", help="tiny models on digits, 64 samples, 2 candidates")
    parser.add_argument("--output", default=str(HERE / "results" / "fast_sampler_options.md"))
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    args = parser.parse_args()
    candidates = CANDIDATES
    if args.quick:
        work = tempfile.mkdtemp(prefix="genzoo-samplers-")
        args.dataset, args.num_samples, args.steps = "digits", 64, "4"
        args.model = ensure_model("ddpm", "digits", work, None, True)
        args.classifier = ensure_model("classifier", "digits", work, None, True)
        candidates = {k: CANDIDATES[k] for k in ("DPM-Solver++(2M), as built", "UniPC (bh2) + thresholding")}
    if not (args.model and args.classifier):
        parser.error("--model and --classifier are needed (or --quick)")
    pipe, clf = load_pipeline(args.model), load_pipeline(args.classifier)
    reference = reference_set(clf, args.dataset, args.num_samples)
    params = sum(p.numel() for p in pipe.unet.parameters())
    chosen = {  # (class, options) of each sampler a DDPM draws with: the scheduler table and the family's options
        name: (cls, {**kwargs, **get_family("ddpm").sampler_options.get(name, {})})
        for name, (cls, kwargs) in SAMPLERS.items()
    }
    rows = []
    for steps in [int(s) for s in args.steps.split(",")]:
        for name, (cls, options) in candidates.items():
            scheduler = cls.from_config(pipe.scheduler.config, **options)
            t = time.perf_counter()
            images = draw(
                pipe.unet, scheduler, args.num_samples, steps, torch.Generator().manual_seed(0), args.batch_size
            )
            seconds = time.perf_counter() - t
            sampler = next((s for s, c in chosen.items() if c == (cls, options)), None)
            rows.append(
                {
                    "scheduler": name,
                    "steps": steps,
                    "genzoo": sampler,
                    "seconds": seconds,
                    **score(clf, images, reference),
                }
            )
            print({k: rows[-1][k] for k in ("scheduler", "steps", "FD_local", "recall", "seconds")}, flush=True)
    best = {
        s: min((r for r in rows if r["steps"] == s), key=lambda r: r["FD_local"]) for s in {r["steps"] for r in rows}
    }
    lines = [
        f"`{args.dataset}`, the same UNet ({params:,} parameters) under each scheduler, {args.num_samples} samples "
        f"from seed 0 per row, against as many training images, on {device_name()}. Bold: the lowest FD_local at each "
        f"step count; (`--scheduler NAME`): what `genzoo sample` and the trilemma draw with under that name.",
        "",
        "| scheduler | steps | FD_local | KID_local | precision | recall | coverage |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fd = f"{r['FD_local']:.3g}"
        fd = f"**{fd}**" if r is best[r["steps"]] else fd
        name = r["scheduler"] + (f" (`--scheduler {r['genzoo']}`)" if r["genzoo"] else "")
        lines.append(
            f"| {name} | {r['steps']} | {fd} | {r['KID_local']:.3g} | {r['precision']:.3g} | {r['recall']:.3g} | "
            f"{r['coverage']:.3g} |"
        )
    publish("\n".join(lines), rows, args.output, "fast_sampler_options" if args.update_readme else None)


if __name__ == "__main__":
    main()
