"""What the image pipelines share: images in and out, and the deprecated names of the calling convention.

Model input is always a float tensor `(B, C, H, W)` in [0, 1] at the model's resolution and channel count.
PIL images are read as training reads them (any mode and bit depth, the centred square resized), then go through
diffusers' `VaeImageProcessor` (to a tensor); numpy arrays and
tensors (uint8 or float in [0, 1], with or without a batch axis, grey, RGB or RGBA) are converted here, since
`VaeImageProcessor` leaves their channels as they come. Output goes through `VaeImageProcessor.postprocess`:
PIL images, numpy `(B, H, W, C)` or tensors `(B, C, H, W)`.
"""

import warnings

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils.torch_utils import randn_tensor

from hf_genzoo.errors import UserInputError
from hf_genzoo.imaging import center_square, to_8bit

ImageInput = PIL.Image.Image | np.ndarray | torch.Tensor | list
OUTPUT_TYPES = ("pil", "np", "pt")


def image_processor(channels: int) -> VaeImageProcessor:
    """diffusers' image processor for images in [0, 1] (no [-1, 1] normalization) with `channels` channels."""
    return VaeImageProcessor(
        vae_scale_factor=1,
        vae_latent_channels=0,  # never take an image for latents
        resample="bilinear",
        do_normalize=False,
        do_convert_grayscale=channels == 1,
        do_convert_rgb=channels == 3,
    )


def _as_tensor(images: np.ndarray | torch.Tensor | list) -> torch.Tensor:
    """numpy `(H, W[, C])` / `(B, H, W, C)` / `(B, H, W)` or tensors `(C, H, W)` / `(B, C, H, W)`, uint8 or float in
    [0, 1] -> float `(B, C, H, W)`."""
    if isinstance(images, torch.Tensor):
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        x = x[None] if x.ndim == 3 else x
        if x.ndim != 4:
            raise UserInputError(f"tensor images must be (C, H, W) or (B, C, H, W); got shape {tuple(images.shape)}")
        return x
    arr = np.asarray(images)
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if arr.ndim == 2:  # (H, W)
        arr = arr[None, ..., None]
    elif arr.ndim == 3:  # (H, W, C) one image, or (B, H, W) gray batch
        arr = arr[None] if arr.shape[-1] in (1, 3, 4) else arr[..., None]
    if arr.ndim != 4:
        raise UserInputError(f"numpy images must be (H, W), (H, W, C) or (B, H, W, C); got shape {arr.shape}")
    return torch.from_numpy(arr).permute(0, 3, 1, 2)


def to_model_input(images: ImageInput, channels: int, size: int, device, dtype=torch.float32) -> torch.Tensor:
    """PIL image(s), numpy arrays or tensors (see `_as_tensor`) -> `(B, channels, size, size)` float in [0, 1].

    Images of another size are cut to their centred square and resized, as training does (`center_square`); PIL
    images of any mode and bit depth are read as training reads them (`to_8bit`). Float arrays must be in [0, 1]:
    0..255 or -1..1 data is an error, not a silent clamp."""
    expected = (
        f"this pipeline takes (B, {channels}, {size}, {size}) tensors in [0, 1], (B, H, W, C) numpy arrays, uint8 "
        f"or in [0, 1], or PIL images"
    )
    pil = (
        isinstance(images, PIL.Image.Image)
        or isinstance(images, list)
        and images
        and isinstance(images[0], PIL.Image.Image)
    )
    in_range = False  # known to lie in [0, 1] already: uint8 or checked float tensors, left as they are
    if pil:
        images = [
            center_square(to_8bit(im, channels), size)
            for im in ([images] if isinstance(images, PIL.Image.Image) else images)
        ]
        x = image_processor(channels).preprocess(images, height=size, width=size)  # (B, C, H, W)
    elif isinstance(images, (np.ndarray, torch.Tensor, list)):
        given = tuple(images.shape) if hasattr(images, "shape") else f"a list of {len(images)}"
        x, in_range = _as_tensor(images), True
        if x.shape[1] not in (1, 3, 4):
            layout = "(B, C, H, W) tensors" if isinstance(images, torch.Tensor) else "(B, H, W, C) numpy arrays"
            raise UserInputError(f"images of shape {given} are not {layout} with 1, 3 or 4 channels; {expected}")
        is_float = not (
            images.dtype == torch.uint8 if isinstance(images, torch.Tensor) else np.asarray(images).dtype == np.uint8
        )
        if is_float and x.numel():
            low, high = (v.item() for v in torch.aminmax(x))  # one pass over the batch, one sync
            if high > 2 or low < -0.5:
                hint = "0..255: divide by 255 or pass uint8" if high > 2 else "-1..1: map with (x + 1) / 2"
                raise UserInputError(f"float images must be in [0, 1]; these span [{low:.3g}, {high:.3g}] ({hint})")
            if high > 1 or low < 0:
                warnings.warn(
                    f"float images span [{low:.3g}, {high:.3g}]; clamped to [0, 1]", UserWarning, stacklevel=3
                )
                in_range = False
    else:
        raise UserInputError(f"images must be PIL images, numpy arrays or tensors, got {type(images).__name__}")
    x = x.to(device=device, dtype=torch.float32)
    if x.shape[1] == 4:  # drop alpha
        x = x[:, :3]
    if x.shape[1] != channels:
        if channels == 1 and x.shape[1] == 3:  # ITU-R 601 luma, as PIL's convert("L")
            x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, True)
            in_range = False  # a weighted sum: rounding may step past 1
        elif x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        else:
            raise UserInputError(f"cannot turn {x.shape[1]}-channel images into {channels} channels; {expected}")
    h, w = x.shape[-2:]
    if h != w:  # the centred square, as training cuts it
        s = min(h, w)
        x = x[..., (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        in_range = False
    return (x if in_range else x.clamp(0, 1)).to(dtype)


def from_model_output(x: torch.Tensor, output_type: str):
    """`(B, C, H, W)` in [0, 1] -> PIL list, numpy `(B, H, W, C)` or the tensor itself."""
    if output_type not in OUTPUT_TYPES:
        raise UserInputError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
    if output_type == "pt":
        return x
    return image_processor(x.shape[1]).postprocess(x.detach().float().clamp(0, 1), output_type=output_type)


def split(x: torch.Tensor, max_batch_size: int) -> tuple[torch.Tensor, ...]:
    """`x.split(max_batch_size)`: the chunks of one forward pass each; `(x,)` when the batch is one chunk."""
    return (x,) if 0 < len(x) <= max_batch_size else x.split(max_batch_size)


def concat(chunks: list[torch.Tensor]) -> torch.Tensor:
    """`torch.cat` of per-chunk outputs, without the copy when the batch was one chunk."""
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks)


def latents_or_noise(shape: tuple, generator, device, dtype, latents: torch.Tensor | None = None) -> torch.Tensor:
    """`latents` checked against `shape` and moved to `device`, or, when none are given, drawn from N(0, I) with
    `generator` (diffusers' `randn_tensor`: the same numbers on any device for a CPU generator)."""
    if latents is None:
        return randn_tensor(shape, generator=generator, device=device, dtype=dtype)
    if tuple(latents.shape) != tuple(shape):
        raise UserInputError(f"latents must have shape {tuple(shape)} (batch_size first), got {tuple(latents.shape)}")
    return latents.to(device, dtype)


def check_batch_size(batch_size: int, deprecated: dict) -> int:
    """`batch_size`, or the deprecated `num_images` from `deprecated` (with a FutureWarning); at least 1."""
    if "num_images" in deprecated:
        warnings.warn("`num_images` is deprecated; pass `batch_size`", FutureWarning, stacklevel=3)
        batch_size = deprecated.pop("num_images")
    _no_other_arguments(deprecated)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UserInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def max_batch(max_batch_size: int, deprecated: dict) -> int:
    """`max_batch_size` (images per forward pass), or the deprecated `batch_size` of a chunking method."""
    if "batch_size" in deprecated:
        warnings.warn("`batch_size` here is deprecated; pass `max_batch_size`", FutureWarning, stacklevel=3)
        max_batch_size = deprecated.pop("batch_size")
    _no_other_arguments(deprecated)
    return max_batch_size


def _no_other_arguments(kwargs: dict) -> None:
    if kwargs:
        raise TypeError(f"unexpected keyword argument(s) {sorted(kwargs)}")
