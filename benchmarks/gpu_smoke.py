"""GPU smoke check: a few hundred bf16 steps of every family on CUDA, then sampling, timed.

    python benchmarks/gpu_smoke.py --steps 300 --mixed_precision bf16

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

from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.samplers import use_sampler
from hf_genzoo.training import OBJECTIVES, make_config, train
from report import publish

BATCH = 256


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


@torch.no_grad()
def sampling_images_per_second(pipe, family: str, images: torch.Tensor, repeats: int = 3) -> float:
    """Images/s of the pipeline's main use at batch 256: sampling, reconstruction (autoencoders), labels (classifier)."""
    def once():
        g = torch.Generator(device=pipe.device).manual_seed(0)
        if family.endswith("autoencoder"):
            return pipe.reconstruct(images, output_type="pt")
        if family == "classifier":
            return pipe(images)
        if family == "ddpm":  # DPM-Solver++, 20 steps (benchmarks/ddpm_sampling.py times the samplers)
            return use_sampler(pipe, "dpmsolver++")(BATCH, generator=g, num_inference_steps=20, output_type="pt")
        return pipe(BATCH, generator=g, output_type="pt")

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
    parser.add_argument("--families", default=",".join(sorted(OBJECTIVES)))
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--mixed_precision", default="bf16")
    parser.add_argument("--output", default="gpu_smoke.md")
    args = parser.parse_args()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    work = Path(tempfile.mkdtemp(prefix="genzoo-gpu-"))
    rows = []
    for family in args.families.split(","):
        cfg = make_config(family, dataset=args.dataset, max_steps=args.steps, batch_size=BATCH, report_to="none",
                          mixed_precision=args.mixed_precision, checkpointing_steps=0, eval_batches=8,
                          output_dir=str(work / family))  # fmt: skip
        t = time.perf_counter()
        result = train(cfg)
        wall = time.perf_counter() - t
        pipe = load_pipeline(str(result.output_dir)).to("cuda" if torch.cuda.is_available() else "cpu")
        pipe.set_progress_bar_config(disable=True)
        images = torch.rand(BATCH, *_shape(pipe), device=pipe.device)
        rows.append({"family": family, "steps": result.steps, "train_images_per_s": result.images_per_second,
                     "wall_s": wall, "sample_images_per_s": sampling_images_per_second(pipe, family, images),
                     "metrics": result.metrics})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    lines = [f"{device}, {args.dataset}, batch {BATCH}, {args.mixed_precision}, {args.steps} steps per family", "",
             "| family | train images/s | wall s (incl. data, eval, save) | sampling images/s | held-out metrics |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        metrics = ", ".join(f"{k} {v:.3g}" for k, v in r["metrics"].items())
        lines.append(f"| {r['family']} | {r['train_images_per_s']:,.0f} | {r['wall_s']:.1f} | "
                     f"{r['sample_images_per_s']:,.0f} | {metrics} |")  # fmt: skip
    publish("\n".join(lines), rows, args.output)


def _shape(pipe):
    model = next(m for m in pipe.components.values() if m is not None)
    cfg = model.config
    return (cfg.get("in_channels", cfg.get("out_channels")), cfg.sample_size, cfg.sample_size)


if __name__ == "__main__":
    main()
