"""The `images` data kind: uint8 `(N, C, H, W)` images (`pixel_values`) and int64 class ids (`labels`), if any.

Image files are decoded and resized once, with PIL, straight into a memory-mapped array; array columns (the
built-ins) are read from Arrow without PIL. Options: `resolution` (square side; default: the dataset's own,
non-square images are centre-cropped), `channels` (1 or 3; default: the dataset's own), `image_column` and
`label_column` (default: guessed).
"""

import io
from pathlib import Path

import numpy as np
import PIL.Image
import pyarrow as pa
import torch
import torch.nn.functional as F
from datasets import Array2D, Array3D, Image
from tqdm.auto import tqdm

from ..compat import arrow_table
from ..errors import UserInputError
from ..imaging import center_square, to_8bit
from .registry import check_label_column, open_split, pick_column
from .sources import BUILTIN, Source
from .tensorize import BadFiles, DataKind, TensorData, load_data, register_kind

IMAGE_COLUMN_GUESSES = ("image", "img", "pixel_values", "images")
OPTIONS = {"resolution": None, "channels": None, "image_column": None, "label_column": None}
UNREADABLE = (OSError, SyntaxError, ValueError)  # what PIL raises for a file that is not a readable image


def _check_options(options: dict) -> None:
    if options["channels"] not in (None, 1, 3):
        raise UserInputError(f"channels must be 1 or 3, got {options['channels']}")
    if options["resolution"] is not None and options["resolution"] < 1:
        raise UserInputError(f"resolution must be a positive number of pixels, got {options['resolution']}")


def resolve(name: str, split: str, options: dict) -> Source:
    """The split, with its image column checked (or guessed) and its label column checked (or guessed)."""
    _check_options(options)
    src = open_split(name, split, options["image_column"], options["label_column"])
    kinds = (Image, Array2D, Array3D)
    src.image_column = pick_column(name, src, src.image_column, kinds, IMAGE_COLUMN_GUESSES, "--image_column")
    check_label_column(name, src)
    return src


def token(name: str, split: str, options: dict) -> str | None:
    """A built-in's cache key, known without loading it (given columns make it a dataset of its own)."""
    _check_options(options)
    builtin = BUILTIN.get(name)
    if builtin is None or options["image_column"] or options["label_column"]:
        return None
    return builtin.token(split)


def tensorize(src: Source, folder: Path, options: dict, bad_files: BadFiles) -> dict:
    return tensorize_rows(src, folder, options, bad_files)[0]


def tensorize_rows(src: Source, folder: Path, options: dict, bad_files: BadFiles) -> tuple[dict, np.ndarray]:
    """`tensorize`, and the dataset rows kept (those whose image could be read), for kinds that add to it."""
    images, keep = _tensorize_images(src, folder, options, bad_files)
    if src.label_column is not None:
        np.save(folder / "labels.npy", np.asarray(src.dataset[src.label_column], dtype=np.int64)[keep])
    realized = {**options, "resolution": images.shape[2], "channels": images.shape[1]}
    return {"options": realized, "label_names": src.label_names, "n_skipped": len(bad_files.found)}, keep


def _tensorize_images(src: Source, folder: Path, options: dict, bad_files: BadFiles) -> tuple[np.ndarray, np.ndarray]:
    """`pixel_values.npy` written into `folder`; returns it and the indices of the rows it holds."""
    ds = src.dataset
    feature = ds.features[src.image_column]
    if isinstance(feature, (Array2D, Array3D)):
        images = _arrays_to_uint8(ds, src.image_column, options["resolution"], options["channels"])
        np.save(folder / "pixel_values.npy", images)
        return images, np.arange(len(ds))
    if isinstance(feature, Image):
        return _decode_files(ds, src, options, bad_files, folder)
    raise UserInputError(f"column {src.image_column!r} of {bad_files.dataset!r} holds {feature}, not images")


IMAGES = register_kind(DataKind("images", OPTIONS, resolve, tensorize, token))


def load_images(name: str, split: str = "train", **options) -> TensorData:
    """`load_data("images", ...)`: uint8 images `(N, C, H, W)` and labels of a split, memory-mapped."""
    return load_data("images", name, split, **options)


def _arrays_to_uint8(ds, column, resolution, channels) -> np.ndarray:
    arr = arrow_table(ds).column(column).combine_chunks()
    arr = arr.storage if isinstance(arr, pa.ExtensionArray) else arr
    while pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type) or pa.types.is_large_list(arr.type):
        arr = arr.flatten()
    shape = ds.features[column].shape
    return stack_to_uint8(np.array(arr.to_numpy(zero_copy_only=False)).reshape(len(ds), *shape), resolution, channels)


def stack_to_uint8(x: np.ndarray, resolution: int | None, channels: int | None) -> np.ndarray:
    """Images of an array column `(N, H, W[, C])` as uint8 `(N, C, H, W)` at `resolution` with `channels` (None:
    their own); shared by the cache and the streamed path, so both give the same values."""
    x = torch.from_numpy(x)
    x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    if channels is not None and channels != x.shape[1]:
        x = x.float().mean(1, keepdim=True) if channels == 1 else x.expand(-1, channels, -1, -1)
    if resolution is not None and resolution != x.shape[-1]:
        x = F.interpolate(x.float(), size=(resolution, resolution), mode="bilinear", antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8).numpy()


def _pil_to_uint8(img: PIL.Image.Image, resolution: int, channels: int) -> np.ndarray:
    arr = np.asarray(center_square(to_8bit(img, channels), resolution), dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W)


def _open(record: dict) -> PIL.Image.Image:
    img = PIL.Image.open(io.BytesIO(record["bytes"]) if record.get("bytes") else record["path"])
    img.load()
    return img


def native_shape(img: PIL.Image.Image, options: dict) -> tuple[int, int]:
    """`(channels, resolution)` of a split whose first readable image is `img`: the options', else its own."""
    grey = img.mode in ("L", "1", "I", "F", "LA") or img.mode.startswith("I;16")
    return options["channels"] or (1 if grey else 3), options["resolution"] or min(img.size)


def _first_readable(raw, col: str, dataset: str) -> PIL.Image.Image:
    for i in range(len(raw)):
        try:
            return _open(raw[i][col])
        except UNREADABLE:
            continue
    raise UserInputError(f"none of the {len(raw)} image files of {dataset} can be read")


def _decode_files(ds, src: Source, options: dict, bad_files: BadFiles, folder: Path):
    """Decode every image once (with PIL), writing straight into a memory-mapped .npy file; the rows kept."""
    col = src.image_column
    raw = ds.select_columns([col]).cast_column(col, Image(decode=False))
    first = _first_readable(raw, col, bad_files.dataset)  # the shape of the cache; unreadable ones come up below
    channels, resolution = native_shape(first, options)
    path = folder / "pixel_values.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(raw), channels, resolution, resolution))
    keep = []
    bar = tqdm(
        total=len(raw), desc=f"tensorizing {bad_files.dataset} at {resolution}x{resolution}", disable=len(raw) < 5000
    )
    for start, batch in zip(range(0, len(raw), 1000), raw.iter(batch_size=1000), strict=True):
        for i, record in enumerate(batch[col], start):
            try:
                out[len(keep)] = _pil_to_uint8(_open(record), resolution, channels)
                keep.append(i)
            except UNREADABLE as err:
                bad_files.add(record.get("path") or f"row {i}", err)
        bar.update(len(batch[col]))
    bar.close()
    bad_files.check("image file")
    out.flush()
    if bad_files.found:  # keep only the rows that decoded
        del out
        kept = np.load(path, mmap_mode="r")[: len(keep)]
        np.save(folder / "kept.npy", kept)
        del kept
        (folder / "kept.npy").replace(path)
        out = np.load(path, mmap_mode="r")
    return out, np.asarray(keep, dtype=np.int64)
