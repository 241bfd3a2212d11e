"""Dataset names -> `Source`s.

A name is one of the built-ins (`digits`, `fashion_mnist`, `cifar100`), `imagefolder:<path>`, a
local file or folder that `datasets` reads, or a Hub dataset id (`user/name`). Which columns a data
kind needs, and their checks, are the kind's (`images.py`).
"""

import os
from pathlib import Path

from datasets import ClassLabel, Value

from ..errors import UserInputError
from .point_files import load_pointfolder_split
from .sources import BUILTIN, Source, load_audiofolder_split, load_file_split, load_hub_split, load_imagefolder_split

LABEL_COLUMN_GUESSES = ("label", "labels", "fine_label", "class")


def known_datasets() -> str:
    lines = [f"  {name:<15} {b.description}" for name, b in BUILTIN.items()]
    lines += [
        "  imagefolder:<path>  a folder of images, one sub-folder per class",
        "  audiofolder:<path>  a folder of audio files, one sub-folder per class",
        "  pointfolder:<path>  a folder of point-cloud / mesh files (.ply .off .obj ...), one sub-folder per class",
        "  <path>          a local parquet / arrow / csv file or a folder datasets can load",
        "  <user>/<name>   any Hub dataset with an image column (--image_column, --label_column)",
    ]
    return "\n".join(lines)


def hub_dataset_id(name: str) -> str | None:
    """The Hub id of a dataset name, when it has one (a built-in's, or a Hub id itself; `digits` has none)."""
    if name in BUILTIN:
        return BUILTIN[name].hub_id
    return name if "/" in name and ":" not in name and not Path(name).exists() else None


def open_split(name: str, split: str, image_column: str | None = None, label_column: str | None = None) -> Source:
    """Find the data of `name` for `split`; given columns replace the source's own (checked by the data kind)."""
    if name in BUILTIN:
        src = BUILTIN[name].loader(split)
    elif name.startswith("imagefolder:"):
        src = load_imagefolder_split(name.split(":", 1)[1], split, image_column, label_column)
    elif name.startswith("audiofolder:"):
        src = load_audiofolder_split(name.split(":", 1)[1], split)
    elif name.startswith("pointfolder:"):
        src = load_pointfolder_split(name.split(":", 1)[1], split)
    elif os.path.isfile(name):
        src = load_file_split(name, split, image_column, label_column)
    elif os.path.isdir(name) or name.count("/") == 1 and not name.startswith((".", "/")):
        src = load_hub_split(name, split, image_column, label_column)
    else:
        raise UserInputError(f"unknown dataset {name!r}. Known datasets:\n{known_datasets()}")
    if image_column is not None:
        src.image_column = image_column
    if label_column is not None:
        src.label_column = label_column
    return src


def pick_column(name: str, src: Source, given: str | None, kinds: tuple, guesses: tuple, flag: str) -> str:
    """The column `given` (checked), or the first column whose feature is one of `kinds`, or named one of `guesses`;
    a `UserInputError` listing the columns when there is none."""
    features = src.dataset.features
    columns = list(features)
    if given is not None:
        if given not in columns:
            raise UserInputError(f"dataset {name!r} has no column {given!r}; its columns are {columns}")
        return given
    found = [c for c in columns if isinstance(features[c], kinds)] + [c for c in guesses if c in columns]
    if not found:
        what = flag.removeprefix("--").removesuffix("_column")
        raise UserInputError(f"dataset {name!r} has no {what} column; its columns are {columns}. Pass {flag}.")
    return found[0]


def check_label_column(name: str, src: Source) -> None:
    """Check the given label column, or guess one (`label`, ...); its class names come from a `ClassLabel`."""
    features = src.dataset.features
    columns = list(features)
    guessed = src.label_column is None
    if guessed:
        src.label_column = next((c for c in LABEL_COLUMN_GUESSES if c in columns), None)
    elif src.label_column not in columns:
        raise UserInputError(f"dataset {name!r} has no label column {src.label_column!r}; its columns are {columns}")
    if src.label_column is not None:
        feat = features[src.label_column]
        if isinstance(feat, ClassLabel):
            src.label_names = src.label_names or list(feat.names)
        elif guessed and not (isinstance(feat, Value) and feat.dtype.startswith(("int", "uint"))):
            src.label_column = None  # a guessed column that holds no class ids: go without labels
        elif not (isinstance(feat, Value) and feat.dtype.startswith(("int", "uint"))):
            raise UserInputError(
                f"label column {src.label_column!r} of {name!r} holds {feat}, not class ids; "
                f"pass --label_column with an integer or ClassLabel column"
            )
