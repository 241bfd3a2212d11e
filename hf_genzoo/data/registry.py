"""Dataset names -> `Source`s, with the columns checked.

A name is one of the built-ins (`digits`, `fashion_mnist`, `cifar100`), `imagefolder:<path>`, a
local file or folder that `datasets` reads, or a Hub dataset id (`user/name`).
"""

import os

from datasets import Array2D, Array3D, ClassLabel, Image, Value

from .sources import BUILTIN, Source, load_file_split, load_hub_split, load_imagefolder_split

IMAGE_COLUMN_GUESSES = ("image", "img", "pixel_values", "images")
LABEL_COLUMN_GUESSES = ("label", "labels", "fine_label", "class")


def known_datasets() -> str:
    lines = [f"  {name:<15} {b.description}" for name, b in BUILTIN.items()]
    lines += [
        "  imagefolder:<path>  a folder of images, one sub-folder per class",
        "  <path>          a local parquet / arrow / csv file or a folder datasets can load",
        "  <user>/<name>   any Hub dataset with an image column (--image_column, --label_column)",
    ]
    return "\n".join(lines)


def resolve_source(name: str, split: str, image_column: str | None = None, label_column: str | None = None) -> Source:
    """Find the data of `name` for `split` and check (or guess) its image and label columns."""
    if name in BUILTIN:
        src = BUILTIN[name].loader(split)
    elif name.startswith("imagefolder:"):
        src = load_imagefolder_split(name.split(":", 1)[1], split, image_column, label_column)
    elif os.path.isfile(name):
        src = load_file_split(name, split, image_column, label_column)
    elif os.path.isdir(name) or name.count("/") == 1 and not name.startswith((".", "/")):
        src = load_hub_split(name, split, image_column, label_column)
    else:
        raise ValueError(f"unknown dataset {name!r}. Known datasets:\n{known_datasets()}")
    if image_column is not None:
        src.image_column = image_column
    if label_column is not None:
        src.label_column = label_column
    _check_columns(name, src)
    return src


def _check_columns(name: str, src: Source) -> None:
    features = src.dataset.features
    columns = list(features)
    if src.image_column is None:
        guesses = [c for c in columns if isinstance(features[c], (Image, Array2D, Array3D))]
        guesses += [c for c in IMAGE_COLUMN_GUESSES if c in columns]
        if not guesses:
            raise ValueError(f"dataset {name!r} has no image column; its columns are {columns}. Pass --image_column.")
        src.image_column = guesses[0]
    elif src.image_column not in columns:
        raise ValueError(f"dataset {name!r} has no column {src.image_column!r}; its columns are {columns}")
    guessed = src.label_column is None
    if guessed:
        src.label_column = next((c for c in LABEL_COLUMN_GUESSES if c in columns), None)
    elif src.label_column not in columns:
        raise ValueError(f"dataset {name!r} has no label column {src.label_column!r}; its columns are {columns}")
    if src.label_column is not None:
        feat = features[src.label_column]
        if isinstance(feat, ClassLabel):
            src.label_names = src.label_names or list(feat.names)
        elif guessed and not (isinstance(feat, Value) and feat.dtype.startswith(("int", "uint"))):
            src.label_column = None  # a guessed column that holds no class ids: go without labels
        elif not (isinstance(feat, Value) and feat.dtype.startswith(("int", "uint"))):
            raise ValueError(
                f"label column {src.label_column!r} of {name!r} holds {feat}, not class ids; "
                f"pass --label_column with an integer or ClassLabel column"
            )
