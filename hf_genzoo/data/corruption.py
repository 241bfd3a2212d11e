"""Input corruptions for denoising autoencoders (Vincent et al., ICML 2008): `gaussian:sigma`, `mask:p`."""

from dataclasses import dataclass

import torch

from ..errors import UserInputError

KINDS = ("gaussian", "mask")


@dataclass(frozen=True)
class Corruption:
    """`gaussian:s` adds N(0, s^2) noise and clips to [0, 1]; `mask:p` zeroes each pixel with probability p
    (all channels of a pixel together)."""

    kind: str
    amount: float

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """`x`: `(B, C, H, W)` in [0, 1] -> corrupted copy, same shape."""
        if self.kind == "gaussian":
            noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
            return (x + self.amount * noise).clamp(0, 1)
        keep = torch.rand((x.shape[0], 1, *x.shape[2:]), device=x.device, generator=generator) >= self.amount
        return x * keep.to(x.dtype)

    def __str__(self) -> str:
        return f"{self.kind}:{self.amount:g}"


def parse_corruption(spec: str | None) -> Corruption | None:
    """`"gaussian:0.3"` -> Corruption("gaussian", 0.3); None or "none" -> None."""
    if spec is None or spec == "none":
        return None
    kind, _, amount = spec.partition(":")
    try:
        value = float(amount)
    except ValueError:
        value = -1.0
    if kind not in KINDS or not 0 <= value <= (1 if kind == "mask" else 10):
        raise UserInputError(
            f"--noise {spec!r} is not understood: use gaussian:SIGMA (e.g. gaussian:0.3) or mask:P with P in [0, 1] "
            f"(e.g. mask:0.25)"
        )
    return Corruption(kind, value)
