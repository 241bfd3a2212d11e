"""The generative learning trilemma on one dataset: quality, coverage and speed of every model, one table, one plot.

    python benchmarks/trilemma.py --update_readme                    # fashion_mnist, 10k samples, default recipes
    python benchmarks/trilemma.py --num_samples 1000 --epochs ddpm=2  # a shorter budget (say so when quoting)
    python benchmarks/trilemma.py --models ddpm=user/ddpm-fashion     # score given models (folders or Hub ids)
    python benchmarks/trilemma.py --quick                            # digits, tiny models: checks that it runs

Models missing from --models are trained with their default recipes (or --epochs) into --work_dir and reused by the
next run; so is the feature classifier. What each column means: `hf_genzoo/trilemma.py` (also `genzoo bench`).
Writes benchmarks/results/trilemma.md (+ .json), trilemma.png (FD_local against time per image, marker size =
recall) and a sample grid per row in benchmarks/results/trilemma/.
"""

import argparse
from pathlib import Path

from hf_genzoo.trilemma import add_arguments, bench, plot, slug
from report import publish

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--update_readme", action="store_true")
    parser.add_argument("--output_dir", default=str(HERE / "results"))
    args = parser.parse_args()
    rows, text = bench(args)
    out = Path(args.output_dir)
    plot(rows, out / "trilemma.png")
    text += "\n\n![FD_local against sampling time per image](benchmarks/results/trilemma.png)"
    raw = [{"name": r.name, "nfe": r.nfe, "bits_per_dim": r.bits_per_dim, "grid": f"trilemma/{slug(r.name)}.png",
            **r.scores} for r in rows]  # fmt: skip
    publish(text, raw, out / "trilemma.md", "trilemma" if args.update_readme else None)


if __name__ == "__main__":
    main()
