"""Where images come from: each source returns a `datasets.Dataset` for one split.

Built-in names work with no network (`digits` from scikit-learn, `fashion_mnist` from the Debian
package `dataset-fashion-mnist` when present); everything else goes through `datasets.load_dataset`
(Hub ids, `imagefolder:<path>`, local parquet / arrow / csv files or folders, `save_to_disk` folders).
"""

import gzip
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from datasets import Array2D, ClassLabel, Dataset, Features, Image, ReadInstruction, Value, load_dataset, load_from_disk
from datasets.exceptions import DatasetNotFoundError

from ..compat import numpy_to_arrow_lists
from ..errors import UserInputError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_HUB_ID = "zalando-datasets/fashion_mnist"
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR100_HUB_ID = "uoft-cs/cifar100"


@dataclass
class Source:
    """A resolved split: the dataset, its columns, and a token that identifies its content for the cache."""

    dataset: Dataset
    image_column: str | None = None
    label_column: str | None = None
    cache_token: str | None = None  # None: use the dataset's own fingerprint
    label_names: list[str] | None = field(default=None)
    other_columns: dict[str, str] = field(default_factory=dict)  # a data kind's own (audio, points, captions)

    def columns(self) -> list:
        """The columns read from it (part of the cache key)."""
        return [self.image_column, self.label_column, sorted(self.other_columns.items())]


def _array_dataset(images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> Dataset:
    """Raw uint8 arrays `(N, H, W)` as a Dataset with an Array2D image column (tensorized without PIL)."""
    n, h, w = images.shape
    features = Features({"image": Array2D((h, w), "uint8"), "label": ClassLabel(names=class_names)})
    table = pa.table({"image": numpy_to_arrow_lists(images), "label": pa.array(labels.astype(np.int64))})
    return Dataset(table.cast(features.arrow_schema))  # built in Arrow directly: from_dict converts row by row


def load_digits_split(split: str) -> Source:
    """scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels), split 80/20 stratified, seed 0."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test"):
        raise UserInputError(f"digits has the splits 'train' and 'test', not {split!r}")
    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 -> 0..255
    train_idx, test_idx = train_test_split(np.arange(len(images)), test_size=0.2, random_state=0, stratify=bunch.target)
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
        raise UserInputError(f"fashion_mnist has the splits 'train' and 'test', not {split!r}")
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
                raise UserInputError(f"{path} has the splits {list(loaded)}, not {split!r}")
            loaded = loaded[split]
        return Source(loaded, image_column, label_column)
    return Source(_load_split(path, split, {}), image_column, label_column)


FILE_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".csv": "csv", ".json": "json", ".jsonl": "json"}


def file_builder(path: str) -> str:
    """The `datasets` builder that reads a data file, by its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FILE_BUILDERS:
        raise UserInputError(f"cannot read {path}: supported files are {sorted(FILE_BUILDERS)} (or pass a folder)")
    return FILE_BUILDERS[suffix]


def load_file_split(path: str, split: str, image_column=None, label_column=None) -> Source:
    """A single parquet / arrow / csv / json file; csv and json image columns hold file paths."""
    builder = file_builder(path)
    ds = _load_split(builder, split, {"data_files": path})  # one file is the split "train"
    if builder in ("csv", "json") and image_column is not None and image_column in ds.column_names:
        root = Path(path).resolve().parent
        ds = ds.map(lambda r: {image_column: str(root / r[image_column])}, desc="resolving image paths")
        ds = ds.cast_column(image_column, Image())
    return Source(ds, image_column, label_column)


def load_imagefolder_split(directory: str, split: str, image_column=None, label_column=None) -> Source:
    """`datasets`' imagefolder: one sub-folder per class, optional `train/` and `test/` folders."""
    if not os.path.isdir(directory):
        raise UserInputError(f"imagefolder:{directory}: no such folder")
    return Source(_load_split("imagefolder", split, {"data_dir": directory}), image_column or "image", label_column)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")


def load_audiofolder_split(directory: str, split: str) -> Source:
    """A folder of audio files, one sub-folder per class, optional `train/` and `test/` folders, as a dataset of
    file paths (`audio`) and class ids (`label`). `datasets`' own audiofolder decodes through torchcodec, which has
    no build for every torch; here the audio kind decodes the files itself."""
    return load_file_folder("audiofolder", directory, split, AUDIO_SUFFIXES, "audio", {"audio": "audio"})


def load_file_folder(
    prefix: str, directory: str, split: str, suffixes: tuple, column: str, other_columns: dict
) -> Source:
    """A folder of files with `suffixes`, one sub-folder per class, optional `train/`, `validation/` and `test/`
    folders, as a dataset of file paths (`column`) and class ids (`label`), for a data kind that reads the files
    itself (`audiofolder:`, `pointfolder:`). The cache token covers the files' sizes and modification times, so an
    edited file is read again."""
    root = Path(directory)
    if not root.is_dir():
        raise UserInputError(f"{prefix}:{directory}: no such folder")
    folders = {s: root / s for s in ("train", "validation", "test") if (root / s).is_dir()} or {"train": root}
    files = {s: sorted(p for p in d.rglob("*") if p.suffix.lower() in suffixes) for s, d in folders.items()}
    if not any(files.values()):
        raise UserInputError(f"{prefix}:{directory} holds no files of the kinds {', '.join(suffixes)}")
    class_of = {p: p.relative_to(folders[s]).parts[0] for s, fs in files.items() for p in fs if p.parent != folders[s]}
    classes = sorted(set(class_of.values()))
    try:
        chosen = ReadInstruction.from_spec(split).to_absolute({s: len(fs) for s, fs in files.items()})
    except (ValueError, AssertionError) as err:
        raise UserInputError(f"{prefix}:{directory} has the splits {list(files)}, not {split!r} ({err})") from None
    paths = [p for part in chosen for p in files[part.splitname][part.from_ : part.to]]
    rows = {column: [str(p) for p in paths]}
    features = {column: Value("string")}
    if classes:
        rows["label"] = [classes.index(class_of[p]) if p in class_of else -1 for p in paths]
        features["label"] = ClassLabel(names=classes)
    stamp = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    token = f"{prefix}-" + hashlib.sha1(json.dumps(stamp).encode()).hexdigest()
    dataset = Dataset.from_dict(rows, features=Features(features))
    return Source(dataset, None, "label" if classes else None, token, classes or None, other_columns)


def _load_split(path: str, split: str, kwargs: dict) -> Dataset:
    try:
        return load_dataset(path, split=split, **kwargs)
    except ConnectionError as err:  # datasets' own: the Hub (or a URL) could not be reached
        raise UserInputError(
            f"{path}: the Hub cannot be reached ({err}). Check the network (or HF_HUB_OFFLINE), or give a dataset "
            f"on disk: a folder, imagefolder:<path>, or a parquet/arrow/csv/json file"
        ) from None
    except DatasetNotFoundError as err:
        raise UserInputError(f"{path}: no such dataset ({err}); a private one needs `hf auth login`") from None
    except ValueError as err:  # unknown split: say which exist
        if "split" in str(err).lower() and "train" not in split:
            raise UserInputError(
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
    hub_id: str | None = None  # the Hub dataset it is (model cards name it)


BUILTIN: dict[str, Builtin] = {
    "digits": Builtin(
        load_digits_split, "scikit-learn's 8x8 handwritten digits, bundled, no network", lambda s: f"digits-v1-{s}"
    ),
    "fashion_mnist": Builtin(
        load_fashion_mnist_split,
        "Fashion-MNIST 28x28 (Debian dataset-fashion-mnist or Hub)",
        _fashion_mnist_token,
        FASHION_MNIST_HUB_ID,
    ),
    "cifar100": Builtin(load_cifar100_split, f"CIFAR-100 32x32 RGB (Hub {CIFAR100_HUB_ID})", hub_id=CIFAR100_HUB_ID),
}
