"""Data: dataset names -> `datasets.Dataset` -> a cached uint8 tensor -> batches."""

from .batches import ImageTensorDataset, make_loader, random_hflip, to_unit_range
from .corruption import Corruption, parse_corruption
from .registry import known_datasets, resolve_source
from .tensorize import BadImageError, ImageData, cache_root, load_images

__all__ = [
    "BadImageError", "Corruption", "ImageData", "ImageTensorDataset", "cache_root", "known_datasets",
    "load_images", "make_loader", "parse_corruption", "random_hflip", "resolve_source", "to_unit_range",
]  # fmt: skip
