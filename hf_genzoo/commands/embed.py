"""`genzoo embed`: the PCA map of a model's codes (thumbnails coloured by label) and a reconstruction grid."""

from pathlib import Path

import torch

from ..viz import embedding_plot, save_grid
from .common import add_data_args, load_pipeline_and_data, require_encoder


def embed_command_parser(subparsers):
    p = subparsers.add_parser("embed", help="PCA of the codes as a thumbnail scatter plot, plus a reconstruction grid")
    add_data_args(p)
    p.add_argument("--num_images", type=int, default=2000, help="how many images to embed (default: 2000)")
    p.add_argument("--max_thumbnails", type=int, default=400, help="thumbnails drawn (the rest are dots; default: 400)")
    p.add_argument("--no_labels", action="store_true", help="do not colour points by label")
    p.add_argument("--output_dir", default=".", help="where embedding.png and reconstructions.png go (default: .)")
    p.set_defaults(func=embed_command)
    return p


def embed_command(args) -> None:
    pipe, data, n = load_pipeline_and_data(args, args.num_images)
    require_encoder(pipe, "embed")
    images = data.images[:n]
    codes = pipe.encode(torch.from_numpy(images.copy()).float() / 255).float().cpu().numpy()
    labels = None if args.no_labels or data.labels is None else data.labels[:n]
    out = Path(args.output_dir)
    title = f"PCA of {codes.shape[1]}-d codes, {args.dataset} ({args.split})"
    path, ratio = embedding_plot(
        codes, images, out / "embedding.png", labels, data.label_names, max_thumbnails=args.max_thumbnails, title=title
    )
    k = min(16, n)
    clean = torch.from_numpy(images[:k].copy()).float() / 255
    recon = pipe.reconstruct(clean, output_type="pt").images.cpu()
    grid = save_grid(torch.stack([clean, recon]), out / "reconstructions.png")
    print(f"wrote {path} (PCA of {n} codes; the two components explain {ratio.sum():.0%} of their variance)")
    print(f"wrote {grid} (originals over reconstructions)")
