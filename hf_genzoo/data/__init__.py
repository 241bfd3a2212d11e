"""Data: dataset names -> `datasets.Dataset` -> tensorized once into a memory-mapped cache -> batches.

One cache serves every data kind (`load_data(kind, name, split, **options)`): images, captioned images, audio
segments, point sets (`KINDS`); a family names the kind it trains on. `load_images` is `load_data("images", ...)`.
A split larger than the disk streams instead (`stream_data`, `make_stream_loader`: images only).
"""

from . import audio, captions, latents, points, shapes, shapes3d, speech  # noqa: F401  (each registers its kind or built-in dataset)
from .batches import TensorDataset, make_loader, random_hflip, to_unit_range
from .corruption import Corruption, parse_corruption
from .images import load_images
from .registry import hub_dataset_id, known_datasets, open_split
from .streaming import STREAMING_KINDS, StreamData, make_stream_loader, stream_data
from .tensorize import KINDS, BadFileError, DataKind, TensorData, cache_root, load_data, register_kind

__all__ = [
    "KINDS",
    "STREAMING_KINDS",
    "BadFileError",
    "Corruption",
    "DataKind",
    "StreamData",
    "TensorData",
    "TensorDataset",
    "cache_root",
    "hub_dataset_id",
    "known_datasets",
    "load_data",
    "load_images",
    "make_loader",
    "make_stream_loader",
    "open_split",
    "parse_corruption",
    "random_hflip",
    "register_kind",
    "stream_data",
    "to_unit_range",
]
