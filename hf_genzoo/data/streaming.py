"""The streamed alternative to the cache, for a split larger than the disk: `load_dataset(..., streaming=True)`, one
share per process (`split_dataset_by_node`), a seeded shuffle buffer, and the cache's own conversion per example.

`stream_data` returns a `StreamData`: a `TensorData` whose arrays are the first `head` examples of the whole split
(the same in every process: what a family builds its model from, its channel statistics, the pictures), and whose
`batches(batch_size, epoch)` yields this process's share as dict batches with the keys, dtypes and values that
`make_loader` gives for the cache of the same split. Its length is not known ahead (`len()` raises): a streamed
run counts steps, not epochs, and two processes' shares may differ in length (files of unequal size).

It reads the names `open_split` does, through `datasets`' streaming: a Hub id, a local folder, `imagefolder:<path>`,
a parquet / arrow / csv / json file, a glob of them or a list. Built-ins and `save_to_disk` folders, already small
or on disk, stream from memory (`Dataset.to_iterable_dataset`), so a `--streaming` run works on every dataset.
Only the `images` kind streams: the other kinds tensorize with a pass over the whole split (the tokenizer learned
from every caption, the audio segmented across files, the point sets' normalization), which a stream does not have.
"""

import glob
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from datasets import Array2D, Array3D, ClassLabel, Image, IterableDataset, Value
from datasets.distributed import split_dataset_by_node
from torch.utils.data import DataLoader

from ..compat import resolved_features
from ..errors import UserInputError
from .images import IMAGE_COLUMN_GUESSES, UNREADABLE, _check_options, _open, _pil_to_uint8, native_shape, stack_to_uint8
from .registry import check_label_column, known_datasets, pick_column
from .sources import BUILTIN, Source, _load_split, file_builder, load_hub_split
from .tensorize import KINDS, BadFiles, TensorData

STREAMING_KINDS = ("images",)
SHARDS_PER_PROCESS = 16  # an in-memory split streams as this many shards per process: whole shards per process
# (no reading of the others' examples) and a shard order to shuffle


@dataclass
class Rows:
    """How a row of the split becomes one example of the cache's arrays (`pixel_values` `(C, H, W)` uint8, `labels`
    int64), at the realized `resolution` and `channels`."""

    image_column: str
    label_column: str | None
    files: bool  # an `Image` column (files, decoded here with PIL) rather than an array column
    dtype: str | None = None  # an array column's
    resolution: int | None = None
    channels: int | None = None

    def example(self, row: dict) -> dict[str, np.ndarray]:
        value = row[self.image_column]
        if value is None:
            raise ValueError("the row holds no image")
        if self.files:
            pixels = _pil_to_uint8(_open(value), self.resolution, self.channels)  # (C, H, W)
        else:
            one = np.asarray(value, dtype=self.dtype)[None]  # (1, H, W[, C])
            pixels = stack_to_uint8(one, self.resolution, self.channels)[0]  # (C, H, W)
        out = {"pixel_values": pixels}
        if self.label_column is not None:
            out["labels"] = np.int64(row[self.label_column])
        return out

    def realize(self, row: dict, options: dict) -> None:
        """Take the resolution and channels of the first readable row where the options give none (as the cache)."""
        if self.files:
            self.channels, self.resolution = native_shape(_open(row[self.image_column]), options)
        else:
            self.resolution, self.channels = options["resolution"], options["channels"]
            pixels = self.example(row)["pixel_values"]
            self.channels, self.resolution = pixels.shape[0], pixels.shape[1]

    def where(self, row: dict) -> str:
        """What names an unreadable row: its file, else its other scalar columns (a stream has no row numbers)."""
        value = row.get(self.image_column)
        if isinstance(value, dict) and value.get("path"):
            return str(value["path"])
        others = {k: v for k, v in row.items() if k != self.image_column}
        return f"the row {others}"[:200] if others else "a row with no file name and no other columns"


@dataclass
class StreamData(TensorData):
    """A streamed split: `arrays` hold its first `head` examples (every process the same), `batches` stream the share
    of this process. `len()` raises: the length of a stream is not known ahead.

    Args:
        share (`datasets.IterableDataset`): this process's share of the split, shuffled with `seed`, rows undecoded.
        rows (`Rows`): how a row becomes an example.
        rank, world_size (`int`): this process, of how many.
        by_shards (`bool`): each process reads whole shards (files) of its own; else every process reads every
            example and keeps one in `world_size` (the shards do not divide among the processes).
        skip_bad_files (`bool`): skip unreadable rows (counted) rather than raise `BadFileError`.
        skipped (`set[str]`): the unreadable rows skipped so far (`skip_bad_files`), in the head and in this process's
            share as it streamed; `n_skipped` is their number.
    """

    share: IterableDataset | None = None
    rows: Rows | None = None
    rank: int = 0
    world_size: int = 1
    by_shards: bool = False
    skip_bad_files: bool = False
    skipped: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        raise TypeError(
            f"the streamed split {self.name!r} ({self.split}) has no length known ahead: count steps (--max_steps), "
            f"and use len(data.images) for the {len(self.images)} examples of its head"
        )

    def __bool__(self) -> bool:  # without it, `if data:` would call `__len__`
        return True

    def head(self) -> TensorData:
        """The first examples, as an in-memory split of known length (a streamed run's held-out examples)."""
        return TensorData(
            self.arrays, self.kind, self.options, self.name, self.split, self.label_names, self.n_skipped, self.warnings
        )

    def examples(self, epoch: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """This process's share, one example at a time, in the order of `epoch` (seeded: the same epoch gives the same
        order); unreadable rows raise `BadFileError`, or with `skip_bad_files` are counted and skipped."""
        self.share.set_epoch(epoch)
        for row in self.share:
            try:
                yield self.rows.example(row)
            except UNREADABLE as err:
                where = self.rows.where(row)
                bad = BadFiles(self.name, self.skip_bad_files)
                bad.add(where, err)
                bad.check("image file")
                self.skipped.add(where)
                self.n_skipped = len(self.skipped)

    def batches(self, batch_size: int, epoch: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """`examples` in batches as `make_loader` gives them (`{"pixel_values": uint8 (B, C, H, W), "labels": int64
        (B,)}`); the last partial batch is dropped, as in training."""
        if batch_size < 1:
            raise UserInputError(f"batch_size must be a positive number, got {batch_size}")
        it = self.examples(epoch)
        while len(chunk := list(itertools.islice(it, batch_size))) == batch_size:
            yield {key: torch.from_numpy(np.stack([e[key] for e in chunk])) for key in chunk[0]}


class StreamBatches(torch.utils.data.IterableDataset):
    """`StreamData.batches` as a torch `IterableDataset`, with the `set_epoch` that accelerate and our loop call."""

    def __init__(self, stream: StreamData, batch_size: int):
        self.stream, self.batch_size, self.epoch = stream, batch_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self.stream.batches(self.batch_size, self.epoch)


class StreamLoader(DataLoader):
    """A DataLoader of whole batches of a stream; `set_epoch` as on the map-style loader that accelerate prepares."""

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)


def make_stream_loader(stream: StreamData, batch_size: int) -> DataLoader:
    """A DataLoader over `stream.batches` (already this process's share: not for `accelerator.prepare`, which would
    dispatch or split it again). Decoding runs in this process (`num_workers=0`)."""
    return StreamLoader(StreamBatches(stream, batch_size), batch_size=None, num_workers=0)


def stream_data(
    kind: str,
    name: str | list[str],
    split: str = "train",
    *,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    shuffle_buffer: int = 1000,
    head: int = 1024,
    skip_bad_files: bool = False,
    **options,
) -> StreamData:
    r"""
    Split `split` of dataset `name` as the data kind `kind`, streamed: the share of process `rank` of `world_size`.

    Args:
        kind (`str`): the data kind; only `"images"` streams.
        name (`str` or `list[str]`): what `load_data` takes, or a glob or list of parquet / arrow / csv / json files.
        split (`str`, defaults to `"train"`): a split name; a stream is read whole, so no slices (`train[:90%]`).
        rank, world_size (`int`, defaults to 0 and 1): this process, of how many (accelerate's `process_index` and
            `num_processes`).
        seed (`int`, defaults to 0): of the shard order and the shuffle buffer; the same in every process, as
            `split_dataset_by_node` needs.
        shuffle_buffer (`int`, defaults to 1000): examples held to shuffle among (0: the stored order).
        head (`int`, defaults to 1024): the first examples of the whole split, tensorized in memory (`arrays`).
        skip_bad_files (`bool`, defaults to False): skip and count unreadable images instead of stopping.
        options: the kind's options (`resolution`, `channels`, `image_column`, `label_column`).
    """
    if kind not in KINDS:
        raise UserInputError(f"unknown data kind {kind!r}; known: {', '.join(KINDS)}")
    if kind not in STREAMING_KINDS:
        raise UserInputError(
            f"the {kind} data kind does not stream (only {', '.join(STREAMING_KINDS)} do): drop --streaming"
        )
    unknown = sorted(set(options) - set(KINDS[kind].defaults))
    if unknown:
        raise UserInputError(
            f"the {kind} data kind takes no option(s) {unknown}; it takes {sorted(KINDS[kind].defaults)}"
        )
    options = {**KINDS[kind].defaults, **options}
    _check_options(options)
    if not 0 <= rank < world_size:
        raise UserInputError(f"rank must be in [0, world_size), got rank {rank} of world_size {world_size}")
    if head < 1 or shuffle_buffer < 0:
        raise UserInputError(f"head must be >= 1 and shuffle_buffer >= 0, got {head} and {shuffle_buffer}")
    title = name if isinstance(name, str) else ",".join(map(str, name))

    # 1. the split, its columns checked or guessed as the cache does
    src = open_stream(name, split, options["image_column"], options["label_column"], world_size=world_size)
    feature_kinds = (Image, Array2D, Array3D)
    src.image_column = pick_column(title, src, src.image_column, feature_kinds, IMAGE_COLUMN_GUESSES, "--image_column")
    check_label_column(title, src)
    features = src.dataset.features
    feature = features[src.image_column]
    if not isinstance(feature, feature_kinds):
        raise UserInputError(f"column {src.image_column!r} of {title!r} holds {feature}, not images")
    rows = Rows(src.image_column, src.label_column, isinstance(feature, Image), getattr(feature, "dtype", None))
    naming = [c for c, f in features.items() if isinstance(f, (Value, ClassLabel)) and c != src.image_column]
    whole = src.dataset.select_columns([src.image_column, *naming])  # scalars name an unreadable row
    if rows.files:
        whole = whole.cast_column(src.image_column, Image(decode=False))  # decoded here, under the bad-file policy

    # 2. the head: the first examples of the whole split, in memory; the realized options
    bad, kept = BadFiles(title, skip_bad_files), []
    for row in itertools.islice(whole, head):
        try:
            if rows.resolution is None:
                rows.realize(row, options)
            kept.append(rows.example(row))
        except UNREADABLE as err:
            bad.add(rows.where(row), err)
    bad.check("image file")
    if not kept:
        what = f"none of the first {len(bad.found)} images of" if bad.found else "no examples in"
        raise UserInputError(f"{what} {title!r} ({split}) can be read")
    arrays = {key: np.stack([e[key] for e in kept]) for key in kept[0]}  # (n, C, H, W) uint8, (n,) int64
    realized = {**options, "resolution": rows.resolution, "channels": rows.channels}

    # 3. this process's share, shuffled (split_dataset_by_node shuffles the shard order with the same seed first)
    share = split_dataset_by_node(whole, rank=rank, world_size=world_size)
    if shuffle_buffer:
        share = share.shuffle(seed=seed, buffer_size=shuffle_buffer)
    skipped = {where for where, _ in bad.found}
    return StreamData(
        arrays,
        kind,
        realized,
        title,
        split,
        src.label_names,
        len(skipped),
        share=share,
        rows=rows,
        rank=rank,
        world_size=world_size,
        by_shards=whole.num_shards % world_size == 0,
        skip_bad_files=skip_bad_files,
        skipped=skipped,
    )


def open_stream(
    name: str | list[str], split: str, image_column=None, label_column=None, *, world_size: int = 1
) -> Source:
    """`open_split` for streaming: a `Source` whose dataset is a `datasets.IterableDataset`, features resolved."""
    if "[" in split:
        raise UserInputError(
            f"a streamed split is read whole: give a split name, not the slice {split!r} (hold out data without "
            f"streaming, or in a split of its own)"
        )
    if not isinstance(name, str) or not os.path.exists(name) and any(c in name for c in "*?["):
        files = sorted(glob.glob(name)) if isinstance(name, str) else [str(f) for f in name]
        if not files:
            raise UserInputError(f"no files match {name!r}")
        src = _stream_files(files, split, image_column)
    elif name in BUILTIN or os.path.isdir(name) and os.path.exists(os.path.join(name, "dataset_info.json")):
        loaded = BUILTIN[name].loader(split) if name in BUILTIN else load_hub_split(name, split)
        src = _from_memory(loaded, world_size)  # small, or on disk already
    elif name.startswith("imagefolder:"):
        directory = name.split(":", 1)[1]
        if not os.path.isdir(directory):
            raise UserInputError(f"imagefolder:{directory}: no such folder")
        ds = _load_split("imagefolder", split, {"data_dir": directory, "streaming": True})
        src = Source(ds, "image")
    elif name.startswith(("audiofolder:", "pointfolder:")):
        raise UserInputError(f"{name}: only image datasets stream; drop --streaming")
    elif os.path.isfile(name):
        src = _stream_files([name], split, image_column)
    elif os.path.isdir(name) or name.count("/") == 1 and not name.startswith((".", "/")):
        src = Source(_load_split(name, split, {"streaming": True}))  # a Hub id or a local folder of files
    else:
        raise UserInputError(f"unknown dataset {name!r}. Known datasets:\n{known_datasets()}")
    src.dataset = resolved_features(src.dataset)
    src.image_column = image_column or src.image_column
    src.label_column = label_column or src.label_column
    return src


def _stream_files(files: list[str], split: str, image_column: str | None) -> Source:
    """Data files of one builder, streamed (the split "train"); csv and json image columns hold paths, relative to
    the (first) file's folder."""
    builders = {file_builder(f) for f in files}
    if len(builders) > 1:
        raise UserInputError(f"the files {files[:4]}... mix formats ({sorted(builders)}); give files of one format")
    builder = builders.pop()
    ds = resolved_features(_load_split(builder, split, {"data_files": files, "streaming": True}))
    if builder in ("csv", "json") and image_column is not None and image_column in ds.features:
        root = Path(files[0]).resolve().parent
        features = ds.features.copy()
        features[image_column] = Image(decode=False)
        ds = ds.map(lambda r: {image_column: {"path": str(root / r[image_column]), "bytes": None}}, features=features)
    return Source(ds)


def _from_memory(src: Source, world_size: int) -> Source:
    """A map-style split as a stream of `SHARDS_PER_PROCESS` shards per process (whole shards per process)."""
    n = len(src.dataset)
    if n == 0:
        raise UserInputError("the split has no examples")
    shards = world_size * max(1, min(SHARDS_PER_PROCESS, n // world_size)) if n >= world_size else n
    src.dataset = src.dataset.to_iterable_dataset(num_shards=shards)
    return src
