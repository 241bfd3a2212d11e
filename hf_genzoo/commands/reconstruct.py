"""`genzoo reconstruct`: a grid of images over their reconstructions, optionally corrupted first (denoising)."""

import torch

from ..data import parse_corruption
from ..viz import save_grid
from .common import add_data_args, load_pipeline_and_data, require_encoder


def reconstruct_command_parser(subparsers):
    p = subparsers.add_parser(
        "reconstruct", help="grid of images over their reconstructions (optionally corrupted first)"
    )
    add_data_args(p)
    p.add_argument("--num_images", type=int, default=16, help="how many images (default: 16)")
    p.add_argument("--noise", default=None, help="corrupt the inputs first: gaussian:SIGMA or mask:P (shows denoising)")
    p.add_argument("--seed", type=int, default=0, help="seed of the corruption (default: 0)")
    p.add_argument("--output", default="reconstructions.png", help="PNG to write (default: reconstructions.png)")
    p.set_defaults(func=reconstruct_command)
    return p


def reconstruct_command(args) -> None:
    pipe, data, n = load_pipeline_and_data(args, args.num_images)
    require_encoder(pipe, "reconstruct")
    clean = torch.from_numpy(data.images[:n].copy()).float() / 255  # (n, C, H, W)
    corruption = parse_corruption(args.noise)
    rows = [clean]
    if corruption:
        rows.append(corruption(clean, torch.Generator().manual_seed(args.seed)))
    rows.append(pipe.reconstruct(rows[-1], output_type="pt").images.cpu())
    path = save_grid(torch.stack(rows), args.output)
    print(
        f"wrote {path}: originals" + (", corrupted inputs" if corruption else "") + " and reconstructions, one row each"
    )
