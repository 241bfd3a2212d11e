"""The point-set classifier (PointNet without T-nets): model, pipeline, and a training run through `genzoo train`."""

import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import ClassLabel, Dataset, Features, Sequence, Value

from hf_genzoo import cli
from hf_genzoo.errors import UserInputError
from hf_genzoo.models import PointClassifier
from hf_genzoo.pipelines import PointClassifierPipeline
from hf_genzoo.training.point_classifier import random_z_rotation

from .conftest import randomize_parameters

TINY = dict(num_classes=3, widths=(8, 16), head_widths=(8,), class_names=["a", "b", "c"])


def tiny_classifier() -> PointClassifier:
    torch.manual_seed(0)
    return randomize_parameters(PointClassifier(**TINY), scale=0.3).eval()


def test_permutation_invariant_and_any_number_of_points():
    model = tiny_classifier()
    x = torch.randn(4, 50, 3, generator=torch.Generator().manual_seed(0))
    out = model(x)
    assert out.logits.shape == (4, 3) and out.features.shape == (4, 16) and model.feature_dim == 16
    shuffled = model(x[:, torch.randperm(50, generator=torch.Generator().manual_seed(1))])
    torch.testing.assert_close(shuffled.logits, out.logits)
    torch.testing.assert_close(shuffled.features, out.features)
    assert not torch.allclose(out.logits[0], out.logits[1])  # and it does tell sets apart
    # any N; the max-pool sees a set, not a count: each point twice gives the same output
    for n in (1, 7, 3000):
        assert model(torch.randn(2, n, 3)).logits.shape == (2, 3)
    torch.testing.assert_close(model(torch.cat([x, x.flip(1)], dim=1)).logits, out.logits)


def test_a_model_config_that_cannot_work_says_so():
    with pytest.raises(ValueError, match="at least 2 classes"):
        PointClassifier(num_classes=1)
    with pytest.raises(ValueError, match="at least one layer"):
        PointClassifier(widths=())


def test_the_rotation_is_about_z_and_keeps_norms():
    x = torch.randn(8, 30, 3, generator=torch.Generator().manual_seed(0))
    y = random_z_rotation(x)
    torch.testing.assert_close(y[..., 2], x[..., 2])  # heights unchanged
    torch.testing.assert_close(y[..., :2].norm(dim=-1), x[..., :2].norm(dim=-1))  # a rotation in the x-y plane
    assert not torch.allclose(y, x)


class TestPointClassifierPipeline:
    def test_labels_are_the_argmax_with_names(self):
        pipe = PointClassifierPipeline(classifier=tiny_classifier())
        x = torch.randn(6, 40, 3, generator=torch.Generator().manual_seed(1))
        out = pipe(x, max_batch_size=4)  # two chunks
        unit = x - x.mean(1, keepdim=True)
        unit = unit / unit.norm(dim=2).amax(1).view(-1, 1, 1)  # what the pipeline feeds the model
        probs = F.softmax(pipe.classifier(unit).logits, -1)
        torch.testing.assert_close(out.probs, probs)
        assert out.labels.tolist() == probs.argmax(-1).tolist()
        assert out.names == [["a", "b", "c"][i] for i in out.labels.tolist()]
        torch.testing.assert_close(pipe.features(x), pipe.classifier(unit).features)
        # numpy in, one set (N, 3) alone, and a moved and scaled copy: the same answers
        torch.testing.assert_close(pipe(x.numpy()).probs, out.probs)
        torch.testing.assert_close(pipe(x[2]).probs, out.probs[2:3])
        torch.testing.assert_close(pipe(3 * x + torch.tensor([1.0, -2.0, 0.5])).probs, out.probs, atol=1e-5, rtol=1e-4)
        # without normalization the model sees the points as they are
        torch.testing.assert_close(pipe(unit, normalize=False).probs, out.probs)
        assert not torch.allclose(pipe(3 * x, normalize=False).probs, out.probs)

    @pytest.mark.parametrize(
        "shape", [(2, 5, 2), (2, 2, 2, 5), (3,), (2, 0, 3)], ids=["two-coordinates", "4-D", "1-D", "no-points"]
    )
    def test_a_wrong_shape_is_a_user_input_error_that_names_it(self, shape):
        pipe = PointClassifierPipeline(classifier=tiny_classifier())
        with pytest.raises(UserInputError, match=re.escape("(B, N, 3) or (N, 3)")) as err:
            pipe(torch.zeros(shape))
        assert f"got shape {shape}" in str(err.value)

    def test_sets_that_are_not_one_array_or_not_finite_are_user_input_errors(self):
        pipe = PointClassifierPipeline(classifier=tiny_classifier())
        with pytest.raises(UserInputError, match="not one array"):
            pipe([np.zeros((5, 3)), np.zeros((4, 3))])  # sets of different sizes
        with pytest.raises(UserInputError, match="finite"):
            pipe(torch.full((1, 4, 3), float("nan")))


# --- training through the command line, on two shapes anyone can tell apart


def sphere_or_cube(label: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` points on the surface of a unit sphere (0) or of a cube (1), turned by a random rotation."""
    if label == 0:
        points = rng.normal(size=(n, 3))
        points /= np.linalg.norm(points, axis=1, keepdims=True)
    else:
        points = rng.uniform(-1, 1, size=(n, 3))
        face = rng.integers(3, size=n)
        points[np.arange(n), face] = rng.choice([-1.0, 1.0], size=n)  # one coordinate on a face
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return (points @ (q * np.sign(np.diag(r)))).astype(np.float32)  # a uniformly random orthogonal map


@pytest.fixture
def shapes(tmp_path):
    """A folder of train / test parquet files: sets of 300 points on spheres and cubes, labelled."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "spheres-and-cubes"
    folder.mkdir()
    features = Features({"points": Sequence(Sequence(Value("float32"))), "label": ClassLabel(names=["sphere", "cube"])})
    for split, n in (("train", 96), ("test", 40)):
        labels = np.arange(n) % 2
        sets = [sphere_or_cube(int(k), 300, rng).tolist() for k in labels]
        Dataset.from_dict({"points": sets, "label": labels.tolist()}, features=features).to_parquet(
            str(folder / f"{split}.parquet")
        )
    return folder


def test_genzoo_train_learns_spheres_from_cubes(shapes, tmp_path):
    out = tmp_path / "run"
    cli.main(
        [
            "train",
            "point_classifier",
            "--dataset",
            str(shapes),
            "--output_dir",
            str(out),
            "--num_points",
            "256",
            "--batch_size",
            "16",
            "--epochs",
            "20",  # 120 steps; BatchNorm's running statistics lag the first ~50 (eval accuracy 0.5 until then)
            "--learning_rate",
            "3e-3",
            "--lr_warmup_steps",
            "5",
            "--model_config",
            "widths=(32, 64),head_widths=(32,)",
            "--report_to",
            "none",
            "--checkpointing_steps",
            "0",
        ]
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["metrics"]["accuracy"] >= 0.9 and metrics["num_points"] == 256
    assert metrics["history"][0]["cross_entropy"] > metrics["history"][-1]["cross_entropy"]
    card = (out / "README.md").read_text()
    assert "PointNet point-set classifier" in card and "point-cloud" in card and (out / "sample.png").exists()

    pipe = PointClassifierPipeline.from_pretrained(out)
    assert pipe.classifier.config.class_names == ["sphere", "cube"] and pipe.classifier.config.num_points == 256
    rng = np.random.default_rng(1)  # new sets, of another size than in training
    labels = np.arange(20) % 2
    sets = np.stack([sphere_or_cube(int(k), 500, rng) for k in labels])
    predicted = pipe(sets)
    assert (predicted.labels.numpy() == labels).mean() >= 0.9
    assert predicted.names[:2] == ["sphere", "cube"]


def test_a_dataset_without_labels_is_refused(tmp_path):
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    sets = np.random.default_rng(0).normal(size=(4, 20, 3)).astype(np.float32).tolist()
    features = Features({"points": Sequence(Sequence(Value("float32")))})
    for split in ("train", "test"):
        Dataset.from_dict({"points": sets}, features=features).to_parquet(str(folder / f"{split}.parquet"))
    argv = f"train point_classifier --dataset {folder} --output_dir {tmp_path / 'run'} --report_to none".split()
    with pytest.raises(SystemExit, match="no labels; a classifier needs a label column"):
        cli.main(argv)
