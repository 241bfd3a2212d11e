"""`genzoo demo`: the 1-minute tour; the classic autoencoder on the bundled digits, against PCA."""

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA

from ..data import load_images
from ..metrics import r2_score
from ..training import make_config, train
from .embed import embed_command


def demo_command_parser(subparsers):
    p = subparsers.add_parser("demo", help="train the classic autoencoder on the bundled digits and draw the results")
    p.add_argument("--output_dir", default="genzoo-demo", help="where everything goes (default: genzoo-demo)")
    p.add_argument("--epochs", type=int, default=150, help="passes over the 1,437 training digits (default: 150)")
    p.add_argument(
        "--hidden_dim", type=int, default=128, help="first layer width h; the code has h/8 dims (default: 128)"
    )
    p.set_defaults(func=demo_command)
    return p


def demo_command(args) -> None:
    """Train the classic MLP autoencoder on the bundled digits and write what a person wants to see."""
    out = Path(args.output_dir)
    cfg = make_config(
        "mlp_autoencoder",
        dataset="digits",
        output_dir=str(out),
        epochs=args.epochs,
        batch_size=64,
        model_config=f"hidden_dim={args.hidden_dim}",
        checkpointing_steps=0,
        log_every=100,
    )
    result = train(cfg)
    ns = argparse.Namespace(
        model=str(out),
        dataset="digits",
        split="test",
        image_column=None,
        label_column=None,
        skip_bad_files=False,
        num_images=None,
        no_labels=False,
        max_thumbnails=250,
        output_dir=str(out),
    )
    embed_command(ns)
    # The baseline a reader should compare with: PCA with as many components as the code has dimensions.
    k = args.hidden_dim // 8
    train_x = np.asarray(load_images("digits", "train").images, dtype=np.float64).reshape(-1, 64) / 255
    test_x = np.asarray(load_images("digits", "test").images, dtype=np.float64).reshape(-1, 64) / 255
    pca = PCA(n_components=k).fit(train_x)
    pca_r2 = r2_score(torch.from_numpy(pca.inverse_transform(pca.transform(test_x))), torch.from_numpy(test_x))
    print(f"\nheld-out R^2: autoencoder ({k}-d code) {result.metrics['r2']:.3f} | PCA with {k} components {pca_r2:.3f}")
    print(
        f"look at: {out / 'reconstructions.png'}, {out / 'embedding.png'}, {out / 'samples'}/; "
        f"pipeline: AutoencoderPipeline.from_pretrained({str(out)!r})"
    )
