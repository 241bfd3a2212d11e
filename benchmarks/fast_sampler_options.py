"""DPM-Solver++ at few steps on one trained DDPM: which scheduler options keep its samples near DDPM 1000's quality.

    python benchmarks/fast_sampler_options.py --model ddpm-small --classifier fashion_mnist-classifier

The trilemma table found DPM-Solver++ 20 at 1.6x the FD_local of DDPM 1000 on a short-trained network. DDPM's own
sampler clips its x0 estimate at every step; DPM-Solver++ does not unless `thresholding=True` (diffusers' advice for
pixel-space models). This scores, in the classifier's features against as many training images (`trilemma.score`):
the scheduler as `genzoo sample` builds it, with dynamic thresholding, with "trailing" timestep spacing, and both.
Writes benchmarks/results/fast_sampler_options.md (+ .json).
"""

import argparse
from pathlib import Path

import torch
from report import publish

from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.samplers import make_scheduler
from hf_genzoo.trilemma import reference_set, score

HERE = Path(__file__).resolve().parent
OPTIONS = {
    "as built": {},
    "thresholding=True": {"thresholding": True},
    'timestep_spacing="trailing"': {"timestep_spacing": "trailing"},
    "both": {"thresholding": True, "timestep_spacing": "trailing"},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a trained DDPM folder or Hub id")
    parser.add_argument("--classifier", required=True, help="the feature classifier of the same dataset")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--num_samples", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    pipe, clf = load_pipeline(args.model), load_pipeline(args.classifier)
    pipe.set_progress_bar_config(disable=True)
    reference = reference_set(clf, args.dataset, args.num_samples)
    base = make_scheduler("dpmsolver++", pipe.scheduler.config)
    params = sum(p.numel() for p in pipe.unet.parameters())
    rows = []
    for name, options in OPTIONS.items():
        pipe.scheduler = type(base).from_config(base.config, **options)
        images = pipe(
            args.num_samples,
            generator=torch.Generator().manual_seed(0),
            num_inference_steps=args.steps,
            output_type="pt",
        ).images
        rows.append({"options": name, **score(clf, images, reference)})
        print(rows[-1], flush=True)
    lines = [
        f"`{args.dataset}`, DPM-Solver++ {args.steps} steps, {args.num_samples} samples, UNet of {params:,} "
        f"parameters; seed 0 for every row.",
        "",
        "| scheduler options | FD_local | recall | coverage |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['options']} | {r['FD_local']:.3g} | {r['recall']:.3g} | {r['coverage']:.3g} |" for r in rows]
    publish("\n".join(lines), rows, HERE / "results" / "fast_sampler_options.md")


if __name__ == "__main__":
    main()
