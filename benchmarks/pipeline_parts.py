"""Where a small pipeline's fixed cost per call goes: the MLP autoencoder's `reconstruct`, built up from its network.

    python benchmarks/pipeline_parts.py --update_readme
    python benchmarks/pipeline_parts.py --batch_size 1024 --threads 1

The MLP autoencoder (the default model for 28 x 28 grey images, untrained: weights do not change the time) has the
smallest network of the zoo, a few milliseconds a batch of 256 on a CPU, so what its pipeline does around it is the
largest share there is. Each row is the row above plus one more part of what `AutoencoderPipeline.reconstruct(images,
output_type="pt")` does, the last row the pipeline itself:

- network: `autoencoder(x)`, the forward pass that benchmarks/pipeline_overhead.py replays as "bare networks";
- + pixels: the reconstruction mapped back to images in [0, 1] (`to_pixels`, in the output's own memory);
- + input check: `to_model_input` first (the input's layout, channels, size and range checked: one pass, one sync);
- + device and dtype: where and in which dtype the pipeline computes (`_execution_device`, the model's `dtype`);
- pipeline: the whole call (chunking, offload bookkeeping, the output object).

Medians of --rounds interleaved rounds (one call of each per round, the order rotated from round to round) after a
warm-up, under `torch.no_grad()`.
"""

import argparse
import statistics
import time
from pathlib import Path

import torch
from report import publish

from hf_genzoo.models.autoencoder import MLPAutoencoder
from hf_genzoo.pipelines import AutoencoderPipeline
from hf_genzoo.pipelines.image_io import to_model_input

HERE = Path(__file__).resolve().parent


def stages(batch_size: int) -> dict:
    """The calls to time, in order: each the one before plus one more part of the pipeline's call."""
    ae = MLPAutoencoder(in_channels=1, sample_size=28).eval()
    pipe = AutoencoderPipeline(ae)
    x = torch.rand(batch_size, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return {
        "network": lambda: ae(x),
        "+ pixels": lambda: ae.to_pixels(ae(x).sample, inplace=True),
        "+ input check": lambda: ae.to_pixels(ae(to_model_input(x, 1, 28, "cpu")).sample, inplace=True),
        "+ device and dtype": lambda: ae.to_pixels(
            ae(to_model_input(x, 1, 28, pipe._execution_device, ae.dtype)).sample, inplace=True
        ),
        "pipeline": lambda: pipe.reconstruct(x, output_type="pt"),
    }


@torch.no_grad()
def timed(calls: dict, rounds: int, warmup: int = 20) -> dict[str, float]:
    """Median seconds of each call over `rounds` interleaved rounds, the order rotated from round to round."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    names, times = list(calls), {name: [] for name in calls}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # each goes first in turn
            t = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(t) for name, t in times.items()}


def table(medians: dict[str, float], args) -> str:
    network = medians["network"]
    lines = [
        f"CPU, {torch.get_num_threads()} threads; MLP autoencoder (1 x 28 x 28, default width); batch "
        f"{args.batch_size}; medians of {args.rounds} interleaved rounds.",
        "",
        "| call | ms per batch | added (µs) | network / call |",
        "|---|---|---|---|",
    ]
    before = None
    for name, seconds in medians.items():
        added = "" if before is None else f"{(seconds - before) * 1e6:+,.0f}"
        lines.append(f"| {name} | {seconds * 1e3:.3f} | {added} | {network / seconds:.2f}x |")
        before = seconds
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=600, help="interleaved rounds (default: 600)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--output", default=str(HERE / "results" / "pipeline_parts.md"))
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    medians = timed(stages(args.batch_size), args.rounds)
    publish(table(medians, args), medians, args.output, "pipeline_parts" if args.update_readme else None)


if __name__ == "__main__":
    main()
