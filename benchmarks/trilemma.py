"""The generative learning trilemma on one dataset: quality, coverage and speed of every model, one table, one plot.

    python benchmarks/trilemma.py --update_readme                    # fashion_mnist, 10k samples, default recipes
    python benchmarks/trilemma.py --num_samples 1000 --epochs ddpm=2  # a shorter budget (say so when quoting)
    python benchmarks/trilemma.py --models ddpm=user/ddpm-fashion     # score given models (folders or Hub ids)
    python benchmarks/trilemma.py --quick                            # digits, tiny models: checks that it runs

The rows and the scores come from `hf_genzoo.trilemma` (the same code as `genzoo bench`): every registered family
with trilemma rows, trained with its default recipe (or --epochs) into --work_dir unless --models gives it, and
reused by the next run; so is the feature classifier. This script turns the scores into the table (the best model
of each column in bold, latent probes aside), the verdict in words (the winner of each corner, the floor, and each
family's own targets, `Family.trilemma_targets`) and the plot. Writes benchmarks/results/trilemma.md (+ .json),
trilemma.png (FD_local against time per image, marker size = recall) and a sample grid per row in
benchmarks/results/trilemma/.
"""

import argparse
from pathlib import Path

from report import publish

from hf_genzoo.trilemma import Row, slug, targets
from hf_genzoo.trilemma_bench import add_arguments, bench

HERE = Path(__file__).resolve().parent
QUALITY = ["FD_local", "KID_local", "precision", "recall", "density", "coverage", "label_entropy"]
LOWER_IS_BETTER = {"FD_local", "KID_local", "FID", "KID"}


def _models(rows: list[Row]) -> list[Row]:
    """The rows that compete: models' own samplers (not the floor, not latent probes)."""
    return [r for r in rows if r.nfe is not None and not r.probe]


def rate(images_per_s: float) -> str:
    """`9,226` or, for slow samplers, three significant digits (`0.365`) rather than a rounded `0`."""
    return f"{images_per_s:,.0f}" if images_per_s >= 100 else f"{images_per_s:.3g}"


def table(rows: list[Row]) -> str:
    """The Markdown table: one line per row, the best model's value of each quality column in bold."""
    cols = QUALITY + [c for c in ("FID", "KID") if rows and c in rows[0].scores]  # with --inception_weights
    models = _models(rows)
    best = {c: (min if c in LOWER_IS_BETTER else max)(r.scores[c] for r in models) for c in cols} if models else {}
    lines = ["| model | " + " | ".join(cols) + " | NFE | images/s | bits/dim |", "|---|" + "---|" * (len(cols) + 3)]
    for r in rows:
        bold = [r in models and r.scores[c] == best.get(c) for c in cols]
        cells = [f"**{r.scores[c]:.3g}**" if b else f"{r.scores[c]:.3g}" for c, b in zip(cols, bold, strict=True)]
        speed = "" if r.scores["images_per_s"] is None else rate(r.scores["images_per_s"])
        bpd = "" if r.bits_per_dim is None else f"{r.bits_per_dim:.3f}" + (f" ({r.note})" if r.note else "")
        name = r.name if r.bits_per_dim is not None or not r.note else f"{r.name} ({r.note})"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {r.nfe or ''} | {speed} | {bpd} |")
    return "\n".join(lines)


def verdict(rows: list[Row]) -> str:
    """What the table says, in words: the winner of each corner of the trilemma, the floor, and every registered
    target these rows can be checked against (e.g. a fast diffusion sampler against its own 1000-step chain)."""
    models = _models(rows)
    if not models:
        return ""
    quality = min(models, key=lambda r: r.scores["FD_local"])
    speed = max(models, key=lambda r: r.scores["images_per_s"])
    recall = max(models, key=lambda r: r.scores["recall"])
    coverage = max(models, key=lambda r: r.scores["coverage"])
    lines = [
        f"- **Quality**: {quality.name} (FD_local {quality.scores['FD_local']:.3g}).",
        f"- **Speed**: {speed.name} ({rate(speed.scores['images_per_s'])} images/s, NFE {speed.nfe}).",
        f"- **Coverage**: {recall.name} by recall ({recall.scores['recall']:.3g}), "
        f"{coverage.name} by coverage ({coverage.scores['coverage']:.3g}).",
    ]
    floor = next((r for r in rows if r.nfe is None), None)
    if floor is not None:
        f = floor.scores
        fewer = sorted({r.scores["samples"] for r in models if r.scores.get("samples", f["samples"]) < f["samples"]})
        at_fewer = "".join(f" (FD_local {floor.fd_at(n):.3g} at {n} samples)" for n in fewer)
        lines.append(
            f"- **Floor**: {f['samples']} real test images against the training images score FD_local "
            f"{f['FD_local']:.3g}{at_fewer}, KID_local {f['KID_local']:.2g}, precision {f['precision']:.3g}, recall "
            f"{f['recall']:.3g}: what a perfect model would score with this many samples."
        )
    for target, c in targets(rows):
        lines.append(f"- **{c['row']} against {c['reference']}**: " + "; ".join(_claims(target, c)) + ".")
    return "\n".join(lines)


def _claims(target, c: dict) -> list[str]:
    """Each part of a target's check in words: the measured ratio, and whether it meets the claim."""
    met = {True: "meets", False: "misses"}
    out = []
    if "fd_ratio" in c:
        at = f" at {c['fd_samples']} samples each" if c.get("fd_samples") else ""
        out.append(
            f"FD_local x{c['fd_ratio']:.2f}{at} ({met[c['fd_met']]} the target of at most x{target.max_fd_ratio:g})"
        )
    if "time_ratio" in c:
        out.append(
            f"{100 * c['time_ratio']:.2g}% of the sampling time per image, {1 / c['time_ratio']:,.0f}x the images/s "
            f"({met[c['time_met']]} the target of under {100 * target.max_time_ratio:g}%)"
        )
    if "recall_ratio" in c:
        out.append(
            f"recall x{c['recall_ratio']:.2f} ({met[c['recall_met']]} the target of at least "
            f"x{target.min_recall_ratio:g})"
        )
    return out


def plot(rows: list[Row], path: Path) -> Path:
    """Quality (FD_local) against sampling time per image, both log scale; marker area grows with recall."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    for r in rows:
        if r.nfe is None:
            continue
        x, y = 1000 / r.scores["images_per_s"], max(r.scores["FD_local"], 1e-6)
        ax.scatter(x, y, s=40 + 600 * r.scores["recall"], alpha=0.6)
        ax.annotate(r.name, (x, y), fontsize=8, xytext=(5, 5), textcoords="offset points")
    floor = next((r for r in rows if r.nfe is None), None)
    if floor is not None:
        level = max(floor.scores["FD_local"], 1e-6)
        ax.axhline(level, color="grey", ls="--", lw=1)
        # x in axes fractions, y in data
        ax.text(
            0.01,
            level,
            " real test images (the floor)",
            fontsize=8,
            color="grey",
            va="bottom",
            transform=ax.get_yaxis_transform(),
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="sampling time per image (ms, log)",
        ylabel="FD_local (log, lower is better)",
        title="The trilemma: quality vs speed; marker size = recall (coverage)",
    )
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))  # 0.1, 1000 rather than 10^-1, 10^3
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def caption(info: dict) -> str:
    accuracy = info["classifier_accuracy"]
    return (
        f"`{info['dataset']}`, {info['num_samples']} samples per row against {info['reference_images']} training "
        f"images, features of the dataset's classifier"
        + (f" (test accuracy {accuracy:.3f})" if accuracy is not None else "")
        + f"; sampling at batch {info['batch_size']} on {info['device']}. FD_local/KID_local: lower is better; "
        f"the rest: higher."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output_dir", default=str(HERE / "results"))
    args = parser.parse_args()
    rows, info = bench(args)
    out = Path(args.output_dir)
    plot(rows, out / "trilemma.png")
    text = "\n\n".join([caption(info), table(rows), verdict(rows)])
    text += "\n\n![FD_local against sampling time per image](benchmarks/results/trilemma.png)"
    raw = [
        {
            "name": r.name,
            "nfe": r.nfe,
            "bits_per_dim": r.bits_per_dim,
            "grid": f"trilemma/{slug(r.name)}.png",
            **r.scores,
        }
        for r in rows
    ]
    publish(text, raw, out / "trilemma.md", "trilemma" if args.update_readme else None)


if __name__ == "__main__":
    main()
