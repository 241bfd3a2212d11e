"""GPU smoke check: a few hundred bf16 steps of every family on CUDA, then sampling, timed against a bare loop.

    python benchmarks/gpu_smoke.py --steps 300 --mixed_precision bf16
    python benchmarks/gpu_smoke.py --steps 300 --mixed_precision bf16 --compile   # and torch.compile against eager
    python benchmarks/gpu_smoke.py --quick        # every family's tiny config on digits, CPU or GPU: checks it runs
                                                  # (2 timed steps: its images/s are no measurement)

Not a quality benchmark: it shows that each family trains through the one loop under mixed
precision on a GPU, loads back with `from_pretrained`, and samples; and how fast each goes. Beside each
`train()` run, the same model, data, batch and precision in a bare PyTorch loop (benchmarks/bare_loop.py: no
accelerate, tracker, progress bar or per-step checks) on the same card: `train() / bare` is what the loop's
machinery costs. With --compile each family trains again, in both loops, with its models `torch.compile`d
(inductor, each model's `nn.Module.compile` in place, as `train()` does): `compiled / eager` is what compiling gives.
Writes a Markdown table to --output (and, with --update_readme, into its docs page, docs/measured/gpu.md).
"""

import argparse
import dataclasses
import gc
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from bare_loop import bare_loop
from report import publish

from hf_genzoo.errors import MissingPackage
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.memory import PeakMemory
from hf_genzoo.registry import families
from hf_genzoo.training import make_config, train
from hf_genzoo.training.loop import WARMUP_STEPS

BATCH = 256  # of training and sampling (--batch_size); --quick: QUICK_BATCH
QUICK_BATCH = 16
PRECISION = {"no": "fp32"}  # how the table names --mixed_precision no
QUICK_STEPS = WARMUP_STEPS + 2  # the shortest run with a timed window after the warm-up steps
FAST = {"scheduler": "dpmsolver++", "steps": 20}  # where a family samples with these options: the fast solver


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


@torch.no_grad()
def sampling_images_per_second(pipe, family, images: torch.Tensor, batch: int = BATCH, repeats: int = 3) -> float:
    """Images/s of the pipeline's main use at `batch`: sampling (a diffusion model with DPM-Solver++ in 20 steps;
    benchmarks/ddpm_sampling.py times the samplers), else its `transform` (a reconstruction, labels)."""
    options = {k: v for k, v in FAST.items() if k in family.sample_options}

    def once():
        if family.generative:
            return family.sample(pipe, batch, torch.Generator(device=pipe.device).manual_seed(0), **options)
        return family.transform(pipe, images)

    once()  # warm-up
    times = []
    for _ in range(repeats):
        _sync()
        t = time.perf_counter()
        once()
        _sync()
        times.append(time.perf_counter() - t)
    return batch / sorted(times)[len(times) // 2]


def device_name() -> str:
    """The card's name, or the CPU's and how many threads torch uses on it."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def peak_mib(mem: PeakMemory) -> float:
    """A block's peak memory: on CUDA the most its tensors held (weights included); on the CPU what it added to the
    process's resident set (the process's own libraries would swamp its peak)."""
    return mem.peak_mib if mem.method == "cuda" else mem.delta_mib


def _release() -> None:
    """Free what the last run held, so that the next one starts from the same memory."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_family(name: str, args, work: Path) -> dict:
    """`train()` and the bare loop on one family (and both compiled, with --compile), then sampling from the
    pipeline that `train()` saved. Raises `MissingPackage` where the family's data needs a missing system package."""
    record = families()[name]
    cfg = make_config(
        name,
        dataset=record.objective.recipe.get("dataset", args.dataset),  # a family with data of its own kind trains on it
        max_steps=args.steps,
        batch_size=args.batch_size,
        report_to="none",
        mixed_precision=args.mixed_precision,
        checkpointing_steps=0,
        eval_batches=8,
        output_dir=str(work / name),
        **({"model_config": record.tiny.model_config} if args.quick else {}),
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t = time.perf_counter()
    with PeakMemory(device) as train_memory:
        result = train(cfg)
    wall = time.perf_counter() - t
    _release()
    cfg = record.objective.prepare(cfg)  # what train() prepared, reused (text2image: the parts it trained)
    bare = bare_loop(cfg).images_per_second
    _release()
    row = {
        "family": name,
        "steps": result.steps,
        "train_images_per_s": result.images_per_second,
        "bare_images_per_s": bare,
        "train_over_bare": result.images_per_second / bare,
    }
    if args.compile:
        compiled = dataclasses.replace(cfg, compile=True, output_dir=str(work / f"{name}-compiled"))
        row["compiled_train_images_per_s"] = train(compiled).images_per_second
        _release()
        row["compiled_bare_images_per_s"] = bare_loop(compiled).images_per_second
        _release()
        row["train_compiled_over_eager"] = row["compiled_train_images_per_s"] / result.images_per_second
        row["bare_compiled_over_eager"] = row["compiled_bare_images_per_s"] / bare
    pipe = load_pipeline(str(result.output_dir)).to(device)
    pipe.set_progress_bar_config(disable=True)
    images = None if record.generative else record.example_inputs(pipe, args.batch_size)  # what a transform takes
    images = images.to(pipe.device) if isinstance(images, torch.Tensor) else images
    with PeakMemory(device) as sample_memory:
        row["sample_images_per_s"] = sampling_images_per_second(pipe, record, images, args.batch_size)
    row.update(
        wall_s=wall,
        train_peak_mib=peak_mib(train_memory),
        sample_peak_mib=peak_mib(sample_memory),
        metrics=result.metrics,
    )
    return row


def table(rows: list[dict], args) -> str:
    compiled = (
        " train() compiled images/s | bare compiled images/s | compiled / eager: train() | compiled / eager: bare |"
        if args.compile
        else ""
    )
    columns = 9 + 4 * args.compile
    precision = PRECISION.get(args.mixed_precision, args.mixed_precision)
    lines = [
        f"{device_name()}, {args.dataset}, batch {args.batch_size}, {precision}, {args.steps} steps per family "
        f"(images/s after the first {WARMUP_STEPS}; peak MiB: "
        f"{'the most memory tensors held' if torch.cuda.is_available() else 'what it added to the resident set'})",
        "",
        f"| family | train() images/s | bare loop images/s | train() / bare |{compiled} "
        "wall s (train(), incl. data, eval, save) | sampling images/s | train() peak MiB | sampling peak MiB | "
        "held-out metrics |",
        "|" + "---|" * columns,
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['family']} | skipped: {r['skipped']} |" + " |" * (columns - 2))
            continue
        cells = [
            r["family"],
            f"{r['train_images_per_s']:,.0f}",
            f"{r['bare_images_per_s']:,.0f}",
            f"{r['train_over_bare']:.2f}",
        ]
        if args.compile:
            cells += [
                f"{r['compiled_train_images_per_s']:,.0f}",
                f"{r['compiled_bare_images_per_s']:,.0f}",
                f"{r['train_compiled_over_eager']:.2f}",
                f"{r['bare_compiled_over_eager']:.2f}",
            ]
        metrics = ", ".join(f"{k} {v:.3g}" for k, v in r["metrics"].items())
        cells += [f"{r['wall_s']:.1f}", f"{r['sample_images_per_s']:,.0f}"]
        cells += [f"{r['train_peak_mib']:,.0f}", f"{r['sample_peak_mib']:,.0f}", metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(families()))
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--mixed_precision", default="bf16")
    parser.add_argument("--batch_size", type=int, default=BATCH, help="of training and of each timed sampling call")
    parser.add_argument("--compile", action="store_true", help="also train each family compiled, in both loops")
    parser.add_argument("--output", default="gpu_smoke.md")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"digits, each family's tiny config, batch {QUICK_BATCH}, {QUICK_STEPS} steps ({WARMUP_STEPS} warm-up, "
        "2 timed), fp32",
    )
    args = parser.parse_args()
    if args.quick:
        args.dataset, args.steps, args.mixed_precision = "digits", QUICK_STEPS, "no"
        args.batch_size = QUICK_BATCH
    work = Path(tempfile.mkdtemp(prefix="genzoo-gpu-"))
    rows = []
    for name in args.families.split(","):
        try:
            rows.append(run_family(name, args, work))
        except MissingPackage as err:  # e.g. the embedded speech set without espeak-ng: say so, go on
            rows.append({"family": name, "skipped": str(err)})
        print(json.dumps(rows[-1]), flush=True)
    publish(table(rows, args), rows, args.output, "gpu_smoke" if args.update_readme else None)


if __name__ == "__main__":
    main()
