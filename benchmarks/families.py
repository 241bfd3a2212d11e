"""The one-step generative families on the same data: likelihoods, sample grids, sampling speed.

    python benchmarks/families.py --update_readme                       # fashion_mnist, default recipes
    python benchmarks/families.py --epochs vae=5,gan=2,flow=3           # a shorter budget (say so when quoting)
    python benchmarks/families.py --quick                               # digits, a few steps: checks it runs

By default every registered generative family that samples in one network evaluation (today the VAE, the GAN and
the flow; diffusion has its own benchmarks). Each is trained by `hf_genzoo.training.train` with its default
recipe (`genzoo train NAME --help` shows it) for the given epochs, loaded back with `from_pretrained`, and
measured through its own trilemma rows (`Family.trilemma_rows`): a sample grid per row (the flow's two
temperatures), the test bits/dim where a row has one (the VAE's ELBO bound, the flow's exact likelihood), and the
sampling throughput of its first row, images/s at batch 256, median of 5 timed batches after a warm-up.
Sample grids go to benchmarks/results/families/; the table to benchmarks/results/families.md and
(with --update_readme) between the `<!-- families -->` markers of its docs page.
"""

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from report import publish

from hf_genzoo.data import load_images
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.registry import families
from hf_genzoo.training import make_config, train
from hf_genzoo.trilemma import Context, slug
from hf_genzoo.viz import save_grid

HERE = Path(__file__).resolve().parent
ONE_STEP = [name for name, f in families().items() if f.generative and f.nfe == 1 and f.trilemma_rows]
BATCH = 256


def parse_epochs(spec: str) -> dict[str, int | None]:
    out = dict.fromkeys(ONE_STEP)
    for part in filter(None, spec.split(",")):
        name, _, value = part.partition("=")
        if name not in out:
            raise SystemExit(f"--epochs: unknown family {name!r}; use {', '.join(ONE_STEP)}")
        out[name] = int(value)
    return out


@torch.no_grad()
def images_per_second(sample, repeats: int = 5) -> float:
    sample()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sample()
        times.append(time.perf_counter() - t)
    return BATCH / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--epochs", default="", help="per-family epochs, e.g. vae=5,gan=2 (default: each recipe's)")
    parser.add_argument("--families", default=",".join(ONE_STEP))
    parser.add_argument("--quick", action="store_true", help="digits and a few steps")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output_dir", default=str(HERE / "results"))
    args = parser.parse_args()
    epochs = parse_epochs(args.epochs)
    out = Path(args.output_dir)
    (out / "families").mkdir(parents=True, exist_ok=True)
    dataset = "digits" if args.quick else args.dataset
    work = Path(tempfile.mkdtemp(prefix="genzoo-families-"))
    test, train_images = load_images(dataset, "test"), load_images(dataset, "train")
    real = {
        split: torch.from_numpy(np.array(d.images[:1000])).float() / 255
        for split, d in (("test", test), ("train", train_images))
    }
    rows = []
    for family in args.families.split(","):
        extra = {"max_steps": 5} if args.quick else ({"epochs": epochs[family]} if epochs[family] else {})
        cfg = make_config(
            family, dataset=dataset, output_dir=str(work / family), checkpointing_steps=0, report_to="none", **extra
        )
        t = time.perf_counter()
        result = train(cfg)
        minutes = (time.perf_counter() - t) / 60
        pipe = load_pipeline(str(result.output_dir))
        samplers = [
            r
            for r in families()[family].trilemma_rows(pipe, Context(real["test"], real["train"], result.metrics))
            if not r.probe
        ]
        grids = {}
        for row in samplers:
            name = f"{slug(row.name)}.png"
            save_grid(row.sample(64, torch.Generator().manual_seed(0)), out / "families" / name, ncols=8)
            grids[row.name] = name
        first = samplers[0]
        speed = images_per_second(lambda: first.sample(BATCH, torch.Generator().manual_seed(1)))  # noqa: B023
        bpd = next((r for r in samplers if r.bits_per_dim is not None), None)
        likelihood = "n/a" if bpd is None else f"{bpd.bits_per_dim:.3f} ({bpd.note})"
        rows.append(
            {
                "family": family,
                "epochs": cfg.epochs if cfg.max_steps is None else None,
                "steps": result.steps,
                "train_minutes": minutes,
                "likelihood": likelihood,
                "sampling_images_per_s": speed,
                "metrics": result.metrics,
                "history": result.history,
                "grids": grids,
            }
        )
        print(json.dumps(rows[-1], default=str), flush=True)

    lines = [
        f"`{dataset}` test split; trained on {platform.machine()} CPU "
        f"({torch.get_num_threads()} threads), fp32, recipe defaults except the epochs above; "
        f"sampling at batch {BATCH}.",
        "",
        "| model | epochs (steps) | train min | test bits/dim | sampling images/s | samples |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        pics = " ".join(f"![{row}](benchmarks/results/families/{name})" for row, name in r["grids"].items())
        lines.append(
            f"| {r['family']} | {r['epochs']} ({r['steps']}) | {r['train_minutes']:.1f} | {r['likelihood']} | "
            f"{r['sampling_images_per_s']:,.0f} | {pics} |"
        )
    publish("\n".join(lines), rows, out / "families.md", "families" if args.update_readme else None)


if __name__ == "__main__":
    main()
