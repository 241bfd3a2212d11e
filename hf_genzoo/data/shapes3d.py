"""`shapes3d`: an embedded labelled set of 3-D point clouds, made in-process, no network.

Ten classes: six primitives (`sphere`, `box`, `cylinder`, `cone`, `torus`, `capsule`) and four composites (`table`:
a box top on four cylinder legs; `chair`: a seat, four legs and a back; `mug`: an open cylinder wall on a base with
half a torus for its handle; `lamp`: a disc base, a pole and an open conical shade). Each set is one mesh from
`trimesh.creation`, stretched per axis (random scale and aspect), turned about the vertical axis by a random angle,
and sampled uniformly on its surface (`trimesh.sample.sample_surface`, area-weighted) at 2,048 points. The shapes
stand upright (z up), as ShapeNet's and ModelNet's aligned sets do: a sampled table stands on its legs, and a model
that wants rotation invariance augments about z (the point classifier does).

Splits `train` (160 sets per class) and `test` (40 per class), each set seeded by (split, class, index): the same
sets every time, none shared by the two splits. Columns: `points` (`Array2D((2048, 3), "float32")`, raw coordinates
of about unit size) and `label` (`ClassLabel`, the class names above).

Normalization: the `point_sets` data kind centres every set at its mean and scales it so that its farthest point
lies on the unit sphere (`normalize=True`, its default). That is the one normalization used everywhere in
hf_genzoo: the sets a model trains on, the reference sets the metrics (CD, EMD, MMD, COV, 1-NNA) score samples
against, and the samples themselves all live in that unit ball; nothing here normalizes on its own.
"""

import functools

import numpy as np
import pyarrow as pa
from datasets import Array2D, ClassLabel, Dataset, Features

from ..compat import numpy_to_arrow_lists
from ..errors import UserInputError
from .point_files import sample_surface
from .sources import BUILTIN, Builtin, Source

CLASSES = ("sphere", "box", "cylinder", "cone", "torus", "capsule", "table", "chair", "mug", "lamp")
NUM_POINTS = 2048  # points per set, as the point-cloud generation papers' ShapeNet sets (Luo & Hu 2021)
SPLIT_SIZES = {"train": 160, "test": 40}  # sets per class
VERSION = 1  # bump when the shapes or their sampling change (it is part of the cache key)
SCALE_RANGE = (0.5, 1.5)  # overall size: uniform; the point_sets kind scales every set into the unit ball anyway
ASPECT_LOG_SPREAD = 0.3  # each axis stretched by exp(U(-0.3, 0.3)), 0.74x to 1.35x: tall, squat, wide variants
SECTIONS = 48  # segments around a round part: its facets are < 0.3% off the true surface


def _at(x: float, y: float, z: float) -> np.ndarray:
    """The 4x4 transform that moves a part to `(x, y, z)`."""
    transform = np.eye(4)
    transform[:3, 3] = (x, y, z)
    return transform


def _parts(name: str) -> list:
    """The meshes that make up the class `name`, upright (z up), about one unit across, centred near the origin."""
    from trimesh import creation, transformations

    if name == "sphere":
        return [creation.icosphere(subdivisions=3, radius=0.5)]
    if name == "box":
        return [creation.box(extents=(1.0, 1.0, 1.0))]
    if name == "cylinder":
        return [creation.cylinder(radius=0.4, height=1.0, sections=SECTIONS)]
    if name == "cone":
        return [creation.cone(radius=0.5, height=1.0, sections=SECTIONS, transform=_at(0, 0, -0.5))]
    if name == "torus":
        return [creation.torus(major_radius=0.35, minor_radius=0.12, major_sections=SECTIONS, minor_sections=24)]
    if name == "capsule":
        return [creation.capsule(height=0.5, radius=0.25, count=(24, 24))]
    if name == "table":
        legs = [
            creation.cylinder(radius=0.04, height=0.94, sections=16, transform=_at(x, y, 0))
            for x in (-0.52, 0.52)
            for y in (-0.32, 0.32)
        ]
        return [creation.box(extents=(1.2, 0.8, 0.06), transform=_at(0, 0, 0.47)), *legs]
    if name == "chair":
        legs = [
            creation.cylinder(radius=0.025, height=0.45, sections=16, transform=_at(x, y, -0.25))
            for x in (-0.22, 0.22)
            for y in (-0.22, 0.22)
        ]
        seat = creation.box(extents=(0.5, 0.5, 0.05))
        back = creation.box(extents=(0.5, 0.05, 0.55), transform=_at(0, 0.225, 0.3))
        return [seat, back, *legs]
    if name == "mug":
        wall = creation.annulus(r_min=0.3, r_max=0.35, height=0.8, sections=SECTIONS)  # z in [-0.4, 0.4]
        base = creation.cylinder(radius=0.3, height=0.05, sections=SECTIONS, transform=_at(0, 0, -0.375))
        upright = transformations.rotation_matrix(np.pi / 2, (1, 0, 0))  # the ring in the xz plane
        ring = creation.torus(
            0.2, 0.04, major_sections=SECTIONS, minor_sections=16, transform=_at(0.35, 0, 0) @ upright
        )
        outer = ring.triangles_center[:, 0] > 0.35  # the half outside the wall is the handle
        return [wall, base, ring.submesh([np.flatnonzero(outer)], append=True)]
    if name == "lamp":
        base = creation.cylinder(radius=0.25, height=0.05, sections=SECTIONS, transform=_at(0, 0, -0.475))
        pole = creation.cylinder(radius=0.02, height=0.75, sections=16, transform=_at(0, 0, -0.075))
        shade = creation.revolve(np.array([[0.3, 0.1], [0.12, 0.45]]), sections=SECTIONS)  # open frustum, (r, z)
        return [base, pole, shade]
    raise UserInputError(f"shapes3d has the classes {list(CLASSES)}, not {name!r}")


@functools.cache
def _canonical(name: str):
    import trimesh

    return trimesh.util.concatenate(_parts(name))


def canonical_mesh(name: str):
    r"""
    The mesh of the class `name` before its random pose: upright, about one unit across (the sphere has radius 0.5,
    the box edges of 1).

    Args:
        name (`str`): one of `CLASSES`.

    Returns:
        `trimesh.Trimesh`: a copy, free to transform.
    """
    if name not in CLASSES:
        raise UserInputError(f"shapes3d has the classes {list(CLASSES)}, not {name!r}")
    return _canonical(name).copy()


def random_pose(rng: np.random.Generator) -> np.ndarray:
    """A 4x4 transform: a per-axis stretch (scale times aspect) in the shape's own frame, then a turn about z."""
    stretch = rng.uniform(*SCALE_RANGE) * np.exp(rng.uniform(-ASPECT_LOG_SPREAD, ASPECT_LOG_SPREAD, size=3))  # (3,)
    angle = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(angle), np.sin(angle)
    pose = np.eye(4)
    pose[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag(stretch)
    return pose


def make_shapes3d(
    split: str, per_class: int | None = None, num_points: int = NUM_POINTS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    r"""
    The sets of one split, the classes interleaved (row `j` is of class `j % 10`).

    Args:
        split (`str`): `"train"` or `"test"`.
        per_class (`int`, *optional*): sets per class; defaults to the split's size (160 or 40). The first `k` sets
            of a class are the same whatever `per_class` is: each set is seeded by (seed, split, class, index).
        num_points (`int`, *optional*, defaults to 2048): points per set.
        seed (`int`, *optional*, defaults to 0): the base seed.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: points `(N, num_points, 3)` float32, raw coordinates; labels `(N,)` int64.
    """
    if split not in SPLIT_SIZES:
        raise UserInputError(f"shapes3d has the splits {list(SPLIT_SIZES)}, not {split!r}")
    per_class = SPLIT_SIZES[split] if per_class is None else per_class
    n = per_class * len(CLASSES)
    points = np.empty((n, num_points, 3), dtype=np.float32)
    labels = np.arange(n, dtype=np.int64) % len(CLASSES)
    for j, label in enumerate(labels):
        rng = np.random.default_rng([seed, list(SPLIT_SIZES).index(split), int(label), j // len(CLASSES)])
        mesh = _canonical(CLASSES[label]).copy().apply_transform(random_pose(rng))
        points[j] = sample_surface(mesh, num_points, seed=rng)  # (num_points, 3)
    return points, labels


def token(split: str) -> str:
    return f"shapes3d-v{VERSION}-{split}"


def load_shapes3d_split(split: str) -> Source:
    points, labels = make_shapes3d(split)
    features = Features({"points": Array2D((NUM_POINTS, 3), "float32"), "label": ClassLabel(names=list(CLASSES))})
    table = pa.table({"points": numpy_to_arrow_lists(points), "label": pa.array(labels)})
    dataset = Dataset(table.cast(features.arrow_schema))  # built in Arrow directly: from_dict converts row by row
    return Source(dataset, None, "label", token(split), list(CLASSES), {"points": "points"})


BUILTIN["shapes3d"] = Builtin(
    load_shapes3d_split,
    "3-D point clouds (2,048 points) of 10 primitive and composite shapes, sampled in-process",
    token,
)
