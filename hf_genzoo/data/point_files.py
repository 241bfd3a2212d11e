"""Point-cloud and mesh files: reading one set, sampling a mesh's surface, a folder of them, writing samples.

`read_point_file` reads one set as `(P, 3)` float32: a mesh (`.off`, `.obj`, `.stl`, or a `.ply` with faces, loaded
by `trimesh`) is sampled uniformly on its surface (area-weighted, seeded); a point file (`.npy`, `.xyz` / `.txt`
with one point a line, a `.ply` with vertices and no faces) gives its own points. What cannot be a point set is a
`ValueError` saying why: a file that does not parse, a mesh with no surface, an array that is not `N x 3`,
coordinates that are NaN or infinite, no points at all. The `point_sets` kind names the file (`BadFiles`).

`load_pointfolder_split` is the source behind `pointfolder:<path>`: a folder of such files, one sub-folder per
class, optional `train/` and `test/` folders. `write_ply` / `read_ply` export and read back sets (samples) as
binary little-endian PLY with a float32 `x, y, z` vertex element (`plyfile`), which MeshLab, Open3D and Blender open.
"""

import os
import warnings
from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement, PlyParseError

from .sources import Source, load_file_folder

SUFFIXES = (".ply", ".off", ".obj", ".stl", ".npy", ".xyz", ".txt")  # meshes, then point files; a .ply is either


def as_points(values) -> np.ndarray:
    r"""
    Coordinates as one point set, checked.

    Args:
        values (array-like): `P` points `[x, y, z]` (`(P, 3)`), or a flat list of `3P` coordinates
            `x0, y0, z0, x1, ...` (some Hub sets store them so).

    Returns:
        `np.ndarray`: `(P, 3)` float32. A `ValueError` says what is wrong: not numbers, not `N x 3` (an `(N, 2)` or
        `(N, 4)` array, a flat list whose length is no multiple of 3), no points, or NaN / infinite coordinates.
    """
    if values is None:
        raise ValueError("the set is missing (a null row)")
    try:
        points = np.asarray(values, dtype=np.float32)
    except (ValueError, TypeError) as err:  # ragged rows, strings
        raise ValueError(f"the points are not an N x 3 array of numbers ({err})") from None
    if points.size == 0:
        raise ValueError("the set is empty (no points)")
    if points.ndim == 1 and len(points) % 3 == 0:
        points = points.reshape(-1, 3)  # a flat list of coordinates
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"the points have the shape {points.shape}; a point set is N x 3 (x, y, z per point)")
    bad = ~np.isfinite(points).all(axis=1)  # (P,)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} of its {len(points)} points have NaN or infinite coordinates "
            f"(the first is point {int(np.argmax(bad))})"
        )
    return points


def sample_surface(mesh, num_points: int, seed=None) -> np.ndarray:
    r"""
    Points uniform on a mesh's surface (each triangle drawn in proportion to its area, a uniform point inside it),
    by `trimesh.sample.sample_surface`.

    Args:
        mesh (`trimesh.Trimesh`): a mesh with a surface (positive area).
        num_points (`int`): how many points.
        seed (`int`, sequence of `int`, or `np.random.Generator`, *optional*): makes the draw repeatable.

    Returns:
        `np.ndarray`: `(num_points, 3)` float32.
    """
    from trimesh.sample import sample_surface as trimesh_sample_surface

    points, _ = trimesh_sample_surface(mesh, num_points, seed=seed)  # (num_points, 3) float64
    return points.astype(np.float32)


def _ply(path: Path) -> PlyData:
    try:
        return PlyData.read(str(path))
    except (PlyParseError, ValueError, TypeError, EOFError) as err:
        raise ValueError(f"it does not parse as PLY ({err})") from None


def _vertices(ply: PlyData) -> np.ndarray:
    """The `x, y, z` of a PLY's vertex element `(V, 3)`."""
    if "vertex" not in ply or not {"x", "y", "z"} <= set(ply["vertex"].data.dtype.names or ()):
        raise ValueError("the PLY has no vertex element with x, y and z properties")
    vertex = ply["vertex"]
    return np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)


def _mesh(path: Path):
    """The mesh of a file, checked to have a finite surface to sample."""
    import trimesh

    try:
        mesh = trimesh.load(str(path), force="mesh", process=False)
    except Exception as err:  # trimesh's parsers raise whatever a malformed file trips (IndexError, KeyError, ...)
        raise ValueError(f"it does not parse as a {path.suffix.lower()} mesh ({type(err).__name__}: {err})") from None
    if len(mesh.faces) == 0:
        raise ValueError(f"no triangles could be read from it: not a {path.suffix.lower()} mesh, or an empty one")
    if not np.isfinite(mesh.vertices).all():
        raise ValueError("the mesh has NaN or infinite vertex coordinates")
    if not mesh.area > 0:
        raise ValueError(f"the mesh has zero surface area (its {len(mesh.faces)} triangle(s) are all degenerate)")
    return mesh


def read_point_file(path: str | os.PathLike, num_points: int, seed=0) -> np.ndarray:
    r"""
    One point set from a file.

    Args:
        path (`str` or `os.PathLike`): a mesh (`.off`, `.obj`, `.stl`, `.ply` with faces) or a point file (`.npy`,
            `.xyz` / `.txt`: one point `x y z` a line, `.ply` with vertices only).
        num_points (`int`): points sampled on a mesh's surface; a point file gives all its own points.
        seed (`int`, sequence of `int`, or `np.random.Generator`, *optional*, defaults to 0): the surface sample's seed.

    Returns:
        `np.ndarray`: `(P, 3)` float32; `P = num_points` for a mesh. A `ValueError` says why a file is not a set,
        an `OSError` that it cannot be opened.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{suffix or 'no suffix'}: not a point or mesh file; supported: {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if suffix == ".npy":
        try:
            return as_points(np.load(path, allow_pickle=False))  # nothing is unpickled
        except EOFError:
            raise ValueError("the .npy file is empty or cut short") from None
    if suffix in (".xyz", ".txt"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": as_points says it is empty
            return as_points(np.loadtxt(path, ndmin=2))
    if suffix == ".ply":
        ply = _ply(path)
        if "face" not in ply or ply["face"].count == 0:
            return as_points(_vertices(ply))  # a point cloud
    return sample_surface(_mesh(path), num_points, seed=seed)


def write_ply(points, path: str | os.PathLike) -> Path:
    r"""
    Write one set as binary little-endian PLY, a float32 `x, y, z` vertex element (no faces).

    Args:
        points (array-like): `(N, 3)` coordinates (a tensor on the CPU, or an array).
        path (`str` or `os.PathLike`): the file to write; its folder must exist.

    Returns:
        `Path`: the file written.
    """
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"write_ply takes one set of points (N, 3), got the shape {points.shape}")
    vertex = np.empty(len(points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    vertex["x"], vertex["y"], vertex["z"] = points.T
    path = Path(path)
    PlyData([PlyElement.describe(vertex, "vertex")], text=False, byte_order="<").write(str(path))
    return path


def read_ply(path: str | os.PathLike) -> np.ndarray:
    """The vertices of a PLY file (binary or text, any numeric type) as `(N, 3)` float32: what `write_ply` wrote."""
    return _vertices(_ply(Path(path))).astype(np.float32)


def load_pointfolder_split(directory: str, split: str) -> Source:
    """A folder of point and mesh files (`SUFFIXES`), one sub-folder per class, optional `train/` and `test/`
    folders, as a dataset of file paths (`path`) and class ids (`label`), like `audiofolder:`; the `point_sets` kind
    reads the files."""
    return load_file_folder("pointfolder", directory, split, SUFFIXES, "path", {"points": "path"})
