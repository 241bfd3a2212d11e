"""What a resumable checkpoint costs, per family: its size on disk and the seconds to write it.

    python benchmarks/checkpoints.py --update_readme            # every family, its recipe's model, fashion_mnist
    python benchmarks/checkpoints.py --quick                    # digits, tiny models: checks that it runs

Each family trains --steps steps with a checkpoint after every one (`--checkpointing_steps 1`, the newest
--steps kept); the write of each checkpoint is timed (accelerate's `save_state` of the models, optimizers, LR
schedulers, RNG states and the family's extra state such as an EMA, written under a temporary name and renamed
when complete). Median seconds over the writes; size of the last checkpoint. text2image checkpoints only its UNet
(its VAE and text encoder are frozen; `genzoo train text2image` first makes them in --steps steps, untimed).
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from report import publish

import hf_genzoo.training.loop as loop
from hf_genzoo.registry import families
from hf_genzoo.training import make_config, train
from hf_genzoo.trilemma_bench import device_name

HERE = Path(__file__).resolve().parent


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--families", default=",".join(families()), help="comma-separated (default: all)")
    parser.add_argument("--steps", type=int, default=3, help="training steps, one checkpoint after each")
    parser.add_argument("--quick", action="store_true", help="digits, each family's tiny config")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output", default=str(HERE / "results" / "checkpoints.md"))
    args = parser.parse_args()
    if args.quick:
        args.dataset = "digits"
    work = Path(tempfile.mkdtemp(prefix="genzoo-ckpt-"))
    seconds: list[float] = []
    save = loop._save_checkpoint

    def timed(*a, **kw):
        start = time.perf_counter()
        path = save(*a, **kw)
        seconds.append(time.perf_counter() - start)
        return path

    loop._save_checkpoint = timed
    common = dict(dataset=args.dataset, max_steps=args.steps, batch_size=32, report_to="none", eval_batches=1)
    rows = []
    for family in args.families.split(","):
        tiny = {"model_config": families()[family].tiny.model_config} if args.quick else {}
        seconds.clear()
        out = work / f"{family}-run"
        cfg = make_config(
            family, **common, **tiny, checkpointing_steps=1, checkpoints_total_limit=args.steps, output_dir=str(out)
        )
        model = train(cfg)  # text2image first trains its VAE and CLIP (--steps steps, no checkpoints, not timed)
        newest = loop.complete_checkpoints(model.output_dir)[-1]
        weights = sum(p.stat().st_size for p in newest.glob("*.safetensors")) / 2**20
        rows.append(
            {
                "family": family,
                "checkpoint_mb": folder_mb(newest),
                "weights_mb": weights,
                "seconds": statistics.median(seconds),
                "writes": len(seconds),
            }
        )
        print(rows[-1], flush=True)
    lines = [
        f"`{args.dataset}`, each family's {'tiny' if args.quick else 'recipe'} model, on {device_name()} "
        f"(torch {torch.__version__}); median of {args.steps} writes. MB = 2^20 bytes; the weights are the "
        f"`.safetensors` files, the rest optimizer state (AdamW: two moments per trained parameter), EMA and RNG.",
        "",
        "| family | checkpoint MB | of which weights | seconds to write |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['family']} | {r['checkpoint_mb']:.2f} | {r['weights_mb']:.2f} | {r['seconds']:.3f} |" for r in rows
    ]
    publish("\n".join(lines), rows, args.output, "checkpoints" if args.update_readme else None)


if __name__ == "__main__":
    main()
