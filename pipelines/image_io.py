"""Turning what users pass (PIL images, numpy arrays, tensors) into model input, and back.

Model input is always a float tensor `(B, C, H, W)` in [0, 1] at the model's resolution and
channel count; pipelines return PIL images, numpy arrays `(B, H, W, C)` or tensors `(B, C, H, W)`.
"""

from typing import Union

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline

ImageInput = Union[PIL.Image.Image, np.ndarray, torch.Tensor, list]
OUTPUT_TYPES = ("pil", "np", "pt")


def _pil_to_array(img: PIL.Image.Image, channels: int) -> np.ndarray:
    img = img.convert("L" if channels == 1 else "RGB")
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr[..., None] if arr.ndim == 2 else arr  # (H, W, C)


def to_model_input(images: ImageInput, channels: int, size: int, device, dtype=torch.float32) -> torch.Tensor:
    """PIL image(s), numpy `(H, W[, C])` / `(B, H, W, C)` (uint8 or float in [0, 1]) or tensors
    `(C, H, W)` / `(B, C, H, W)` (uint8, or float in [0, 1]) -> `(B, channels, size, size)` float in [0, 1]."""
    if isinstance(images, list) and images and isinstance(images[0], PIL.Image.Image):
        x = torch.from_numpy(np.stack([_pil_to_array(im, channels) for im in images])).permute(0, 3, 1, 2)
    elif isinstance(images, PIL.Image.Image):
        x = torch.from_numpy(_pil_to_array(images, channels)).permute(2, 0, 1)[None]
    elif isinstance(images, (np.ndarray, list)):
        arr = np.asarray(images)
        arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
        if arr.ndim == 2:  # (H, W)
            arr = arr[None, ..., None]
        elif arr.ndim == 3:  # (H, W, C) one image, or (B, H, W) gray batch
            arr = arr[None] if arr.shape[-1] in (1, 3, 4) else arr[..., None]
        if arr.ndim != 4:
            raise ValueError(f"numpy images must be (H, W), (H, W, C) or (B, H, W, C); got shape {arr.shape}")
        x = torch.from_numpy(arr).permute(0, 3, 1, 2)
    elif isinstance(images, torch.Tensor):
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4:
            raise ValueError(f"tensor images must be (C, H, W) or (B, C, H, W); got shape {tuple(images.shape)}")
    else:
        raise TypeError(f"images must be PIL images, numpy arrays or tensors, got {type(images).__name__}")
    x = x.to(device=device, dtype=torch.float32)  # (B, C, H, W)
    if x.shape[1] == 4:  # drop alpha
        x = x[:, :3]
    if x.shape[1] != channels:
        if channels == 1:  # ITU-R 601 luma, as PIL's convert("L")
            w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            x = (x * w).sum(1, keepdim=True)
        elif x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        else:
            raise ValueError(f"cannot turn {x.shape[1]}-channel images into {channels} channels")
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0, 1).to(dtype)


def from_model_output(x: torch.Tensor, output_type: str):
    """`(B, C, H, W)` in [0, 1] -> PIL list, numpy `(B, H, W, C)` or the tensor itself."""
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
    if output_type == "pt":
        return x
    arr = x.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, C)
    return arr if output_type == "np" else DiffusionPipeline.numpy_to_pil(arr)
