"""Adding a family is a matter of the family's own files: this module is one, written as docs/adding_a_family.md
says (a model, a pipeline, an objective with its `Family` record, a card template), for point sets rather
than images. Once registered, the one loop trains it (`genzoo train`), `genzoo sample` draws from it, the shared
pipeline checks run on it and the registry-driven commands list it, with no line of the package changed."""

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from datasets import Dataset, Features, Sequence, Value
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

import hf_genzoo.registry as registry
from hf_genzoo import cli
from hf_genzoo.family import Family, Tiny
from hf_genzoo.hub import card
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.pipelines.image_io import latents_or_noise
from hf_genzoo.pipelines.pipeline_base import GenzooPipeline
from hf_genzoo.samplers import sample_images
from hf_genzoo.training import Objective, build_model

from .mixins import PipelineTesterMixin

TRUE_MEAN, TRUE_STD = (0.5, -1.0, 2.0), (0.3, 0.6, 0.1)
NUM_POINTS = 32


# --- 1. the model (would be hf_genzoo/models/point_gaussian.py)


@dataclass
class PointGaussianOutput(BaseOutput):
    nll: torch.Tensor  # (B,) negative log-likelihood of each set, in nats


class PointGaussian(ModelMixin, ConfigMixin):
    """A point set as i.i.d. draws of a diagonal Gaussian in 3-D: the simplest point-cloud model."""

    @register_to_config
    def __init__(self, *, num_points: int = 64):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(3))
        self.log_std = nn.Parameter(torch.zeros(3))

    def forward(self, points: torch.Tensor, return_dict: bool = True):
        z = (points - self.mean) * torch.exp(-self.log_std)  # (B, P, 3)
        nll = (0.5 * z.pow(2) + self.log_std + 0.5 * math.log(2 * math.pi)).sum((1, 2))  # (B,)
        return PointGaussianOutput(nll=nll) if return_dict else (nll,)


# --- 2. the pipeline (would be pipelines/point_gaussian.py)


@dataclass
class PointCloudOutput(BaseOutput):
    points: torch.Tensor  # (B, P, 3), or numpy with output_type="np"


class PointGaussianPipeline(GenzooPipeline):
    model_cpu_offload_seq = "model"

    def __init__(self, model: PointGaussian):
        super().__init__()
        self.register_modules(model=model)

    def prepare_latents(self, batch_size, generator=None, latents=None):
        shape = (batch_size, self.model.config.num_points, 3)
        return latents_or_noise(shape, generator, self._execution_device, self.model.dtype, latents)

    @torch.no_grad()
    def __call__(self, batch_size=1, generator=None, latents=None, output_type="pt", return_dict=True):
        z = self.prepare_latents(batch_size, generator, latents)
        points = self.model.mean + torch.exp(self.model.log_std) * z  # (B, P, 3)
        self.maybe_free_model_hooks()
        points = points if output_type == "pt" else points.cpu().numpy()
        return PointCloudOutput(points=points) if return_dict else (points,)


def xy_images(points: torch.Tensor, side: int = 16) -> torch.Tensor:
    """Point sets `(B, P, 3)` drawn from above: `(B, 1, side, side)` occupancy of their x-y projection."""
    xy = ((points[..., :2].clamp(-3, 3) + 3) / 6 * (side - 1)).round().long()  # (B, P, 2)
    images = torch.zeros(len(points), 1, side, side)
    for i, pixels in enumerate(xy):
        images[i, 0, pixels[:, 1], pixels[:, 0]] = 1.0
    return images


# --- 3. the objective and its record (would be hf_genzoo/training/point_gaussian.py)


class PointGaussianObjective(Objective):
    recipe = {"learning_rate": 0.05, "batch_size": 8}

    @classmethod
    def data_options(cls, cfg):
        return {"num_points": NUM_POINTS, "normalize": False}

    def __init__(self, cfg, data):
        super().__init__(cfg, data)
        self.model = build_model(PointGaussian, cfg, num_points=data.arrays["points"].shape[1])
        self.models = {"model": self.model}

    def losses(self, batch, step):
        yield "model", self.models["model"](batch["points"]).nll.mean() / (NUM_POINTS * 3)

    @torch.no_grad()
    def evaluate(self, loader, accelerator):
        nll = torch.cat([accelerator.gather_for_metrics(self.models["model"](b["points"]).nll) for b in loader])
        return {"nll_per_coordinate": nll.mean().item() / (NUM_POINTS * 3)}

    @torch.no_grad()
    def picture(self, batch):
        fake = self.pipeline_of(self.model)(batch_size=len(batch["points"]), output_type="pt").points
        return torch.stack([xy_images(batch["points"].cpu()), xy_images(fake.cpu())])  # (2, N, 1, 16, 16)

    @staticmethod
    def pipeline_of(model):
        return PointGaussianPipeline(model=model)

    def pipeline(self, accelerator):
        return self.pipeline_of(accelerator.unwrap_model(self.models["model"]))

    def card_info(self):
        return {
            "tags": ["point-cloud"],
            "description": "Diagonal Gaussian point sets",
            "main_metric": "nll_per_coordinate",
        }


def family_record(dataset: str) -> Family:
    return Family(
        "point_gaussian",
        PointGaussianObjective,
        PointGaussianPipeline,
        Tiny("", steps=40, dataset=dataset),
        models=(PointGaussian,),
        data_kind="point_sets",
        data_options=lambda pipe: {"num_points": pipe.model.config.num_points, "normalize": False},
        pipeline_tag="other",
        sample=lambda pipe, n, g: pipe(batch_size=n, generator=g).points,
        to_images=xy_images,
    )


# --- the package, with the family registered


@pytest.fixture
def point_sets(tmp_path):
    """Point sets drawn from the true Gaussian, a train and a test split of parquet files."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "clouds"
    folder.mkdir()
    for split, n in (("train", 48), ("test", 16)):
        sets = rng.normal(TRUE_MEAN, TRUE_STD, size=(n, 100, 3)).astype(np.float32)
        features = Features({"points": Sequence(Sequence(Value("float32")))})
        Dataset.from_dict({"points": sets.tolist()}, features=features).to_parquet(str(folder / f"{split}.parquet"))
    return str(folder)


@pytest.fixture
def family(point_sets, monkeypatch, tmp_path):
    """The family registered for this test only, with its card template (model_cards/point_gaussian.md)."""
    record = family_record(point_sets)
    monkeypatch.setitem(registry._REGISTRY, record.name, record)
    template = tmp_path / "point_gaussian.md"
    template.write_text("---\n{{ card_data }}\n---\n\n# {{ title }}\n\n{{ description }}, {{ steps }} steps.\n")
    original = card.template_path
    monkeypatch.setattr(card, "template_path", lambda name: template if name == record.name else original(name))
    return record


def test_the_one_loop_trains_it_on_point_sets_and_genzoo_samples_it(family, point_sets, tmp_path, capsys):
    out = tmp_path / "run"
    cli.main(
        f"train point_gaussian --dataset {point_sets} --output_dir {out} --max_steps 60 --report_to none "
        "--checkpointing_steps 0".split()
    )
    pipe = load_pipeline(str(out))
    assert type(pipe) is PointGaussianPipeline
    np.testing.assert_allclose(pipe.model.mean.detach().numpy(), TRUE_MEAN, atol=0.15)  # it learned the data
    assert "Diagonal Gaussian point sets" in (out / "README.md").read_text()
    points = sample_images(pipe, 5, torch.Generator().manual_seed(0), 2)
    assert points.shape == (5, NUM_POINTS, 3)

    cli.main(["sample", "--model", str(out), "--num_images", "4", "--output", str(tmp_path / "grid.png")])
    assert "4 samples (1 network evaluations)" in capsys.readouterr().out and (tmp_path / "grid.png").exists()
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert "point_gaussian" in capsys.readouterr().out  # the trainable models come from the registry


class TestAddedFamilyPipeline(PipelineTesterMixin):
    """The shared checks run on it as on every family in the package."""
