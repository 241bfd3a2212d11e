"""`genzoo sample`: samples of any generative family's saved model, as a grid (and files), with a fast
scheduler swapped in when asked."""

import time
from pathlib import Path

import torch
from diffusers import DiffusionPipeline

from ..errors import UserInputError
from ..hub.loading import load_pipeline
from ..registry import families, family_of
from ..samplers import sample_images
from ..viz import save_grid
from .common import add_sample_options


def sample_command_parser(subparsers):
    makers = [name for name, f in families().items() if f.generative]
    p = subparsers.add_parser(
        "sample",
        description=f"Draw samples from a saved model of a generative family ({', '.join(makers)}) and write a grid. "
        "Each family's own options are below; a diffusion model samples with its saved scheduler unless --scheduler "
        "swaps in a fast one (only the scheduler changes, never the network).",
    )
    p.add_argument("--model", required=True, help="folder (or Hub repo id) of a pipeline saved by `genzoo train`")
    p.add_argument("--num_images", type=int, default=64, help="how many samples (default: 64)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the one CPU generator all noise comes from (default: 0)"
    )
    p.add_argument(
        "--batch_size",
        type=int,
        default=256,
        help="images per pipeline call; the same seed gives the same images only at the same batch size (default: 256)",
    )
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    p.add_argument("--output", default="samples.png", help="grid PNG to write, 8 per row (default: samples.png)")
    p.add_argument("--images_dir", default=None, help="also write each sample as its own PNG into this folder")
    p.set_defaults(func=sample_command, sample_options=add_sample_options(p))
    return p


def sample_command(args) -> None:
    if args.num_images < 1 or args.batch_size < 1:
        raise UserInputError("--num_images and --batch_size must be at least 1")

    pipe = load_pipeline(args.model)
    if torch.cuda.is_available() and not args.cpu:
        pipe.to("cuda")
    given = {o: getattr(args, o) for o in args.sample_options if getattr(args, o) is not None}
    t = time.perf_counter()
    images = sample_images(pipe, args.num_images, torch.Generator().manual_seed(args.seed), args.batch_size, **given)
    seconds = time.perf_counter() - t
    family = family_of(pipe)
    pictures = family.to_images(images) if family.to_images else images  # (N, C, H, W) in [0, 1]
    path = save_grid(pictures, args.output, ncols=min(args.num_images, 8))
    how = ", ".join([f"{k} {v}" for k, v in given.items()] + [f"{family.nfe_for(pipe, **given)} network evaluations"])
    per_image = seconds / len(images) * 1000
    print(f"wrote {path}: {len(images)} samples ({how}) in {seconds:.1f} s ({per_image:.0f} ms per image)")
    if family.export is not None:  # samples that are not images: their own files too (a point set's .ply)
        written = family.export(images, path)
        print(
            f"wrote {len(written)} more file(s): {', '.join(str(p) for p in written[:3])}{' ...' * (len(written) > 3)}"
        )
    if args.images_dir:
        folder = Path(args.images_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(DiffusionPipeline.numpy_to_pil(pictures.permute(0, 2, 3, 1).numpy())):
            image.save(folder / f"{i:05d}.png")
        print(f"wrote {len(pictures)} PNG files to {folder}")
