"""Training speed with 2 processes against 1, the same global batch, on this machine's CPUs.

    python benchmarks/multiprocess_throughput.py --update_readme      # conv_autoencoder on fashion_mnist
    python benchmarks/multiprocess_throughput.py --quick              # digits, a few steps: checks that it runs

One process with --batch_size images a step and all the cores (`python scripts/train.py`), against two processes
with half the batch each and the cores split between them (`ACCELERATE_USE_CPU=true torchrun --standalone
--nproc_per_node 2 scripts/train.py`, gloo all-reduce of the gradients). Both run the same steps on the same data
order (tests/test_reliability.py checks that they train the same weights); images/s is the loop's own measure
(global images after WARMUP_STEPS warm-up steps, evaluations excluded). --rounds rounds in alternating order;
medians.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from report import publish

from hf_genzoo.trilemma_bench import device_name

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def images_per_second(processes: int, args, out: Path) -> float:
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
        if processes > 1
        else [sys.executable]
    )
    threads = max(1, (os.cpu_count() or 1) // processes)
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": str(threads)}
    command = launcher + [
        "scripts/train.py",
        *f"--model {args.model} --dataset {args.dataset} --max_steps {args.steps} --checkpointing_steps 0 "
        f"--report_to none --eval_batches 1 --overwrite_output_dir --output_dir {out}".split(),
        "--batch_size",
        str(args.batch_size // processes),
        *(["--model_config", args.model_config] if args.model_config else []),
    ]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-12000:]}")
    return json.loads((out / "metrics.json").read_text())["train_images_per_second"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="conv_autoencoder")
    parser.add_argument("--model_config", default="")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--batch_size", type=int, default=128, help="the global batch (default: 128)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps per run, warm-up included")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output", default=str(HERE / "results" / "multiprocess_throughput.md"))
    args = parser.parse_args()
    if args.quick:
        args.dataset, args.steps, args.rounds, args.batch_size = "digits", 15, 1, 32
    work = Path(tempfile.mkdtemp(prefix="genzoo-mp-"))
    speeds = {1: [], 2: []}
    for r in range(args.rounds):
        for processes in (1, 2) if r % 2 == 0 else (2, 1):
            speeds[processes].append(images_per_second(processes, args, work / f"p{processes}"))
            print(processes, speeds[processes][-1], flush=True)
    one = statistics.median(speeds[1])
    lines = [
        f"`{args.model}` on `{args.dataset}`, global batch {args.batch_size}, {args.steps} steps a run, "
        f"{args.rounds} rounds, medians; {device_name()}, {os.cpu_count()} cores, torch {torch.__version__}.",
        "",
        "| processes | threads each | images/s | / 1 process |",
        "|---|---|---|---|",
    ]
    for processes, values in speeds.items():
        median = statistics.median(values)
        threads = max(1, (os.cpu_count() or 1) // processes)
        lines.append(f"| {processes} | {threads} | {median:.0f} | {median / one:.2f}x |")
    publish("\n".join(lines), speeds, args.output, "multiprocess_throughput" if args.update_readme else None)


if __name__ == "__main__":
    main()
