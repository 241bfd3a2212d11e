"""The data layer: names, the CIFAR-100 schema, tensorizing once, clear errors on bad input."""

import io

import numpy as np
import PIL.Image
import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Image, Value

import hf_genzoo.data.sources as sources
import hf_genzoo.data.tensorize as tensorize
from hf_genzoo.data import BadFileError, load_images, make_loader, parse_corruption
from hf_genzoo.data.batches import EpochShuffleSampler


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_digits_is_bundled_split_and_labelled():
    train, test = load_images("digits", "train"), load_images("digits", "test")
    assert train.images.shape == (1437, 1, 8, 8) and test.images.shape == (360, 1, 8, 8)
    assert train.images.dtype == np.uint8 and train.images.max() == 255
    assert sorted(np.unique(test.labels)) == list(range(10)) and test.label_names[3] == "3"


def test_tensorizing_happens_once_then_the_cache_is_memory_mapped(monkeypatch):
    first = load_images("digits", "test", resolution=16, channels=3)
    assert first.images.shape == (360, 3, 16, 16)

    def fail(*args, **kwargs):
        raise AssertionError("tensorized again")

    monkeypatch.setattr(tensorize, "_write_cache", fail)
    again = load_images("digits", "test", resolution=16, channels=3)
    assert isinstance(again.images, np.memmap)
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(first.images))


def _write_cifar100_like(folder, n_train=6, n_test=4):
    """Parquet files in the schema of the Hub's uoft-cs/cifar100: img, fine_label, coarse_label."""
    rng = np.random.default_rng(0)
    features = Features(
        {
            "img": Image(),
            "fine_label": ClassLabel(names=[f"fine{i}" for i in range(100)]),
            "coarse_label": ClassLabel(names=[f"coarse{i}" for i in range(20)]),
        }
    )
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        imgs = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        rows = {
            "img": [{"bytes": _png(a), "path": None} for a in imgs],
            "fine_label": list(range(n)),
            "coarse_label": [i % 20 for i in range(n)],
        }
        Dataset.from_dict(rows, features=features).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
        arrays[split] = imgs
    return arrays


def test_cifar100_loads_through_the_real_hub_code_path(tmp_path, monkeypatch):
    arrays = _write_cifar100_like(tmp_path)
    monkeypatch.setattr(sources, "CIFAR100_HUB_ID", str(tmp_path))  # the Hub id, pointed at a local copy
    data = load_images("cifar100", "test")
    assert data.images.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(np.asarray(data.images), arrays["test"].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data.labels, [0, 1, 2, 3])  # fine labels
    assert data.label_names[2] == "fine2"
    assert load_images("cifar100", "train").images.shape == (6, 3, 32, 32)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnistt'(.|\n)*digits(.|\n)*fashion_mnist(.|\n)*cifar100"):
        load_images("mnistt")


def test_missing_column_lists_the_columns(tmp_path):
    path = tmp_path / "pictures.parquet"
    Dataset.from_dict(
        {"picture": [{"bytes": _png(np.zeros((4, 4), np.uint8)), "path": None}], "y": [0]},
        features=Features({"picture": Image(), "y": Value("int64")}),
    ).to_parquet(str(path))
    with pytest.raises(ValueError, match=r"no column 'image'; its columns are \['picture', 'y'\]"):
        load_images(str(path), image_column="image")
    with pytest.raises(ValueError, match=r"no label column 'label'"):
        load_images(str(path), label_column="label")
    assert load_images(str(path), label_column="y").images.shape == (1, 1, 4, 4)  # the Image column is found


def _imagefolder(root, bad: bool):
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            PIL.Image.fromarray(np.full((6, 10, 3), 40 * i + (cls == "dog") * 100, np.uint8)).save(
                root / cls / f"{i}.png"
            )
    if bad:
        (root / "dog" / "broken.png").write_bytes(b"this is not a png")
    return root


def test_unreadable_files_are_named_or_skipped_and_counted(tmp_path):
    root = _imagefolder(tmp_path / "pets", bad=True)
    with pytest.raises(BadFileError, match=r"1 unreadable image file(.|\n)*broken\.png(.|\n)*--skip_bad_files"):
        load_images(f"imagefolder:{root}", "train")
    data = load_images(f"imagefolder:{root}", "train", skip_bad_files=True)
    assert len(data) == 4 and data.n_skipped == 1
    assert data.images.shape == (4, 3, 6, 6)  # center-cropped to a square of the short side
    assert data.label_names == ["cat", "dog"] and sorted(data.labels.tolist()) == [0, 0, 1, 1]


def test_csv_of_image_paths(tmp_path):
    _imagefolder(tmp_path / "pets", bad=False)
    (tmp_path / "index.csv").write_text("file,label\npets/cat/0.png,0\npets/dog/1.png,1\n")
    data = load_images(str(tmp_path / "index.csv"), image_column="file", resolution=4, channels=1)
    assert data.images.shape == (2, 1, 4, 4) and data.labels.tolist() == [0, 1]
    assert data.images[1].mean() > data.images[0].mean()  # the dog file is brighter


def test_missing_split_says_how_to_hold_out_data(tmp_path):
    root = _imagefolder(tmp_path / "pets", bad=False)
    with pytest.raises(ValueError, match=r"--eval_split 'train\[90%:\]'"):
        load_images(f"imagefolder:{root}", "test")
    assert len(load_images(f"imagefolder:{root}", "train[:50%]")) == 2


def test_loader_yields_whole_batches_and_the_order_depends_only_on_seed_and_epoch():
    data = load_images("digits", "test")
    batch = next(iter(make_loader(data, 32, shuffle=True, drop_last=True)))
    assert batch["pixel_values"].shape == (32, 1, 8, 8) and batch["pixel_values"].dtype == torch.uint8
    assert batch["labels"].shape == (32,)
    s1, s2 = EpochShuffleSampler(100, seed=3), EpochShuffleSampler(100, seed=3)
    s1.set_epoch(2), s2.set_epoch(2)
    assert list(s1) == list(s2) and sorted(s1) == list(range(100))
    s2.set_epoch(3)
    assert list(s1) != list(s2)


def test_corruptions():
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    masked = parse_corruption("mask:0.5")(x, torch.Generator().manual_seed(0))
    dropped = (masked == 0).all(1)  # all channels of a pixel together
    assert 0.3 < dropped.float().mean() < 0.7
    noisy = parse_corruption("gaussian:0.3")(x, torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1 and (noisy - x).abs().mean() > 0.1
    assert parse_corruption(None) is None
    with pytest.raises(ValueError, match="gaussian:SIGMA"):
        parse_corruption("salt:0.1")
    with pytest.raises(ValueError, match="mask:P"):
        parse_corruption("mask:2")
