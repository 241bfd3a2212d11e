"""Autoencoders against PCA at equal code size, and our loop's speed against a plain PyTorch loop.

    python benchmarks/autoencoder_r2.py                  # fashion_mnist, 10 epochs (~15 min on 2 CPU cores)
    python benchmarks/autoencoder_r2.py --quick          # digits, 2 epochs: checks the script runs

Writes benchmarks/results/autoencoder_r2.md and replaces the table between the
`<!-- autoencoder_r2 -->` markers in README.md (with --update_readme).

Quality: held-out R^2 (1 - residual variance / variance, scikit-learn's variance_weighted) of
  - PCA with k components fit on the training split (k = 2, 16, 64),
  - MLPAutoencoder (the classic 784-512-256-k-256-512-784) and ConvAutoencoder with a k-d code,
    each trained by `hf_genzoo.training.train` for --epochs with the default recipe,
  - the MLP autoencoder trained as a denoiser (gaussian:0.3), R^2 of its output and of its noisy input.
Speed: training images/s of `train()` against a minimal plain PyTorch loop on the same model,
data (in RAM) and batch size, alternated --speed_repeats times in one run; medians and their ratio.
"""

import argparse
import json
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA

from hf_genzoo.data import load_images
from hf_genzoo.metrics import r2_score
from hf_genzoo.models import MLPAutoencoder
from hf_genzoo.training import make_config, train
from hf_genzoo.training.loop import WARMUP_STEPS

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
    cfg = make_config(model, dataset=dataset, epochs=epochs, output_dir=str(workdir / f"{model}-{kw}"),
                      checkpointing_steps=0, eval_every_epochs=epochs, report_to="none", **kw)  # fmt: skip
    return train(cfg).metrics


def plain_loop_images_per_second(data, steps: int, batch_size: int, model_config: dict, fused: bool) -> float:
    """The baseline: the same model and data in a 15-line PyTorch loop, nothing else; timed, like `train()`,
    after WARMUP_STEPS steps."""
    torch.manual_seed(0)
    mean, std = data.channel_stats()
    model = MLPAutoencoder(in_channels=data.channels, sample_size=data.resolution, mean=mean, std=std, **model_config)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0, fused=fused)
    x_all = torch.from_numpy(np.array(data.images))  # (N, C, H, W) uint8 in RAM
    g = torch.Generator().manual_seed(0)
    for step in range(steps + WARMUP_STEPS):
        if step == WARMUP_STEPS:
            start = time.perf_counter()
        idx = torch.randint(0, len(x_all), (batch_size,), generator=g)
        x = x_all[idx].float() / 255
        out = model(x)
        loss = F.mse_loss(out.sample, out.normed)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch_size / (time.perf_counter() - start)


def ours_images_per_second(dataset: str, steps: int, batch_size: int, model_config: str, workdir: Path) -> float:
    cfg = make_config("mlp_autoencoder", dataset=dataset, max_steps=steps, batch_size=batch_size,
                      model_config=model_config, output_dir=str(workdir / "speed"), checkpointing_steps=0,
                      eval_batches=1)  # fmt: skip  (tracker and progress bar on, as a user runs it)
    return train(cfg).images_per_second


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--codes", default="2,16,64", help="code sizes k")
    parser.add_argument("--speed_steps", type=int, default=1000, help="timed optimizer steps per speed measurement")
    parser.add_argument("--speed_repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="digits, 2 epochs, small speed runs")
    parser.add_argument("--update_readme", action="store_true")
    parser.add_argument("--output", default=str(HERE / "results" / "autoencoder_r2.md"))
    args = parser.parse_args()
    if args.quick:
        args.dataset, args.epochs, args.codes, args.speed_steps, args.speed_repeats = "digits", 2, "2,16", 20, 1
    ks = [int(k) for k in args.codes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="genzoo-bench-"))

    train_data, test_data = load_images(args.dataset, "train"), load_images(args.dataset, "test")
    flat = lambda d: np.asarray(d.images, dtype=np.float64).reshape(len(d), -1) / 255  # noqa: E731
    t0 = time.perf_counter()
    rows = {"PCA": pca_r2(flat(train_data), flat(test_data), ks)}
    print(f"PCA done in {time.perf_counter() - t0:.0f}s: {rows['PCA']}")
    rows["MLPAutoencoder"], rows["ConvAutoencoder"] = {}, {}
    for k in ks:
        rows["MLPAutoencoder"][k] = train_ae("mlp_autoencoder", args.dataset, args.epochs, workdir,
                                             model_config=f"hidden_dim=512,latent_dim={k}")["r2"]  # fmt: skip
        conv = f"block_out_channels=(32, 64),hidden_dim=256,latent_dim={k}"
        rows["ConvAutoencoder"][k] = train_ae("conv_autoencoder", args.dataset, args.epochs, workdir, model_config=conv)["r2"]
        print({name: r.get(k) for name, r in rows.items()})
    k_dae = max(ks)
    dae = train_ae("mlp_autoencoder", args.dataset, args.epochs, workdir, noise="gaussian:0.3",
                   model_config=f"hidden_dim=512,latent_dim={k_dae}")  # fmt: skip

    # Speed: alternate ours and plain so machine noise hits both alike; medians. The plain loop runs twice:
    # with the fused AdamW that train() uses (the loop's own overhead) and with AdamW's default kernel.
    ours, plain, plain_default = [], [], []
    model_config = {"hidden_dim": 512, "latent_dim": 64}
    runs = [
        lambda: ours.append(ours_images_per_second(args.dataset, args.speed_steps, 128, "hidden_dim=512,latent_dim=64",
                                                   workdir)),
        lambda: plain.append(plain_loop_images_per_second(train_data, args.speed_steps, 128, model_config, fused=True)),
        lambda: plain_default.append(plain_loop_images_per_second(train_data, args.speed_steps, 128, model_config,
                                                                  fused=False)),
    ]  # fmt: skip
    for repeat in range(args.speed_repeats):
        for i in range(len(runs)):  # rotate the order: no loop always runs first (or after the same one)
            runs[(i + repeat) % len(runs)]()
    ratio = statistics.median(ours) / statistics.median(plain)
    ratio_default = statistics.median(ours) / statistics.median(plain_default)

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
        "",
        f"Training throughput, MLPAutoencoder k = 64, batch 128, {args.speed_steps} timed steps after "
        f"{WARMUP_STEPS} warm-up steps, {args.speed_repeats} rounds in rotating order, medians "
        f"({platform.machine()}, {torch.get_num_threads()} threads):",
        "",
        "| loop | images/s | ours / it |",
        "|---|---|---|",
        f"| `hf_genzoo.training.train` (fused AdamW, tracker and progress bar on) | {statistics.median(ours):,.0f} | |",
        f"| plain PyTorch loop, same fused AdamW | {statistics.median(plain):,.0f} | **{ratio:.2f}x** |",
        f"| plain PyTorch loop, AdamW's default kernel | {statistics.median(plain_default):,.0f} | {ratio_default:.2f}x |",
    ]
    table = "\n".join(lines)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    (out.with_suffix(".json")).write_text(json.dumps({"r2": {n: {str(k): v for k, v in r.items()} for n, r in rows.items()},
                                                      "denoising": dae, "ours_images_per_s": ours,
                                                      "plain_images_per_s": plain,
                                                      "plain_default_adamw_images_per_s": plain_default},
                                                     indent=2))  # fmt: skip
    print(table)
    if args.update_readme:
        readme = HERE.parent / "README.md"
        text = readme.read_text()
        new = re.sub(r"<!-- autoencoder_r2 -->.*<!-- /autoencoder_r2 -->",
                     f"<!-- autoencoder_r2 -->\n{table}\n<!-- /autoencoder_r2 -->", text, flags=re.S)  # fmt: skip
        readme.write_text(new)


if __name__ == "__main__":
    main()
