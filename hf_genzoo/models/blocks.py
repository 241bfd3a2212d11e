"""The small pieces the model files share: shape checks with messages that say what works, and conv stacks.

Imports only torch and `hf_genzoo.errors`, so `genzoo push --portable` can inline it into each model file.
"""

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..errors import UserInputError


def check_side(model: str, sample_size: int, halvings: int, what: str = "downsampling blocks") -> int:
    """The side after `halvings` halvings of `sample_size`; a `UserInputError` naming the sides that work when it
    does not divide (e.g. a 28x28 image through three stride-2 blocks)."""
    factor = 2**halvings
    if sample_size < factor or sample_size % factor:
        examples = ", ".join(str(factor * k) for k in range(1, 5))
        up, down = sample_size + (-sample_size) % factor, max(factor, sample_size - sample_size % factor)
        sides = f"{up} (or {down})" if down != up else f"{up}"
        raise UserInputError(
            f"{model} with {halvings} {what} takes a side divisible by {factor} ({examples}, ...); got {sample_size}. "
            f"Use --resolution {sides}, or fewer {what}."
        )
    return sample_size // factor


def check_shape(model: str, x: torch.Tensor, shape: tuple, what: str = "images") -> None:
    """A `UserInputError` when `x` is not `(B, *shape)`, naming the shape the model takes."""
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape):
        expected = ", ".join(map(str, shape))
        raise UserInputError(f"{model} takes {what} of shape (B, {expected}); got {tuple(x.shape)}")


def conv_down(
    channels: Sequence[int], act: Callable[[], nn.Module], norm: bool, first_norm: bool = True, bias: bool = True
) -> list[nn.Module]:
    """Stride-2 4x4 convolutions from `channels[0]` through each next width, each halving the side:
    `(B, c0, H, W) -> (B, c_last, H / 2**n, W / 2**n)`. After each, BatchNorm (with `norm`; after the first too with
    `first_norm`), then `act()`. `bias=False` drops the bias of a convolution that BatchNorm follows."""
    layers = []
    for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
        batch_norm = norm and (first_norm or i > 0)
        layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=bias or not batch_norm))
        layers += [nn.BatchNorm2d(c_out), act()] if batch_norm else [act()]
    return layers


def conv_up(channels: Sequence[int], act: Callable[[], nn.Module], norm: bool, bias: bool = True) -> list[nn.Module]:
    """Stride-2 4x4 transposed convolutions through `channels`, each doubling the side; BatchNorm (with `norm`) and
    `act()` after all but the last, the output layer. `bias=False` drops the bias of one that BatchNorm follows."""
    layers = []
    last = len(channels) - 2
    for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
        inner = i < last
        layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=bias or not (inner and norm)))
        if inner:
            layers += [nn.BatchNorm2d(c_out), act()] if norm else [act()]
    return layers
