"""Batches from a tensorized split: whole batches sliced from the memory-mapped uint8 array.

`ImageTensorDataset.__getitems__` returns a ready batch, so the DataLoader does no per-sample
collation; `accelerate.prepare` shards it across processes. Conversion to float and augmentation
run batched on the training device (`to_unit_range`, `random_hflip`).
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .tensorize import ImageData


class ImageTensorDataset(Dataset):
    """Items are dicts `{"pixel_values": uint8 (C, H, W), "labels": int64}`; batches come whole."""

    def __init__(self, data: ImageData):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitems__(self, indices: list[int]) -> dict:
        idx = np.sort(np.asarray(indices))  # sorted reads are sequential on the memory map
        batch = {"pixel_values": torch.from_numpy(np.ascontiguousarray(self.data.images[idx]))}  # (B, C, H, W)
        if self.data.labels is not None:
            batch["labels"] = torch.from_numpy(self.data.labels[idx])
        return batch

    def __getitem__(self, i: int) -> dict:
        return {k: v[0] for k, v in self.__getitems__([i]).items()}


class EpochShuffleSampler(Sampler):
    """A permutation that depends only on (seed, epoch): resuming mid-epoch replays the same order."""

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def _batch_as_is(batch):
    return batch


def make_loader(data: ImageData, batch_size: int, *, shuffle: bool, seed: int = 0, drop_last: bool = False) -> DataLoader:
    """A DataLoader over `data` that yields dict batches; shuffled by `EpochShuffleSampler`."""
    if len(data) == 0:
        raise ValueError(f"{data.name} ({data.split}) has no images")
    sampler = EpochShuffleSampler(len(data), seed) if shuffle else None
    return DataLoader(
        ImageTensorDataset(data),
        batch_size=min(batch_size, len(data)) if drop_last else batch_size,
        sampler=sampler,
        drop_last=drop_last,
        collate_fn=_batch_as_is,
        generator=torch.Generator().manual_seed(seed),  # keeps the global RNG untouched
    )


def to_unit_range(pixel_values: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """uint8 `(B, C, H, W)` -> float in [0, 1] (on the tensor's device)."""
    return pixel_values.to(dtype) / 255.0


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image of `(B, C, H, W)` left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
