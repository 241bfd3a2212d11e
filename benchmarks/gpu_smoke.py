"""GPU smoke check: a few hundred bf16 steps of every family on CUDA, then sampling, timed.

    python benchmarks/gpu_smoke.py --steps 300 --mixed_precision bf16
    python benchmarks/gpu_smoke.py --quick        # every family's tiny config on digits, CPU or GPU: checks it runs

Not a quality benchmark: it shows that each family trains through the one loop under mixed
precision on a GPU, loads back with `from_pretrained`, and samples; and how fast each goes.
Writes a Markdown table to --output.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from report import publish

from hf_genzoo.errors import MissingPackage
from hf_genzoo.family import families
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.training import make_config, train

BATCH = 256
FAST = {"scheduler": "dpmsolver++", "steps": 20}  # where a family samples with these options: the fast solver


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


@torch.no_grad()
def sampling_images_per_second(pipe, family, images: torch.Tensor, repeats: int = 3) -> float:
    """Images/s of the pipeline's main use at batch 256: sampling (a diffusion model with DPM-Solver++ in 20 steps;
    benchmarks/ddpm_sampling.py times the samplers), else its `transform` (a reconstruction, labels)."""
    options = {k: v for k, v in FAST.items() if k in family.sample_options}

    def once():
        if family.generative:
            return family.sample(pipe, BATCH, torch.Generator(device=pipe.device).manual_seed(0), **options)
        return family.transform(pipe, images)

    once()  # warm-up
    times = []
    for _ in range(repeats):
        _sync()
        t = time.perf_counter()
        once()
        _sync()
        times.append(time.perf_counter() - t)
    return BATCH / sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(families()))
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--mixed_precision", default="bf16")
    parser.add_argument("--output", default="gpu_smoke.md")
    parser.add_argument("--quick", action="store_true", help="digits, each family's tiny config, 2 steps, fp32")
    args = parser.parse_args()
    if args.quick:
        args.dataset, args.steps, args.mixed_precision = "digits", 2, "no"
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    work = Path(tempfile.mkdtemp(prefix="genzoo-gpu-"))
    rows = []
    for family in args.families.split(","):
        recipe = families()[family].objective.recipe
        cfg = make_config(
            family,
            dataset=recipe.get("dataset", args.dataset),  # a family with data of its own kind (audio) trains on it
            max_steps=args.steps,
            batch_size=BATCH,
            report_to="none",
            mixed_precision=args.mixed_precision,
            checkpointing_steps=0,
            eval_batches=8,
            output_dir=str(work / family),
            **({"model_config": families()[family].tiny.model_config} if args.quick else {}),
        )
        t = time.perf_counter()
        try:
            result = train(cfg)
        except MissingPackage as err:  # e.g. the embedded speech set without espeak-ng: say so, go on
            rows.append({"family": family, "skipped": str(err)})
            print(json.dumps(rows[-1]), flush=True)
            continue
        wall = time.perf_counter() - t
        pipe = load_pipeline(str(result.output_dir)).to("cuda" if torch.cuda.is_available() else "cpu")
        pipe.set_progress_bar_config(disable=True)
        record = families()[family]
        images = None if record.generative else record.example_inputs(pipe, BATCH)  # what a transform takes
        images = images.to(pipe.device) if isinstance(images, torch.Tensor) else images
        speed = sampling_images_per_second(pipe, families()[family], images)
        rows.append(
            {
                "family": family,
                "steps": result.steps,
                "train_images_per_s": result.images_per_second,
                "wall_s": wall,
                "sample_images_per_s": speed,
                "metrics": result.metrics,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    lines = [
        f"{device}, {args.dataset}, batch {BATCH}, {args.mixed_precision}, {args.steps} steps per family",
        "",
        "| family | train images/s | wall s (incl. data, eval, save) | sampling images/s | held-out metrics |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['family']} | skipped: {r['skipped']} | | | |")
            continue
        metrics = ", ".join(f"{k} {v:.3g}" for k, v in r["metrics"].items())
        lines.append(
            f"| {r['family']} | {r['train_images_per_s']:,.0f} | {r['wall_s']:.1f} | "
            f"{r['sample_images_per_s']:,.0f} | {metrics} |"
        )
    publish("\n".join(lines), rows, args.output)


if __name__ == "__main__":
    main()
