"""The `audio` data kind: fixed-length int16 segments `(N, channels, samples)` (`audio_values`) at one sampling rate.

Each clip is decoded once with `soundfile`, converted to `channels` (a mono clip is copied to both sides of a stereo
one, a stereo clip averaged for a mono one), resampled with `scipy.signal.resample_poly` (torchaudio has no build
for this torch), and cut into consecutive segments of `segment_seconds`; a clip shorter than one segment is
zero-padded to one, the tail of a longer one that does not fill a segment is dropped. A file that cannot be read,
holds no frames, has more than two channels or is silent is a bad file (named in the error, or skipped and counted
with `skip_bad_files`). Labels, if any, repeat per segment. Sources: any dataset with an `Audio` column (Hub ids,
local folders, `audiofolder:<path>`), or a column of audio file paths. Options: `sampling_rate` (default 16000),
`channels` (default 2), `segment_seconds` (default 1.0), `audio_column` and `label_column` (default: guessed).
"""

import io
import math
from pathlib import Path

import numpy as np
from datasets import Audio

from ..errors import UserInputError
from ..sound import INT16_SCALE, resample
from .registry import check_label_column, open_split, pick_column
from .sources import Source
from .tensorize import BadFiles, DataKind, register_kind

OPTIONS = {"sampling_rate": 16_000, "channels": 2, "segment_seconds": 1.0, "audio_column": None, "label_column": None}
AUDIO_COLUMN_GUESSES = ("audio", "file", "path")
SILENCE = 1e-4  # a clip whose peak is below this (-80 dBFS) holds nothing to denoise


def _check_options(options: dict) -> None:
    if options["channels"] not in (1, 2):
        raise UserInputError(f"audio channels must be 1 (mono) or 2 (stereo), got {options['channels']}")
    if options["sampling_rate"] < 1 or options["segment_seconds"] <= 0:
        raise UserInputError(f"sampling_rate and segment_seconds must be positive, got {options}")


def resolve(name: str, split: str, options: dict) -> Source:
    _check_options(options)
    src = open_split(name, split, label_column=options["label_column"])
    given = options["audio_column"] or src.other_columns.get("audio")
    src.other_columns["audio"] = pick_column(name, src, given, (Audio,), AUDIO_COLUMN_GUESSES, "--audio_column")
    check_label_column(name, src)
    return src


def _file(record):
    """What soundfile opens: the bytes of a decoded-later `Audio` record, or a path."""
    if isinstance(record, str):
        return record
    return io.BytesIO(record["bytes"]) if record.get("bytes") else record["path"]


def _where(record, i: int) -> str:
    return record if isinstance(record, str) else (record.get("path") or f"row {i}")


def _resampled_length(frames: int, rate: int, target: int) -> int:
    g = math.gcd(rate, target)
    return math.ceil(frames * (target // g) / (rate // g))


def tensorize(src: Source, folder: Path, options: dict, bad_files: BadFiles) -> dict:
    import soundfile as sf

    col, rate, channels = src.other_columns["audio"], options["sampling_rate"], options["channels"]
    ds = src.dataset
    if isinstance(ds.features[col], Audio):
        ds = ds.cast_column(col, Audio(decode=False))  # the files' bytes: decoded here, once, by soundfile
    records = ds[col]
    length = round(options["segment_seconds"] * rate)
    # 1. segments per clip, from each file's header (no decoding yet)
    plan = []
    for i, record in enumerate(records):
        try:
            info = sf.info(_file(record))
            if info.frames == 0:
                raise ValueError("the file holds no audio (0 frames)")
            if info.channels > 2:
                raise ValueError(f"it has {info.channels} channels; mono and stereo clips are supported")
            plan.append((i, max(1, _resampled_length(info.frames, info.samplerate, rate) // length)))
        except (RuntimeError, OSError, TypeError, ValueError) as err:  # soundfile's LibsndfileError: a RuntimeError
            bad_files.add(_where(record, i), err)
    total = sum(n for _, n in plan)
    out = np.lib.format.open_memmap(
        folder / "audio_values.npy", mode="w+", dtype=np.int16, shape=(total, channels, length)
    )
    # 2. decode, convert the channels, resample, cut: (T, c) -> (n, channels, length); a silent clip is a bad file
    start, kept = 0, []
    for i, n in plan:
        try:  # a header that parses does not promise data that decodes
            data, sr = sf.read(_file(records[i]), dtype="float32", always_2d=True)
        except (RuntimeError, OSError, TypeError, ValueError) as err:
            bad_files.add(_where(records[i], i), err)
            continue
        if np.abs(data).max() < SILENCE:
            bad_files.add(_where(records[i], i), ValueError("the clip is silent (its peak is below -80 dBFS)"))
            continue
        kept.append((i, n))
        x = data.T  # (c, T)
        x = x.mean(0, keepdims=True) if channels == 1 else (np.repeat(x, 2, 0) if x.shape[0] == 1 else x)
        x = resample(x, sr, rate, n * length)  # (channels, n * length)
        out[start : start + n] = (
            np.round(np.clip(x, -1, 1) * INT16_SCALE).reshape(channels, n, length).transpose(1, 0, 2)
        )
        start += n
    bad_files.check("audio file")
    out.flush()
    if start < total:  # silent clips skipped: keep the segments written
        del out
        np.save(folder / "kept.npy", np.load(folder / "audio_values.npy", mmap_mode="r")[:start])
        (folder / "kept.npy").replace(folder / "audio_values.npy")
    if src.label_column is not None:
        labels = np.asarray(ds[src.label_column], dtype=np.int64)
        np.save(folder / "labels.npy", np.repeat(labels[[i for i, _ in kept]], [n for _, n in kept]))
    return {"options": options, "label_names": src.label_names, "n_skipped": len(bad_files.found)}


AUDIO = register_kind(DataKind("audio", OPTIONS, resolve, tensorize))
