"""Where images come from: each source returns a `datasets.Dataset` for one split.

Built-in names work with no network (`digits` from scikit-learn, `fashion_mnist` from the Debian
package `dataset-fashion-mnist` when present); everything else goes through `datasets.load_dataset`
(Hub ids, `imagefolder:<path>`, local parquet / arrow / csv files or folders, `save_to_disk` folders).
"""

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
from datasets import Array2D, ClassLabel, Dataset, Features, Image, load_dataset, load_from_disk
from datasets.features.features import numpy_to_pyarrow_listarray

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_HUB_ID = "zalando-datasets/fashion_mnist"
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CIFAR100_HUB_ID = "uoft-cs/cifar100"


@dataclass
class Source:
    """A resolved split: the dataset, its columns, and a token that identifies its content for the cache."""

    dataset: Dataset
    image_column: str | None = None
    label_column: str | None = None
    cache_token: str | None = None  # None: use the dataset's own fingerprint
    label_names: list[str] | None = field(default=None)


def _array_dataset(images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> Dataset:
    """Raw uint8 arrays `(N, H, W)` as a Dataset with an Array2D image column (tensorized without PIL)."""
    n, h, w = images.shape
    features = Features({"image": Array2D((h, w), "uint8"), "label": ClassLabel(names=class_names)})
    table = pa.table({"image": numpy_to_pyarrow_listarray(images), "label": pa.array(labels.astype(np.int64))})
    return Dataset(table.cast(features.arrow_schema))  # built in Arrow directly: from_dict converts row by row


def load_digits_split(split: str) -> Source:
    """scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels), split 80/20 stratified, seed 0."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test"):
        raise ValueError(f"digits has the splits 'train' and 'test', not {split!r}")
    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 -> 0..255
    train_idx, test_idx = train_test_split(
        np.arange(len(images)), test_size=0.2, random_state=0, stratify=bunch.target
    )
    idx = train_idx if split == "train" else test_idx
    ds = _array_dataset(images[idx], bunch.target[idx], [str(i) for i in range(10)])
    return Source(ds, "image", "label", cache_token=BUILTIN["digits"].token(split))


def _read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file of unsigned bytes (the MNIST format)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist_split(split: str, directory: Path = FASHION_MNIST_DIR) -> Source:
    """Fashion-MNIST from the Debian package when installed, else from the Hub."""
    if split not in ("train", "test"):
        raise ValueError(f"fashion_mnist has the splits 'train' and 'test', not {split!r}")
    prefix = "train" if split == "train" else "t10k"
    img_path = directory / f"{prefix}-images-idx3-ubyte.gz"
    if img_path.exists():
        images = _read_idx(img_path)
        labels = _read_idx(directory / f"{prefix}-labels-idx1-ubyte.gz")
        ds = _array_dataset(images, labels, FASHION_MNIST_CLASSES)
        return Source(ds, "image", "label", cache_token=_fashion_mnist_token(split))
    return load_hub_split(FASHION_MNIST_HUB_ID, split, "image", "label")


def load_cifar100_split(split: str, path: str | None = None) -> Source:
    """CIFAR-100 (`uoft-cs/cifar100`: columns `img`, `fine_label`, `coarse_label`).

    `path` is the Hub id (default), or a local folder with the same schema (e.g. its parquet files)."""
    return load_hub_split(path or CIFAR100_HUB_ID, split, "img", "fine_label")


def load_hub_split(path: str, split: str, image_column=None, label_column=None) -> Source:
    """Any dataset `datasets.load_dataset` reads: a Hub id, or a local folder of parquet/arrow/csv/images."""
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "dataset_info.json")):
        loaded = load_from_disk(path)
        if not isinstance(loaded, Dataset):
            if split not in loaded:
                raise ValueError(f"{path} has the splits {list(loaded)}, not {split!r}")
            loaded = loaded[split]
        return Source(loaded, image_column, label_column)
    return Source(_load_split(path, split, {}), image_column, label_column)


def load_file_split(path: str, split: str, image_column=None, label_column=None) -> Source:
    """A single parquet / arrow / csv / json file; csv and json image columns hold file paths."""
    builder = {".parquet": "parquet", ".arrow": "arrow", ".csv": "csv", ".json": "json", ".jsonl": "json"}
    suffix = Path(path).suffix.lower()
    if suffix not in builder:
        raise ValueError(f"cannot read {path}: supported files are {sorted(builder)} (or pass a folder)")
    ds = _load_split(builder[suffix], split, {"data_files": path})  # one file is the split "train"
    if builder[suffix] in ("csv", "json") and image_column is not None and image_column in ds.column_names:
        root = Path(path).resolve().parent
        ds = ds.map(lambda r: {image_column: str(root / r[image_column])}, desc="resolving image paths")
        ds = ds.cast_column(image_column, Image())
    return Source(ds, image_column, label_column)


def load_imagefolder_split(directory: str, split: str, image_column=None, label_column=None) -> Source:
    """`datasets`' imagefolder: one sub-folder per class, optional `train/` and `test/` folders."""
    if not os.path.isdir(directory):
        raise ValueError(f"imagefolder:{directory}: no such folder")
    return Source(_load_split("imagefolder", split, {"data_dir": directory}), image_column or "image", label_column)


def _load_split(path: str, split: str, kwargs: dict) -> Dataset:
    try:
        return load_dataset(path, split=split, **kwargs)
    except ValueError as err:  # unknown split: say which exist
        if "split" in str(err).lower() and "train" not in split:
            raise ValueError(
                f"{path} has no split {split!r} ({err}). Pick a held-out split with --eval_split, "
                f"e.g. --eval_split 'train[90%:]' --train_split 'train[:90%]'."
            ) from err
        raise


def _fashion_mnist_token(split: str) -> str | None:
    path = FASHION_MNIST_DIR / f"{'train' if split == 'train' else 't10k'}-images-idx3-ubyte.gz"
    if not path.exists():
        return None
    return f"fashion_mnist-v1-{split}-{path.stat().st_size}-{int(path.stat().st_mtime)}"


@dataclass(frozen=True)
class Builtin:
    loader: Callable[[str], Source]
    description: str
    token: Callable[[str], str | None] = lambda split: None  # the cache key, known without loading


BUILTIN: dict[str, Builtin] = {
    "digits": Builtin(load_digits_split, "scikit-learn's 8x8 handwritten digits, bundled, no network",
                      lambda split: f"digits-v1-{split}"),
    "fashion_mnist": Builtin(load_fashion_mnist_split, "Fashion-MNIST 28x28 (Debian dataset-fashion-mnist or Hub)",
                             _fashion_mnist_token),
    "cifar100": Builtin(load_cifar100_split, f"CIFAR-100 32x32 RGB (Hub {CIFAR100_HUB_ID})"),
}  # fmt: skip
