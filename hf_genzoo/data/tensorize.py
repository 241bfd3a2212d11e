"""Tensorize a split ONCE into a uint8 `(N, C, H, W)` array, cached on disk and memory-mapped.

Decoding and resizing happen here, one time per (dataset content, split, resolution, channels);
the training loop only slices the memory-mapped array, so no PIL work runs per sample per epoch,
a dataset is bounded by disk rather than RAM, and every accelerate process maps the same file.
"""

import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import pyarrow as pa
import torch
import torch.nn.functional as F
from datasets import Array2D, Array3D, Image
from tqdm.auto import tqdm

from .registry import resolve_source
from .sources import BUILTIN, Source

CACHE_VERSION = 1  # bump when the tensorizing itself changes


def cache_root() -> Path:
    """`$HF_GENZOO_CACHE`, else `$XDG_CACHE_HOME/hf_genzoo`, else `~/.cache/hf_genzoo`."""
    if os.environ.get("HF_GENZOO_CACHE"):
        return Path(os.environ["HF_GENZOO_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hf_genzoo"


@dataclass
class ImageData:
    """A tensorized split: `images` `(N, C, H, W)` uint8 (memory-mapped), `labels` `(N,)` int64 or None."""

    images: np.ndarray
    labels: np.ndarray | None
    label_names: list[str] | None
    name: str
    split: str
    n_skipped: int = 0

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def resolution(self) -> int:
        return self.images.shape[2]

    def channel_stats(self, max_images: int = 10_000) -> tuple[list[float], list[float]]:
        """Per-channel mean and standard deviation of the images in [0, 1] (over at most `max_images`)."""
        x = torch.from_numpy(np.array(self.images[:max_images])).double() / 255.0  # (n, C, H, W)
        return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()


class BadImageError(ValueError):
    pass


def load_images(
    name: str,
    split: str = "train",
    *,
    resolution: int | None = None,
    channels: int | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
    skip_bad_files: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> ImageData:
    """Resolve `name`, tensorize `split` at `resolution` (default: native) and `channels` (1 or 3,
    default: native), and return it memory-mapped from the cache."""
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if resolution is not None and resolution < 1:
        raise ValueError(f"resolution must be a positive number of pixels, got {resolution}")
    # Built-in datasets know their cache key without being loaded; others are keyed by datasets' fingerprint.
    builtin = BUILTIN.get(name)
    token = builtin.token(split) if builtin and image_column is None and label_column is None else None
    src = None if token else resolve_source(name, split, image_column, label_column)
    if src is not None:
        token = [src.cache_token or src.dataset._fingerprint, src.image_column, src.label_column]
    key_parts = [CACHE_VERSION, token, name, split, resolution, channels, skip_bad_files]
    key = hashlib.sha1(json.dumps(key_parts, default=str).encode()).hexdigest()[:16]
    safe_name = "".join(c if c.isalnum() else "_" for c in f"{name}-{split}")[-60:]
    folder = Path(cache_dir or cache_root() / "tensors") / f"{safe_name}-{key}"
    if not (folder / "meta.json").exists():
        src = src or resolve_source(name, split, image_column, label_column)
        _write_cache(src, folder, resolution, channels, skip_bad_files, name)
    meta = json.loads((folder / "meta.json").read_text())
    labels = np.load(folder / "labels.npy") if meta["has_labels"] else None
    return ImageData(
        images=np.load(folder / "images.npy", mmap_mode="r"),
        labels=labels,
        label_names=meta["label_names"],
        name=name,
        split=split,
        n_skipped=meta["n_skipped"],
    )


def _write_cache(src: Source, folder: Path, resolution, channels, skip_bad_files, name) -> None:
    """Tensorize into a temporary folder, then rename it into place (atomic: no half-written cache)."""
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ds = src.dataset
    feature = ds.features[src.image_column]
    if isinstance(feature, (Array2D, Array3D)):
        images, keep = _arrays_to_uint8(ds, src.image_column, resolution, channels), None
        np.save(tmp / "images.npy", images)
    elif isinstance(feature, Image):
        images, keep = _decode_files(ds, src, resolution, channels, skip_bad_files, tmp, name)
    else:
        raise ValueError(f"column {src.image_column!r} of {name!r} holds {feature}, not images")
    labels = None
    if src.label_column is not None:
        labels = np.asarray(ds[src.label_column], dtype=np.int64)
        labels = labels[keep] if keep is not None else labels
        np.save(tmp / "labels.npy", labels)
    meta = {
        "has_labels": labels is not None,
        "label_names": src.label_names,
        "n_skipped": 0 if keep is None else int(len(ds) - len(keep)),
        "shape": list(images.shape),
    }
    (tmp / "meta.json").write_text(json.dumps(meta))
    del images
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)


def _arrays_to_uint8(ds, column, resolution, channels) -> np.ndarray:
    # Read the Arrow storage directly: datasets' numpy formatting of Array2D is ~100x slower.
    if ds._indices is not None:
        ds = ds.flatten_indices()
    arr = ds.data.column(column).combine_chunks()
    arr = arr.storage if isinstance(arr, pa.ExtensionArray) else arr
    while pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type) or pa.types.is_large_list(arr.type):
        arr = arr.flatten()
    shape = ds.features[column].shape
    x = torch.from_numpy(np.array(arr.to_numpy(zero_copy_only=False)).reshape(len(ds), *shape))  # (N, H, W[, C])
    x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    if channels is not None and channels != x.shape[1]:
        x = x.float().mean(1, keepdim=True) if channels == 1 else x.expand(-1, channels, -1, -1)
    if resolution is not None and resolution != x.shape[-1]:
        x = F.interpolate(x.float(), size=(resolution, resolution), mode="bilinear", antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8).numpy()


def _pil_to_uint8(img: PIL.Image.Image, resolution: int, channels: int) -> np.ndarray:
    img = img.convert("L" if channels == 1 else "RGB")
    w, h = img.size
    if w != h:  # center crop to a square
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    if img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), PIL.Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W)


def _open(record: dict) -> PIL.Image.Image:
    img = PIL.Image.open(io.BytesIO(record["bytes"]) if record.get("bytes") else record["path"])
    img.load()
    return img


def _decode_files(ds, src: Source, resolution, channels, skip_bad_files, tmp: Path, name):
    """Decode every image once (with PIL), writing straight into a memory-mapped .npy file."""
    col = src.image_column
    raw = ds.select_columns([col]).cast_column(col, Image(decode=False))
    first = _open(raw[0][col])
    channels = channels or (1 if first.mode in ("L", "1", "I", "I;16", "F") else 3)
    resolution = resolution or min(first.size)
    out = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                    shape=(len(raw), channels, resolution, resolution))  # fmt: skip
    keep, bad = [], []
    bar = tqdm(total=len(raw), desc=f"tensorizing {name} at {resolution}x{resolution}", disable=len(raw) < 5000)
    for start, batch in zip(range(0, len(raw), 1000), raw.iter(batch_size=1000)):
        for i, record in enumerate(batch[col], start):
            try:
                out[len(keep)] = _pil_to_uint8(_open(record), resolution, channels)
                keep.append(i)
            except (OSError, SyntaxError, ValueError) as err:
                bad.append((record.get("path") or f"row {i}", err))
        bar.update(len(batch[col]))
    bar.close()
    if bad and not skip_bad_files:
        shutil.rmtree(tmp, ignore_errors=True)
        listing = "\n".join(f"  {p}: {e}" for p, e in bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise BadImageError(
            f"{len(bad)} unreadable image file(s) in {name!r}:\n{listing}\nFix or remove them, or pass --skip_bad_files."
        )
    if bad:
        out.flush()
        del out
        images = np.load(tmp / "images.npy", mmap_mode="r")[: len(keep)]
        np.save(tmp / "images.kept.npy", images)
        os.replace(tmp / "images.kept.npy", tmp / "images.npy")
        out = np.load(tmp / "images.npy", mmap_mode="r")
    else:
        out.flush()
    return out, np.asarray(keep, dtype=np.int64)
