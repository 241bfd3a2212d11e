"""How an image file of any mode, bit depth and size becomes the 8-bit square a model takes: one rule, shared by the
data layer (training) and the pipelines' inputs. PIL and numpy only (the portable Hub repos inline it)."""

import numpy as np
import PIL.Image


def to_8bit(img: PIL.Image.Image, channels: int) -> PIL.Image.Image:
    """Any PIL mode as 8-bit grey (`channels` 1) or RGB (3). High bit depths are scaled, not clipped: 16-bit
    ("I;16*", and "I", where 16-bit PNGs and TIFFs land) divided by 257; float ("F") taken as [0, 1] when all its
    values are, else as [0, 255]. Alpha is dropped; palettes, CMYK, YCbCr and 1-bit go through PIL's `convert`."""
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        x = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            x = x * 255 if x.size and 0 <= x.min() and x.max() <= 1 else x
        else:
            x = x / 257
        img = PIL.Image.fromarray(np.clip(np.round(x), 0, 255).astype(np.uint8), "L")
    return img.convert("L" if channels == 1 else "RGB")


def center_square(img: PIL.Image.Image, resolution: int) -> PIL.Image.Image:
    """The one rule for images of any size, in training and in the pipelines' inputs: the centred square as large as
    the shorter side, resized (bicubic) to `resolution` x `resolution`."""
    w, h = img.size
    if w != h:
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    if img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), PIL.Image.Resampling.BICUBIC)
    return img
