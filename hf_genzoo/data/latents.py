"""The `captioned_latents` data kind: captioned images and their posterior under a frozen VAE, encoded once.

Latent diffusion trains on a fixed autoencoder's latents (Rombach et al. 2022), so they are computed once, like the
images are tensorized once: the arrays of `captioned_images`, and `latent_mean` and `latent_std` `(N, c, h, w)`
(float16), the diagonal Gaussian posterior of each image. The training loss draws z = mean + std * eps at every
step, as diffusers' `train_text_to_image.py` draws `vae.encode(x).latent_dist.sample()`, without running the
encoder. Options: those of `captioned_images` and `vae` (a folder or Hub id holding an `AutoencoderKL`, in a `vae`
subfolder or at its root); the cache key holds a hash of the VAE's weights.
"""

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..errors import UserInputError
from . import captions
from .sources import Source
from .tensorize import BadFiles, DataKind, register_kind

OPTIONS = {**captions.OPTIONS, "vae": None}
BATCH = 256  # images per encoder pass while caching


def load_vae(name_or_path: str):
    """The `AutoencoderKL` of a pipeline folder or repo (its `vae` subfolder), or of a VAE folder or repo itself."""
    from diffusers import AutoencoderKL

    try:
        return AutoencoderKL.from_pretrained(name_or_path, subfolder="vae")
    except OSError:
        return AutoencoderKL.from_pretrained(name_or_path)


def weights_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _check(options: dict) -> None:
    if not options["vae"]:
        raise UserInputError("the captioned_latents data kind needs a vae (a folder or Hub id of an AutoencoderKL)")


def token(name: str, split: str, options: dict) -> str | None:
    _check(options)
    return captions.token(name, split, options)


def resolve(name: str, split: str, options: dict) -> Source:
    _check(options)
    return captions.resolve(name, split, options)


def options_key(options: dict) -> list:
    return [
        *captions.options_key({k: v for k, v in options.items() if k != "vae"}),
        weights_hash(load_vae(options["vae"])),
    ]


@torch.no_grad()
def tensorize(src: Source, folder: Path, options: dict, bad_files: BadFiles) -> dict:
    meta = captions.tensorize(src, folder, options, bad_files)
    vae = load_vae(options["vae"]).eval()
    pixels = np.load(folder / "pixel_values.npy", mmap_mode="r")  # (N, C, H, W) uint8
    if pixels.shape[1] != vae.config.in_channels:
        raise UserInputError(
            f"the VAE takes {vae.config.in_channels}-channel images, the data has {pixels.shape[1]}: pass --channels "
            f"{vae.config.in_channels}"
        )
    means, stds = [], []
    for start in range(0, len(pixels), BATCH):
        x = torch.from_numpy(np.array(pixels[start : start + BATCH])).float() / 127.5 - 1  # [-1, 1], as SD's VAE
        posterior = vae.encode(x).latent_dist
        means.append(posterior.mean.half().numpy())
        stds.append(posterior.std.half().numpy())
    np.save(folder / "latent_mean.npy", np.concatenate(means))  # (N, c, h, w)
    np.save(folder / "latent_std.npy", np.concatenate(stds))
    return meta


CAPTIONED_LATENTS = register_kind(DataKind("captioned_latents", OPTIONS, resolve, tensorize, token, options_key))
