"""diffusers' `UNet2DModel`, sized for small images: the denoiser of the diffusion family.

The model is diffusers' own (not re-implemented); this file only picks its size for 28x28 / 32x32
data and checks, before anything is built, that the image side suits the blocks. Each down block
but the last halves the image, so a UNet with B blocks takes sides divisible by 2**(B - 1).
"""

from diffusers import UNet2DModel

from ..errors import UserInputError
from .blocks import check_side

# For 28x28 / 32x32 images (Fashion-MNIST, CIFAR): three resolutions (28, 14, 7) with two residual blocks
# each, as in DDPM (Ho et al. 2020, App. B), but narrower (32-64-128 channels instead of 128-256-256-256) and
# with self-attention only at the lowest resolution (7x7), which keeps a training step affordable on a CPU.
# About 3.9M parameters (tests/test_ddpm.py counts them).
SMALL_IMAGE_UNET = dict(
    block_out_channels=(32, 64, 128),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    attention_head_dim=32,
    norm_num_groups=32,
)

# A UNet for 8x8 images that trains in seconds: the tests' and the benchmarks' quick modes (not for real use).
TINY_UNET = dict(
    block_out_channels=(16, 32),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=8,
    norm_num_groups=8,
)


def as_model_config(kwargs: dict) -> str:
    """`{"a": 1, "b": (2, 3)}` -> `"a=1,b=(2, 3)"`, the `--model_config` form of constructor arguments."""
    return ",".join(f"{k}={v!r}" for k, v in kwargs.items())


def check_unet_config(
    sample_size: int, block_out_channels, down_block_types, up_block_types, norm_num_groups, attention_head_dim=None
) -> None:
    """Raise a `UserInputError` that says what to change when the UNet cannot take `sample_size` images (or, given
    `attention_head_dim`, has an attention layer narrower than one head)."""
    blocks = len(block_out_channels)
    if len(down_block_types) != blocks or len(up_block_types) != blocks:
        raise UserInputError(
            f"the UNet has {blocks} block_out_channels but {len(down_block_types)} down_block_types and "
            f"{len(up_block_types)} up_block_types; give one of each per resolution"
        )
    check_side(f"A UNet of {blocks} blocks", sample_size, blocks - 1, "halvings (blocks - 1)")
    attended = [c for c, kind in zip(block_out_channels, down_block_types, strict=True) if "Attn" in kind]
    narrow = [c for c in [*attended, block_out_channels[-1]] if attention_head_dim and c < attention_head_dim]
    if narrow:  # the middle block attends at the last width too
        raise UserInputError(
            f"attention_head_dim={attention_head_dim} is wider than the attention layers of width {narrow[0]}; pass "
            f"attention_head_dim=<at most {min(narrow)}> in --model_config"
        )
    bad = [c for c in block_out_channels if c % norm_num_groups]
    if bad:
        raise UserInputError(
            f"GroupNorm splits channels into norm_num_groups={norm_num_groups} groups, which does not divide "
            f"block_out_channels {tuple(bad)}; pass norm_num_groups=<a divisor of every width> in --model_config"
        )


def unet_for_images(in_channels: int, sample_size: int, **overrides) -> UNet2DModel:
    """A `UNet2DModel` for `in_channels` x `sample_size` x `sample_size` images: `SMALL_IMAGE_UNET`, then
    `overrides` (any `UNet2DModel` argument). Sizes are checked first, with a message that says what works."""
    kwargs = {**SMALL_IMAGE_UNET, **overrides}
    check_unet_config(
        sample_size,
        kwargs["block_out_channels"],
        kwargs["down_block_types"],
        kwargs["up_block_types"],
        kwargs["norm_num_groups"],
        kwargs.get("attention_head_dim"),
    )
    return UNet2DModel(sample_size=sample_size, in_channels=in_channels, out_channels=in_channels, **kwargs)


# --- the text-conditioned denoiser of latent diffusion (Rombach et al. 2022), diffusers' `UNet2DConditionModel`

# For 8x8x4 latents (32x32 images through a VAE that downsamples 4x): two resolutions (8, 4), two residual blocks
# each, cross-attention to the text encoder's hidden states at both, and at the 4x4 middle: 6.3M parameters with the
# 128-wide CLIP of `genzoo train clip`, about 40 images/s per training step on two CPU cores (benchmarks/text2image.py
# trains narrower ones on a CPU budget).
SMALL_LATENT_UNET = dict(
    block_out_channels=(64, 128),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    attention_head_dim=16,
    norm_num_groups=32,
)

# Trains in seconds: the tests' and the quick modes' (not for real use).
TINY_LATENT_UNET = dict(
    block_out_channels=(16, 32),
    layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    attention_head_dim=8,
    norm_num_groups=8,
)


def unet_for_latents(latent_channels: int, latent_size: int, cross_attention_dim: int, **overrides):
    """A `UNet2DConditionModel` for `latent_channels` x `latent_size` x `latent_size` latents that attends to text
    states of width `cross_attention_dim`: `SMALL_LATENT_UNET`, then `overrides` (any `UNet2DConditionModel`
    argument), sizes checked first."""
    from diffusers import UNet2DConditionModel

    kwargs = {**SMALL_LATENT_UNET, **overrides}
    check_unet_config(
        latent_size,
        kwargs["block_out_channels"],
        kwargs["down_block_types"],
        kwargs["up_block_types"],
        kwargs["norm_num_groups"],
    )
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=latent_channels,
        out_channels=latent_channels,
        cross_attention_dim=cross_attention_dim,
        **kwargs,
    )
