"""The `point_sets` data kind: float32 point clouds `(N, num_points, 3)` (`points`).

Each set comes from a column of points (a list of `[x, y, z]`, an `Array2D`, or a flat list of coordinates) or of
paths to point or mesh files (`read_point_file`: `.ply`, `.off`, `.obj`, `.stl`, `.npy`, `.xyz`, `.txt`; a mesh is
sampled uniformly on its surface at `num_points` points, seeded per row); it is resampled to `num_points` points
(without replacement when it has enough, with replacement when not; the choice seeded per row, so it is the same
every time) and, with `normalize` (the default), centred and scaled into the unit ball, as point-cloud generative
models are trained and evaluated (Achlioptas et al. 2018; Luo & Hu 2021): the one normalization of training,
metrics and samples. A row that is no point set (a file that does not parse, a mesh without surface, points that
are not `N x 3`, NaN or infinite coordinates, no points) is a bad file: named in the error, or skipped and counted
with `skip_bad_files`. Sources: the embedded `shapes3d`, `pointfolder:<path>`, any dataset with such a column (Hub
ids, parquet files). Options: `num_points` (default 2048), `normalize`, `points_column` and `label_column`
(default: guessed).
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..compat import arrow_table
from ..errors import UserInputError
from .point_files import as_points, read_point_file
from .registry import check_label_column, open_split, pick_column
from .sources import BUILTIN, Source
from .tensorize import BadFiles, DataKind, register_kind

OPTIONS = {"num_points": 2048, "normalize": True, "points_column": None, "label_column": None}
POINTS_COLUMN_GUESSES = ("points", "pointcloud", "point_cloud", "xyz", "path")


def _check_options(options: dict) -> None:
    if options["num_points"] < 1:
        raise UserInputError(f"num_points must be positive, got {options['num_points']}")


def resolve(name: str, split: str, options: dict) -> Source:
    _check_options(options)
    src = open_split(name, split, label_column=options["label_column"])
    given = options["points_column"] or src.other_columns.get("points")
    src.other_columns["points"] = pick_column(name, src, given, (), POINTS_COLUMN_GUESSES, "--points_column")
    check_label_column(name, src)
    return src


def token(name: str, split: str, options: dict) -> str | None:
    """A built-in's cache key, known without building it (given columns make it a dataset of its own)."""
    _check_options(options)
    builtin = BUILTIN.get(name)
    if builtin is None or options["points_column"] or options["label_column"]:
        return None
    return builtin.token(split)


def _is_list(arrow_type) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type)


def _records(dataset, column: str):
    """Each row of `column` as the kind reads it, one at a time (bounded memory): a path (`str`), or its coordinates,
    a list of points as `(P, 3)` read in Arrow (a Python list of lists costs ~60x more), an irregular row as Python
    values."""
    for chunk in arrow_table(dataset.select_columns([column])).column(column).chunks:
        chunk = chunk.storage if isinstance(chunk, pa.ExtensionArray) else chunk  # Array2D: lists of lists
        for i in range(len(chunk)):
            row = chunk[i]
            if not (_is_list(row.type) and row.is_valid):
                yield row.as_py()  # a path, a null
                continue
            values = row.values  # the points (lists) or the flat coordinates (numbers) of this row
            if not _is_list(values.type):
                yield values.to_numpy(zero_copy_only=False)  # (3P,); a null coordinate is NaN
            elif len(values) and pc.all(pc.equal(pc.list_value_length(values), 3)).as_py():
                yield values.flatten().to_numpy(zero_copy_only=False).reshape(len(values), 3)  # (P, 3)
            else:
                yield row.as_py()  # points of another length, or nulls: `as_points` says which


def unit_ball(points):
    """The one normalization of point sets (data, samples, metrics): each set `(..., N, 3)` (numpy or torch) centred
    on its mean and scaled so that its farthest point lies on the unit sphere."""
    if isinstance(points, np.ndarray):
        centred = points - points.mean(-2, keepdims=True)
        radius = np.linalg.norm(centred, axis=-1).max(-1, keepdims=True)  # (..., 1)
        return centred / np.maximum(radius, 1e-8)[..., None]
    centred = points - points.mean(-2, keepdim=True)
    return centred / centred.norm(dim=-1).amax(-1, keepdim=True).clamp_min(1e-8)[..., None]


def tensorize(src: Source, folder: Path, options: dict, bad_files: BadFiles) -> dict:
    col, n = src.other_columns["points"], options["num_points"]
    out = np.lib.format.open_memmap(folder / "points.npy", mode="w+", dtype=np.float32, shape=(len(src.dataset), n, 3))
    keep = []
    for i, record in enumerate(_records(src.dataset, col)):
        try:  # a mesh file is sampled on its surface at n points; a point file or a row gives its own points
            points = read_point_file(record, n, seed=[1, i]) if isinstance(record, str) else as_points(record)
        except (ValueError, OSError) as err:
            bad_files.add(record if isinstance(record, str) else f"row {i}", err)
            continue
        rng = np.random.default_rng([0, i])  # the same subset of this set every time
        points = points[rng.choice(len(points), n, replace=len(points) < n)]  # (n, 3)
        if options["normalize"]:
            points = unit_ball(points)
        out[len(keep)] = points
        keep.append(i)
    bad_files.check("point set")
    out.flush()
    if bad_files.found:  # keep only the sets that were read
        del out
        np.save(folder / "kept.npy", np.load(folder / "points.npy", mmap_mode="r")[: len(keep)])
        (folder / "kept.npy").replace(folder / "points.npy")
    if src.label_column is not None:
        np.save(folder / "labels.npy", np.asarray(src.dataset[src.label_column], dtype=np.int64)[keep])
    return {"options": options, "label_names": src.label_names, "n_skipped": len(bad_files.found)}


POINT_SETS = register_kind(DataKind("point_sets", OPTIONS, resolve, tensorize, token))
