"""Tensorize a split ONCE into memory-mapped arrays: the one cache of every kind of data.

A data kind (`DataKind`: images, captioned images, audio segments, point sets) turns a dataset split into
named arrays `(N, ...)`, named by their batch keys: uint8 images `(N, C, H, W)` as `pixel_values`, int64
`labels` `(N,)`, and so on. They are written once per (kind, dataset content, split, options) into a folder
of `.npy` files, renamed into place when complete, and memory-mapped from then on: no decoding in the
training loop, a dataset bounded by disk rather than RAM, one file that every accelerate process maps.
Unreadable files follow one policy for every kind (`BadFiles`): a clear error naming them, or with
`skip_bad_files` a counted skip.
"""

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..compat import dataset_fingerprint
from ..errors import UserInputError

# bump when tensorizing changes (2: arrays named by batch key, one cache for every kind; 3: 16-bit and float images
# scaled, grey with alpha is grey)
CACHE_VERSION = 3


def cache_root() -> Path:
    """`$HF_GENZOO_CACHE`, else `$XDG_CACHE_HOME/hf_genzoo`, else `~/.cache/hf_genzoo`."""
    if os.environ.get("HF_GENZOO_CACHE"):
        return Path(os.environ["HF_GENZOO_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hf_genzoo"


def decode_captions(caption_bytes: np.ndarray) -> list[str]:
    """`(N, W)` zero-padded UTF-8 bytes -> the N captions."""
    return [bytes(row).rstrip(b"\0").decode(errors="replace") for row in np.asarray(caption_bytes)]


@dataclass
class TensorData:
    """A tensorized split.

    Args:
        arrays (`dict[str, np.ndarray]`): batch key -> array `(N, ...)`, memory-mapped.
        kind (`str`): the data kind that wrote it.
        options (`dict`): the kind's options as realized (e.g. the native resolution when none was asked for);
            loading another split with them gives matching arrays.
        name, split (`str`): the dataset and split.
        label_names (`list[str]`, *optional*): names of the class ids in `labels`.
        n_skipped (`int`): unreadable files skipped (`skip_bad_files`).
        warnings (`list[str]`): what the kind found worth saying about the data (e.g. empty captions).
    """

    arrays: dict[str, np.ndarray]
    kind: str
    options: dict[str, Any]
    name: str
    split: str
    label_names: list[str] | None = None
    n_skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    @property
    def labels(self) -> np.ndarray | None:
        return self.arrays.get("labels")

    # --- views of the image kinds
    @property
    def images(self) -> np.ndarray:
        return self.arrays["pixel_values"]  # (N, C, H, W) uint8

    @property
    def captions(self) -> list[str]:
        """The `captioned_images` kind's captions, decoded."""
        return decode_captions(self.arrays["caption_bytes"])

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


class BadFileError(UserInputError):
    """Files of a dataset could not be read (and `skip_bad_files` was not given)."""


@dataclass
class BadFiles:
    """The bad-file policy of every kind: `add` each unreadable record while tensorizing, then `check` stops with
    their names, or, with `skip`, lets the kind keep the rest and count them."""

    dataset: str
    skip: bool
    found: list[tuple[str, Exception]] = field(default_factory=list)

    def add(self, where: str, err: Exception) -> None:
        self.found.append((where, err))

    def check(self, what: str = "file") -> None:
        if self.found and not self.skip:
            listing = "\n".join(f"  {p}: {e}" for p, e in self.found[:10])
            more = f"\n  ... and {len(self.found) - 10} more" if len(self.found) > 10 else ""
            raise BadFileError(
                f"{len(self.found)} unreadable {what}(s) in {self.dataset!r}:\n{listing}{more}\n"
                f"Fix or remove them, or pass --skip_bad_files."
            )


@dataclass(frozen=True)
class DataKind:
    r"""
    One kind of data, as the cache sees it.

    Args:
        name (`str`): what a `Family` names as its `data_kind`.
        defaults (`dict`): the options `load_data` takes for this kind, with their defaults.
        resolve (`Callable`): `(dataset, split, options) -> Source`, the split found and its columns checked.
        tensorize (`Callable`): `(source, folder, options, bad_files) -> meta`: writes one `<batch key>.npy` per
            array into `folder` and returns `{"options": realized options, "label_names": ..., "n_skipped": ...}`.
        token (`Callable`, *optional*): `(dataset, split, options) -> str | None`, a cache key known without
            loading the dataset (the built-ins), else its `datasets` fingerprint is used.
        options_key (`Callable`, *optional*): `(options) -> JSON-able`, the options as the cache key holds them
            (e.g. a tokenizer's vocabulary rather than its name); default: the options themselves.
    """

    name: str
    defaults: dict[str, Any]
    resolve: Callable
    tensorize: Callable
    token: Callable = lambda dataset, split, options: None
    options_key: Callable = lambda options: sorted(options.items())


KINDS: dict[str, DataKind] = {}


def register_kind(kind: DataKind) -> DataKind:
    KINDS[kind.name] = kind
    return kind


def load_data(
    kind: str,
    name: str,
    split: str = "train",
    *,
    skip_bad_files: bool = False,
    cache_dir: str | os.PathLike | None = None,
    **options,
) -> TensorData:
    """Split `split` of dataset `name` as the data kind `kind` with `options`, tensorized on first use and
    memory-mapped from the cache after that."""
    if kind not in KINDS:
        raise UserInputError(f"unknown data kind {kind!r}; known: {', '.join(KINDS)}")
    k = KINDS[kind]
    unknown = sorted(set(options) - set(k.defaults))
    if unknown:
        raise UserInputError(f"the {kind} data kind takes no option(s) {unknown}; it takes {sorted(k.defaults)}")
    options = {**k.defaults, **options}
    token, src = k.token(name, split, options), None
    if token is None:
        src = k.resolve(name, split, options)
        token = [src.cache_token or dataset_fingerprint(src.dataset), src.columns()]
    key_parts = [CACHE_VERSION, kind, token, name, split, k.options_key(options), skip_bad_files]
    key = hashlib.sha1(json.dumps(key_parts, default=str).encode()).hexdigest()[:16]
    safe_name = "".join(c if c.isalnum() else "_" for c in f"{name}-{split}")[-60:]
    folder = Path(cache_dir or cache_root() / "tensors") / f"{safe_name}-{key}"
    if not (folder / "meta.json").exists():
        _write_cache(k, src or k.resolve(name, split, options), folder, options, BadFiles(name, skip_bad_files))
    meta = json.loads((folder / "meta.json").read_text())
    arrays = {a: np.load(folder / f"{a}.npy", mmap_mode="r") for a in meta["arrays"]}
    return TensorData(
        arrays, kind, meta["options"], name, split, meta["label_names"], meta["n_skipped"], meta.get("warnings", [])
    )


def _write_cache(kind: DataKind, src, folder: Path, options: dict, bad_files: BadFiles) -> None:
    """Tensorize into a temporary folder, then rename it into place (atomic: no half-written cache)."""
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        meta = kind.tensorize(src, tmp, options, bad_files)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    meta = {"arrays": sorted(p.stem for p in tmp.glob("*.npy")), "label_names": None, "n_skipped": 0, **meta}
    (tmp / "meta.json").write_text(json.dumps(meta, default=str))
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
