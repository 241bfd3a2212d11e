"""diffusers' `AutoencoderKL`, the VAE of latent diffusion, sized for small images: 32x32 -> 8x8x4 latents.

References:
    - Rombach et al., "High-Resolution Image Synthesis with Latent Diffusion Models", CVPR 2022,
      arXiv:2112.10752 (a KL-regularized autoencoder whose latents a diffusion model learns; the latents scaled
      to unit variance by 1 / std, measured on the training data, sec. 4 and appendix G).

The model is diffusers' own (not re-implemented): this file picks its size and checks, before anything is built,
that the image side suits the blocks. Each encoder block but the last halves the image, so a VAE of B blocks maps
an s x s image to (s / 2**(B - 1))-sided latents, as Stable Diffusion's 4 blocks map 512 to 64.
"""

from diffusers import AutoencoderKL

from ..errors import UserInputError
from .blocks import check_side

# 32x32 images -> 8x8x4 latents: three resolutions (32, 16, 8), one residual block each, 32-64-64 channels.
SMALL_IMAGE_KL = dict(
    block_out_channels=(32, 64, 64),
    down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3,
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=16,
)

# Trains in seconds (tests, quick modes): two resolutions, 8-16 channels.
TINY_KL = dict(
    block_out_channels=(8, 16),
    down_block_types=("DownEncoderBlock2D",) * 2,
    up_block_types=("UpDecoderBlock2D",) * 2,
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=4,
)


def autoencoder_kl_for_images(channels: int, sample_size: int, **overrides) -> AutoencoderKL:
    """An `AutoencoderKL` for `channels` x `sample_size` x `sample_size` images: `SMALL_IMAGE_KL`, then `overrides`
    (any `AutoencoderKL` argument), sizes checked first with a message that says what works."""
    kwargs = {**SMALL_IMAGE_KL, **overrides}
    blocks = len(kwargs["block_out_channels"])
    if len(kwargs["down_block_types"]) != blocks or len(kwargs["up_block_types"]) != blocks:
        raise UserInputError(
            f"the VAE has {blocks} block_out_channels but {len(kwargs['down_block_types'])} down_block_types and "
            f"{len(kwargs['up_block_types'])} up_block_types; give one of each per resolution"
        )
    check_side(f"An AutoencoderKL of {blocks} blocks", sample_size, blocks - 1, "halvings (blocks - 1)")
    bad = [c for c in kwargs["block_out_channels"] if c % kwargs["norm_num_groups"]]
    if bad:
        raise UserInputError(
            f"GroupNorm splits channels into norm_num_groups={kwargs['norm_num_groups']} groups, which does not "
            f"divide block_out_channels {tuple(bad)}; pass norm_num_groups=<a divisor of every width> in --model_config"
        )
    return AutoencoderKL(in_channels=channels, out_channels=channels, sample_size=sample_size, **kwargs)


def latent_side(vae: AutoencoderKL) -> int:
    """The side of the latents of `vae.config.sample_size` images."""
    return vae.config.sample_size // 2 ** (len(vae.config.block_out_channels) - 1)
