"""The `point_sets` data kind: float32 point clouds `(N, num_points, 3)` (`points`).

Each set comes from a column of points (a list of `[x, y, z]` or a flat list of coordinates) or of paths to
`.npy` / text (`.xyz`, `.txt`: one point a line) files; it is resampled to `num_points` points (without
replacement when it has enough, with replacement when not; the choice seeded per row, so it is the same every
time) and, with `normalize` (the default), centred and scaled into the unit ball, as point-cloud generative
models are trained and evaluated (Achlioptas et al. 2018; Luo & Hu 2021). Options: `num_points` (default 2048),
`normalize`, `points_column` and `label_column` (default: guessed).
"""

from pathlib import Path

import numpy as np

from ..errors import UserInputError
from .registry import check_label_column, open_split, pick_column
from .sources import Source
from .tensorize import BadFiles, DataKind, register_kind

OPTIONS = {"num_points": 2048, "normalize": True, "points_column": None, "label_column": None}
POINTS_COLUMN_GUESSES = ("points", "pointcloud", "point_cloud", "xyz", "path")


def resolve(name: str, split: str, options: dict) -> Source:
    if options["num_points"] < 1:
        raise UserInputError(f"num_points must be positive, got {options['num_points']}")
    src = open_split(name, split, label_column=options["label_column"])
    src.other_columns["points"] = pick_column(
        name, src, options["points_column"], (), POINTS_COLUMN_GUESSES, "--points_column"
    )
    check_label_column(name, src)
    return src


def read_points(record) -> np.ndarray:
    """One set as `(P, 3)` float32: from coordinates, or from a `.npy` or text file's path."""
    if isinstance(record, str):
        path = Path(record)
        record = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=2)
    points = np.asarray(record, dtype=np.float32).reshape(-1, 3)
    if len(points) == 0 or not np.isfinite(points).all():
        raise ValueError("an empty set, or coordinates that are not finite")
    return points


def tensorize(src: Source, folder: Path, options: dict, bad_files: BadFiles) -> dict:
    col, n = src.other_columns["points"], options["num_points"]
    out = np.lib.format.open_memmap(folder / "points.npy", mode="w+", dtype=np.float32, shape=(len(src.dataset), n, 3))
    keep = []
    for i, record in enumerate(src.dataset[col]):
        try:
            points = read_points(record)
        except (ValueError, OSError, TypeError) as err:
            bad_files.add(record if isinstance(record, str) else f"row {i}", err)
            continue
        rng = np.random.default_rng([0, i])  # the same subset of this set every time
        points = points[rng.choice(len(points), n, replace=len(points) < n)]  # (n, 3)
        if options["normalize"]:
            points = points - points.mean(0)
            points = points / max(float(np.linalg.norm(points, axis=1).max()), 1e-8)
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


POINT_SETS = register_kind(DataKind("point_sets", OPTIONS, resolve, tensorize))
