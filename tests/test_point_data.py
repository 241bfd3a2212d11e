"""Point-cloud data: the embedded `shapes3d` set, point and mesh files (`pointfolder:`, a Hub-style parquet), the
bad-file policy for point sets, and PLY export. Each test makes its data (no network)."""

import os

import numpy as np
import pytest
import trimesh
from datasets import Array2D, ClassLabel, Dataset, Features, Sequence, Value

import hf_genzoo.data.shapes3d as shapes3d
from hf_genzoo.data import BadFileError, known_datasets, load_data
from hf_genzoo.data.point_files import read_ply, read_point_file, sample_surface, write_ply
from hf_genzoo.errors import UserInputError

# --- shapes3d


@pytest.fixture(scope="module")
def shapes3d_test_split():
    return shapes3d.make_shapes3d("test")


def test_shapes3d_classes_shapes_and_split_sizes(shapes3d_test_split):
    src = shapes3d.load_shapes3d_split("test")
    features = src.dataset.features
    assert features["label"].names == [
        "sphere", "box", "cylinder", "cone", "torus", "capsule", "table", "chair", "mug", "lamp"
    ]  # fmt: skip
    assert features["points"] == Array2D((2048, 3), "float32")
    points, labels = shapes3d_test_split
    assert points.shape == (400, 2048, 3) and points.dtype == np.float32
    assert labels.tolist() == [j % 10 for j in range(400)]  # 40 per class, interleaved
    np.testing.assert_array_equal(np.asarray(src.dataset.with_format("numpy")["points"]), points)
    assert "shapes3d" in known_datasets()


def test_shapes3d_is_deterministic_and_its_splits_differ(shapes3d_test_split):
    points, _ = shapes3d_test_split
    again, _ = shapes3d.make_shapes3d("test", per_class=3)
    np.testing.assert_array_equal(again, points[:30])  # each set seeded by (split, class, index)
    train, train_labels = shapes3d.make_shapes3d("train", per_class=3)
    assert train_labels.tolist() == list(range(10)) * 3
    assert not set(train[:, 0, 0].tolist()) & set(points[:, 0, 0].tolist())  # no set in both splits
    other_seed, _ = shapes3d.make_shapes3d("test", per_class=3, seed=1)
    assert not np.allclose(other_seed, points[:30])


def test_shapes3d_through_the_point_sets_kind_is_centred_in_the_unit_ball(tmp_path, monkeypatch):
    data = load_data("point_sets", "shapes3d", "train", num_points=512, cache_dir=tmp_path)
    points = data.arrays["points"]
    assert points.shape == (1600, 512, 3) and points.dtype == np.float32 and data.n_skipped == 0
    assert data.label_names == list(shapes3d.CLASSES) and data.labels.tolist() == [j % 10 for j in range(1600)]
    np.testing.assert_allclose(points.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(points, axis=2).max(1), 1, rtol=1e-5)

    def fail(*args, **kwargs):
        raise AssertionError("shapes3d made again")

    monkeypatch.setattr(shapes3d, "make_shapes3d", fail)  # the built-in's token finds the cache without making it
    again = load_data("point_sets", "shapes3d", "train", num_points=512, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.arrays["points"], points)


def test_surface_samples_lie_on_the_sphere_and_cover_it_uniformly():
    points = sample_surface(shapes3d.canonical_mesh("sphere"), 20_000, seed=0)  # (20000, 3)
    radius = np.linalg.norm(points, axis=1)
    assert radius.max() <= 0.5 + 1e-6 and radius.min() > 0.5 * (1 - 6e-3)  # on the facets (0.5% in) of radius 0.5
    # Archimedes: z is uniform on [-r, r] for points uniform on a sphere; vertices or per-face draws are not
    assert abs(np.mean(np.abs(points[:, 2]) < 0.25) - 0.5) < 0.02
    assert len(np.unique(points, axis=0)) == len(points)


def test_surface_samples_lie_on_a_posed_box_in_proportion_to_face_area():
    pose = shapes3d.random_pose(np.random.default_rng(3))
    stretch = np.linalg.norm(pose[:3, :3], axis=0)  # the per-axis stretch (then a turn about z)
    points = sample_surface(shapes3d.canonical_mesh("box").apply_transform(pose), 30_000, seed=0)
    local = (points - pose[:3, 3]) @ np.linalg.inv(pose[:3, :3]).T  # back in the unit cube's frame
    on_face = np.isclose(np.abs(local), 0.5, atol=1e-5)  # (n, 3): which face(s) a point is on
    assert on_face.any(1).all() and np.abs(local).max() < 0.5 + 1e-5
    sx, sy, sz = stretch
    area = np.array([sy * sz, sx * sz, sx * sy])  # the faces normal to x, y, z
    np.testing.assert_allclose(on_face.mean(0), area / area.sum(), atol=0.015)


def _ellipsoid_residual(points: np.ndarray) -> float:
    """The largest misfit of the best origin-centred quadric x^T A x = 1 through the points."""
    x, y, z = points.astype(np.float64).T
    design = np.stack([x * x, y * y, z * z, x * y, x * z, y * z], axis=1)  # (n, 6)
    coef, *_ = np.linalg.lstsq(design, np.ones(len(points)), rcond=None)
    return float(np.abs(design @ coef - 1).max())


def test_shapes3d_spheres_are_stretched_sphere_surfaces(shapes3d_test_split):
    points, labels = shapes3d_test_split
    spheres, boxes = points[labels == 0][:5], points[labels == 1][:5]
    assert max(_ellipsoid_residual(s) for s in spheres) < 0.01  # on an ellipsoid: the sphere, stretched per axis
    assert min(_ellipsoid_residual(b) for b in boxes) > 0.1  # the check can fail: a box is on no ellipsoid
    extents = np.ptp(spheres, axis=1)  # (5, 3): random scale and aspect
    assert np.ptp(extents[:, 2]) > 0.05 and (extents.max(1) / extents.min(1) > 1.05).any()


# --- point and mesh files


def _box_mesh() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(1.0, 2.0, 3.0))


def _on_box(points: np.ndarray, extents=(1.0, 2.0, 3.0)) -> bool:
    scaled = np.abs(points) / (np.asarray(extents) / 2)  # (P, 3): 1 on a face
    return bool(np.isclose(scaled.max(1), 1, atol=1e-5).all())


def _write_folder(root, rng):
    """train/{box, ball}/... and test/{box, ball}/...: meshes of a 1x2x3 box, point files of a random cloud."""
    clouds = {}
    for split in ("train", "test"):
        (root / split / "box").mkdir(parents=True)
        (root / split / "ball").mkdir(parents=True)
        for suffix in (".off", ".obj", ".stl", ".ply") if split == "train" else (".off",):
            _box_mesh().export(root / split / "box" / f"box{suffix}")
        for suffix in (".ply", ".npy", ".xyz") if split == "train" else (".npy",):
            cloud = rng.normal(size=(64, 3)).astype(np.float32)
            path = root / split / "ball" / f"cloud{suffix}"
            if suffix == ".ply":
                write_ply(cloud, path)
            elif suffix == ".npy":
                np.save(path, cloud)
            else:
                np.savetxt(path, cloud, fmt="%.9g")  # 9 significant digits: float32 exactly
            clouds[str(path)] = cloud
    return clouds


def test_pointfolder_reads_meshes_and_point_files_with_labels_from_sub_folders(tmp_path):
    clouds = _write_folder(tmp_path / "shapes", np.random.default_rng(0))
    name = f"pointfolder:{tmp_path / 'shapes'}"
    data = load_data("point_sets", name, "train", num_points=64, normalize=False, cache_dir=tmp_path / "cache")
    points = data.arrays["points"]  # sorted paths: ball/cloud.npy, .ply, .xyz, then box/box.obj, .off, .ply, .stl
    assert points.shape == (7, 64, 3) and data.label_names == ["ball", "box"]
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1, 1] and data.n_skipped == 0
    for got, suffix in zip(points[:3], (".npy", ".ply", ".xyz"), strict=True):  # every point of the file, once
        want = clouds[str(tmp_path / "shapes" / "train" / "ball" / f"cloud{suffix}")]
        assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))
    for got in points[3:]:  # each mesh sampled on its surface, straight at num_points: 64 distinct points
        assert _on_box(got) and len(np.unique(got, axis=0)) == 64
    test = load_data("point_sets", name, "test", num_points=64, normalize=False, cache_dir=tmp_path / "cache")
    assert test.labels.tolist() == [0, 1] and _on_box(test.arrays["points"][1])
    with pytest.raises(UserInputError, match="has the splits \\['train', 'test'\\], not 'validation'"):
        load_data("point_sets", name, "validation", cache_dir=tmp_path / "cache")
    with pytest.raises(UserInputError, match="no such folder"):
        load_data("point_sets", f"pointfolder:{tmp_path / 'nothing'}", cache_dir=tmp_path / "cache")


def test_pointfolder_reads_an_edited_file_again(tmp_path):
    (tmp_path / "sets" / "a").mkdir(parents=True)
    path = tmp_path / "sets" / "a" / "cloud.npy"
    np.save(path, np.eye(3, dtype=np.float32))
    first = load_data(
        "point_sets", f"pointfolder:{tmp_path / 'sets'}", num_points=3, normalize=False, cache_dir=tmp_path
    )
    np.save(path, 2 * np.eye(3, dtype=np.float32))
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 10**9))
    second = load_data(
        "point_sets", f"pointfolder:{tmp_path / 'sets'}", num_points=3, normalize=False, cache_dir=tmp_path
    )
    np.testing.assert_array_equal(second.arrays["points"], 2 * first.arrays["points"])


@pytest.mark.parametrize("array2d", [False, True], ids=["lists", "array2d"])
def test_a_shapenet_style_parquet_with_a_synset_label_column(tmp_path, array2d):
    rng = np.random.default_rng(1)
    sets = rng.normal(size=(4, 100, 3)).astype(np.float32)
    synsets = ["02691156", "03001627"]  # ShapeNet's synset ids: airplane, chair
    points_feature = Array2D((100, 3), "float32") if array2d else Sequence(Sequence(Value("float32")))
    features = Features({"points": points_feature, "synset": ClassLabel(names=synsets), "model_id": Value("string")})
    rows = {"points": sets.tolist(), "synset": [1, 0, 1, 1], "model_id": ["a", "b", "c", "d"]}
    path = tmp_path / "shapenet.parquet"
    Dataset.from_dict(rows, features=features).to_parquet(str(path))
    data = load_data(
        "point_sets", str(path), num_points=100, normalize=False, label_column="synset", cache_dir=tmp_path
    )
    assert data.label_names == synsets and data.labels.tolist() == [1, 0, 1, 1]
    for got, want in zip(data.arrays["points"], sets, strict=True):
        assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))
    with pytest.raises(UserInputError, match=r"label column 'model_id' .* holds Value\('string'\), not class ids"):
        load_data("point_sets", str(path), label_column="model_id", cache_dir=tmp_path)


# --- bad files and rows


def test_read_point_file_says_why_a_file_is_no_point_set(tmp_path):
    (tmp_path / "garbage.off").write_text("OFF\nthis is not a mesh\n")
    (tmp_path / "garbage.stl").write_bytes(b"\x00" * 40)
    (tmp_path / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n")  # three points on a line
    np.save(tmp_path / "wide.npy", np.ones((10, 4), dtype=np.float32))
    np.save(tmp_path / "narrow.npy", np.ones((10, 2), dtype=np.float32))
    (tmp_path / "nan.xyz").write_text("0 0 0\n1 nan 0\n1 1 1\n")
    (tmp_path / "empty.xyz").write_text("")
    cases = {
        "garbage.off": "does not parse as a .off mesh",
        "garbage.stl": "no triangles could be read from it",
        "flat.obj": "zero surface area",
        "wide.npy": r"shape \(10, 4\); a point set is N x 3",
        "narrow.npy": r"shape \(10, 2\); a point set is N x 3",
        "nan.xyz": "1 of its 3 points have NaN or infinite coordinates",
        "empty.xyz": "empty",
    }
    for name, message in cases.items():
        with pytest.raises(ValueError, match=message):
            read_point_file(tmp_path / name, 16)
    with pytest.raises(ValueError, match="not a point or mesh file; supported: .ply"):
        read_point_file(tmp_path / "cloud.las", 16)
    with pytest.raises(FileNotFoundError):
        read_point_file(tmp_path / "missing.ply", 16)
    flat = read_point_file(_save(tmp_path / "flat6.npy", np.arange(6.0)), 16)  # a flat list of coordinates
    np.testing.assert_array_equal(flat, [[0, 1, 2], [3, 4, 5]])


def _save(path, array):
    np.save(path, array)
    return path


def test_bad_files_in_a_pointfolder_are_named_or_skipped_and_counted(tmp_path):
    root = tmp_path / "sets" / "box"
    root.mkdir(parents=True)
    _box_mesh().export(root / "good.off")
    np.save(root / "good.npy", np.random.default_rng(0).normal(size=(50, 3)))
    (root / "garbage.off").write_text("OFF\nthis is not a mesh\n")
    (root / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n")
    np.save(root / "wide.npy", np.ones((10, 4)))
    (root / "nan.xyz").write_text("0 0 0\n1 nan 0\n")
    name = f"pointfolder:{tmp_path / 'sets'}"
    with pytest.raises(BadFileError) as err:
        load_data("point_sets", name, num_points=32, cache_dir=tmp_path)
    message = str(err.value)
    assert "4 unreadable point set(s)" in message and "--skip_bad_files" in message
    for file, why in [
        ("garbage.off", "does not parse"),
        ("flat.obj", "zero surface area"),
        ("wide.npy", "(10, 4)"),
        ("nan.xyz", "NaN"),
    ]:
        line = next(line for line in message.splitlines() if line.strip().startswith(str(root / file)))
        assert why in line
    data = load_data("point_sets", name, num_points=32, skip_bad_files=True, cache_dir=tmp_path)
    assert data.n_skipped == 4 and data.arrays["points"].shape == (2, 32, 3) and data.labels.tolist() == [0, 0]


def test_bad_rows_of_a_points_column_are_named_by_row(tmp_path):
    good = np.random.default_rng(2).normal(size=(20, 3)).tolist()
    rows = [good, [[1.0, 2.0]] * 5, [[1.0, 2.0, 3.0, 4.0]] * 5, [[0.0, 0.0, float("inf")]] + good, []]
    path = tmp_path / "rows.parquet"
    Dataset.from_dict({"points": rows}, features=Features({"points": Sequence(Sequence(Value("float32")))})).to_parquet(
        str(path)
    )
    with pytest.raises(BadFileError, match="4 unreadable point set") as err:
        load_data("point_sets", str(path), num_points=8, cache_dir=tmp_path)
    message = str(err.value)
    assert "row 1: the points have the shape (5, 2)" in message and "row 2: the points have the shape (5, 4)" in message
    assert "row 3: 1 of its 21 points have NaN or infinite" in message and "row 4: the set is empty" in message
    data = load_data("point_sets", str(path), num_points=8, skip_bad_files=True, cache_dir=tmp_path)
    assert data.n_skipped == 4 and len(data) == 1


# --- PLY export


def test_write_ply_and_read_ply_round_trip_exactly(tmp_path):
    points = np.random.default_rng(4).normal(size=(257, 3)).astype(np.float32)
    path = write_ply(points, tmp_path / "sample.ply")
    header = path.read_bytes()[:200]
    assert header.startswith(b"ply\nformat binary_little_endian 1.0\nelement vertex 257\nproperty float x\n")
    np.testing.assert_array_equal(read_ply(path), points)
    np.testing.assert_array_equal(read_point_file(path, 16), points)  # no faces: the point cloud itself
    with pytest.raises(ValueError, match=r"one set of points \(N, 3\), got the shape \(2, 4, 3\)"):
        write_ply(np.zeros((2, 4, 3)), tmp_path / "batch.ply")
