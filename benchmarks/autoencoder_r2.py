"""Autoencoders against PCA at equal code size (the loop's speed: benchmarks/loop_throughput.py).

    python benchmarks/autoencoder_r2.py                  # fashion_mnist, 10 epochs (~20 min on 2 CPU cores)
    python benchmarks/autoencoder_r2.py --quick          # digits, 2 epochs: checks the script runs

Writes benchmarks/results/autoencoder_r2.md and replaces the table between the
`<!-- autoencoder_r2 -->` markers of its docs page (with --update_readme).

Quality: held-out R^2 (1 - residual variance / variance, scikit-learn's variance_weighted) of
  - PCA with k components fit on the training split (k = 2, 16, 64),
  - MLPAutoencoder (the classic 784-512-256-k-256-512-784) and ConvAutoencoder with a k-d code,
    each trained by `hf_genzoo.training.train` for --epochs with the default recipe,
  - the MLP autoencoder trained as a denoiser (gaussian:0.3), R^2 of its output and of its noisy input.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from report import publish
from sklearn.decomposition import PCA

from hf_genzoo.data import load_images
from hf_genzoo.metrics import r2_score
from hf_genzoo.training import make_config, train

HERE = Path(__file__).resolve().parent


def pca_r2(train_x: np.ndarray, test_x: np.ndarray, ks: list[int]) -> dict[int, float]:
    """PCA is nested: one fit with max(ks) components gives every smaller k exactly."""
    pca = PCA(n_components=max(ks), svd_solver="full").fit(train_x)
    out, centred = {}, test_x - pca.mean_
    for k in ks:
        comps = pca.components_[:k]  # (k, D)
        recon = centred @ comps.T @ comps + pca.mean_
        out[k] = r2_score(torch.from_numpy(recon), torch.from_numpy(test_x))
    return out


def train_ae(model: str, dataset: str, epochs: int, workdir: Path, **kw) -> dict:
    cfg = make_config(
        model,
        dataset=dataset,
        epochs=epochs,
        output_dir=str(workdir / f"{model}-{kw}"),
        checkpointing_steps=0,
        eval_every_epochs=epochs,
        report_to="none",
        **kw,
    )
    return train(cfg).metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--codes", default="2,16,64", help="code sizes k")
    parser.add_argument("--quick", action="store_true", help="digits, 2 epochs: checks the script runs")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output", default=str(HERE / "results" / "autoencoder_r2.md"))
    args = parser.parse_args()
    if args.quick:
        args.dataset, args.epochs, args.codes = "digits", 2, "2,16"
    ks = [int(k) for k in args.codes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="genzoo-bench-"))

    train_data, test_data = load_images(args.dataset, "train"), load_images(args.dataset, "test")
    flat = lambda d: np.asarray(d.images, dtype=np.float64).reshape(len(d), -1) / 255  # noqa: E731
    t0 = time.perf_counter()
    rows = {"PCA": pca_r2(flat(train_data), flat(test_data), ks)}
    print(f"PCA done in {time.perf_counter() - t0:.0f}s: {rows['PCA']}")
    rows["MLPAutoencoder"], rows["ConvAutoencoder"] = {}, {}
    for k in ks:
        rows["MLPAutoencoder"][k] = train_ae(
            "mlp_autoencoder", args.dataset, args.epochs, workdir, model_config=f"hidden_dim=512,latent_dim={k}"
        )["r2"]
        conv = f"block_out_channels=(32, 64),hidden_dim=256,latent_dim={k}"
        rows["ConvAutoencoder"][k] = train_ae(
            "conv_autoencoder", args.dataset, args.epochs, workdir, model_config=conv
        )["r2"]
        print({name: r.get(k) for name, r in rows.items()})
    k_dae = max(ks)
    dae = train_ae(
        "mlp_autoencoder",
        args.dataset,
        args.epochs,
        workdir,
        noise="gaussian:0.3",
        model_config=f"hidden_dim=512,latent_dim={k_dae}",
    )

    lines = [
        f"Held-out R^2 on `{args.dataset}` (test split), {args.epochs} epochs, batch 128, Adam 1e-3; "
        f"PCA fit on the training split.",
        "",
        "| model | " + " | ".join(f"k = {k}" for k in ks) + " |",
        "|---|" + "---|" * len(ks),
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[k]:.3f}" for k in ks) + " |")
    lines += [
        "",
        f"Denoising MLPAutoencoder (k = {k_dae}, input + N(0, 0.3^2) clipped): R^2 of its output "
        f"{dae['r2']:.3f}, of its noisy input {dae['r2_noisy_input']:.3f}.",
    ]
    raw = {"r2": {n: {str(k): v for k, v in r.items()} for n, r in rows.items()}, "denoising": dae}
    publish("\n".join(lines), raw, args.output, "autoencoder_r2" if args.update_readme else None)


if __name__ == "__main__":
    main()
