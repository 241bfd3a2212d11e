"""Batches from a tensorized split of any kind: whole batches sliced from its memory-mapped arrays.

`TensorDataset.__getitems__` returns a ready batch (one tensor per array, under the array's batch key), so
the DataLoader does no per-sample collation; `accelerate.prepare` shards it across processes. Conversion to
float and augmentation run batched on the training device (`to_unit_range`, `random_hflip`).
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import UserInputError
from .tensorize import TensorData


class TensorDataset(Dataset):
    """Items are dicts of the split's arrays by batch key (images: `{"pixel_values": uint8 (C, H, W), "labels":
    int64}`); batches come whole."""

    def __init__(self, data: TensorData):
        self.data = data
        # plain ndarray views of the memory maps: indexing an `np.memmap` builds memmap subclasses on the way, about
        # 6x the cost of the read itself for a batch of 128 small images (the same bytes, the same mapping)
        self.arrays = {key: np.asarray(a) for key, a in data.arrays.items()}

    def __len__(self) -> int:
        return len(self.data)

    def __getitems__(self, indices: list[int]) -> dict:
        """The items in the order asked: accelerate pads a multi-process run's last batch at its end and
        `gather_for_metrics` drops that tail, so a reordered batch would count padding and lose real items."""
        order = np.argsort(np.asarray(indices), kind="stable")
        back = np.argsort(order)  # sorted position -> asked position
        idx = np.asarray(indices)[order]  # sorted reads are sequential on the memory map
        return {key: torch.from_numpy(np.ascontiguousarray(a[idx][back])) for key, a in self.arrays.items()}

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


def make_loader(
    data: TensorData, batch_size: int, *, shuffle: bool, seed: int = 0, drop_last: bool = False
) -> DataLoader:
    """A DataLoader over `data` that yields dict batches; shuffled by `EpochShuffleSampler`."""
    if len(data) == 0:
        raise UserInputError(f"{data.name} ({data.split}) has no examples")
    sampler = EpochShuffleSampler(len(data), seed) if shuffle else None
    return DataLoader(
        TensorDataset(data),
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
