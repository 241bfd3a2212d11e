"""VAE, GAN and normalizing flow on the same data: likelihoods, sample grids, sampling speed.

    python benchmarks/families.py --update_readme                       # fashion_mnist, default recipes
    python benchmarks/families.py --epochs vae=5,gan=2,flow=3           # a shorter budget (say so when quoting)
    python benchmarks/families.py --quick                               # digits, a few steps: checks it runs

Each family is trained by `hf_genzoo.training.train` with its default recipe (`genzoo train NAME
--help` shows it) for the given epochs, then loaded back with `from_pretrained` and measured:
  - VAE: test negative ELBO in nats per image and bits/dim (the model's own likelihood; see its card);
  - flow: exact test negative log-likelihood in bits/dim (uniform dequantization, 256 levels);
  - GAN: no likelihood; the sample grid and the generator's own held-out statistics;
  - all: sampling throughput, images/s at batch 256, median of 5 timed batches after a warm-up.
Sample grids go to benchmarks/results/families/; the table to benchmarks/results/families.md and
(with --update_readme) between the `<!-- families -->` markers of README.md.
"""

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.training import OBJECTIVES, make_config, train
from hf_genzoo.viz import save_grid
from report import publish

HERE = Path(__file__).resolve().parent
FAMILIES = ("vae", "gan", "flow")
BATCH = 256


def parse_epochs(spec: str) -> dict[str, int | None]:
    out = dict.fromkeys(FAMILIES)
    for part in filter(None, spec.split(",")):
        name, _, value = part.partition("=")
        if name not in out:
            raise SystemExit(f"--epochs: unknown family {name!r}; use {', '.join(FAMILIES)}")
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
    parser.add_argument("--families", default=",".join(f for f in FAMILIES if f in OBJECTIVES))
    parser.add_argument("--quick", action="store_true", help="digits and a few steps")
    parser.add_argument("--update_readme", action="store_true")
    parser.add_argument("--output_dir", default=str(HERE / "results"))
    args = parser.parse_args()
    epochs = parse_epochs(args.epochs)
    out = Path(args.output_dir)
    (out / "families").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="genzoo-families-"))
    rows = []
    for family in args.families.split(","):
        extra = {"max_steps": 5} if args.quick else ({"epochs": epochs[family]} if epochs[family] else {})
        cfg = make_config(family, dataset="digits" if args.quick else args.dataset, output_dir=str(work / family),
                          checkpointing_steps=0, report_to="none", **extra)  # fmt: skip
        t = time.perf_counter()
        result = train(cfg)
        minutes = (time.perf_counter() - t) / 60
        pipe = load_pipeline(str(result.output_dir))
        grids = {}
        temps = (0.7, 1.0) if family == "flow" else (None,)
        for temp in temps:
            kw = {} if temp is None else {"temperature": temp}
            g = torch.Generator().manual_seed(0)
            grid = pipe(64, generator=g, output_type="pt", **kw).images
            name = f"{family}{'' if temp is None else f'_t{temp}'}.png"
            save_grid(grid, out / "families" / name, ncols=8)
            grids[temp] = name
        speed = images_per_second(lambda: pipe(BATCH, generator=torch.Generator().manual_seed(1), output_type="pt"))
        m = result.metrics
        likelihood = {"vae": f"{m.get('bits_per_dim', float('nan')):.3f} (ELBO bound; {m.get('nelbo', 0):.1f} nats)",
                      "flow": f"{m.get('bits_per_dim', float('nan')):.3f} (exact)", "gan": "n/a"}[family]  # fmt: skip
        rows.append({"family": family, "epochs": cfg.epochs if cfg.max_steps is None else None, "steps": result.steps,
                     "train_minutes": minutes, "likelihood": likelihood, "sampling_images_per_s": speed,
                     "metrics": m, "history": result.history, "grids": grids})  # fmt: skip
        print(json.dumps(rows[-1], default=str), flush=True)

    lines = [
        f"`{'digits' if args.quick else args.dataset}` test split; trained on {platform.machine()} CPU "
        f"({torch.get_num_threads()} threads), fp32, recipe defaults except the epochs above; sampling at batch {BATCH}.",
        "",
        "| model | epochs (steps) | train min | test bits/dim | sampling images/s | samples |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        pics = " ".join(f"![{r['family']} {t or ''}](benchmarks/results/families/{n})" for t, n in r["grids"].items())
        lines.append(f"| {r['family']} | {r['epochs']} ({r['steps']}) | {r['train_minutes']:.1f} | {r['likelihood']} | "
                     f"{r['sampling_images_per_s']:,.0f} | {pics} |")  # fmt: skip
    publish("\n".join(lines), rows, out / "families.md", "families" if args.update_readme else None)


if __name__ == "__main__":
    main()
