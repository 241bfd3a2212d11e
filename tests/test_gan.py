"""The GAN family: DCGAN Generator / Discriminator, the non-saturating objective, GANPipeline."""

import json
import math

import numpy as np
import PIL.Image
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import hf_genzoo.training.gan  # noqa: F401  (registers "gan")
from hf_genzoo.data import TensorData
from hf_genzoo.models.gan import Discriminator, Generator
from hf_genzoo.pipelines.gan import GANPipeline, slerp
from hf_genzoo.training import make_config, train
from hf_genzoo.training.gan import GANObjective, build_models, discriminator_loss, generator_loss

from .conftest import randomize_parameters

TINY = dict(sample_size=8, block_out_channels=(8, 16))


def tiny_pair(spectral_norm=False, seed=0):
    torch.manual_seed(seed)
    g = Generator(out_channels=1, latent_dim=6, **TINY)
    d = Discriminator(in_channels=1, spectral_norm=spectral_norm, **TINY)
    return randomize_parameters(g, seed=seed).eval(), randomize_parameters(d, seed=seed + 1).eval()


# --- models


@pytest.mark.parametrize("size", [8, 28, 32])
def test_shapes_at_supported_resolutions(size):
    g, d = Generator(out_channels=3, sample_size=size), Discriminator(in_channels=3, sample_size=size)
    x = g(torch.randn(2, g.config.latent_dim)).sample
    assert x.shape == (2, 3, size, size)
    assert d(x).logits.shape == (2,)


def test_unsupported_resolution_names_the_ones_that_work():
    with pytest.raises(ValueError, match=r"divisible by 4 \(4, 8, 12, 16.*Use --resolution 32 \(or 28\)"):
        Generator(sample_size=30)
    with pytest.raises(ValueError, match="divisible by 8"):
        Discriminator(sample_size=28, block_out_channels=(16, 32, 64))
    with pytest.raises(ValueError, match=r"latents of shape \(B, 64\)"):
        Generator()(torch.randn(2, 10))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        Discriminator()(torch.randn(2, 1, 8, 8))


def test_every_batchnorm_has_default_eps_and_momentum():
    # the classic trap: nn.BatchNorm2d(c, 0.8) sets eps=0.8, not momentum
    norms = [m for model in (Generator(), Discriminator()) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 3  # G: after the projection and one upsampling block; D: after its second conv
    assert all(m.eps == 1e-5 and m.momentum == 0.1 for m in norms)


def test_dcgan_initialization():
    g, d = Generator(sample_size=32, block_out_channels=(64, 128)), Discriminator(sample_size=32)
    for m in [*g.modules(), *d.modules()]:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.weight.numel() > 10_000:
            assert abs(m.weight.std().item() - 0.02) < 2e-3 and abs(m.weight.mean().item()) < 2e-3
        if isinstance(m, nn.BatchNorm2d):
            assert abs(m.weight.mean().item() - 1) < 0.01 and m.bias.abs().max() == 0


def test_spectral_norm_makes_each_weight_1_lipschitz():
    torch.manual_seed(0)  # the power iteration's start vector is random: converged in 100 steps for this seed
    d = Discriminator(sample_size=8, block_out_channels=(8, 16), spectral_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())  # SN-GAN discriminators use no BatchNorm
    randomize_parameters(d, scale=0.5)
    d.train()
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 3
    with torch.no_grad():
        for _ in range(100):  # in training mode each weight access is one power iteration (Miyato et al., Alg. 1)
            [m.weight for m in layers]
        for m in layers:
            raw = m.parametrizations.weight.original.flatten(1)
            assert torch.linalg.matrix_norm(raw, ord=2) > 1.5  # the raw weight is far from 1-Lipschitz
            sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)
            torch.testing.assert_close(sigma, torch.tensor(1.0), atol=1e-3, rtol=0)


# --- objective


def test_losses_match_the_closed_forms():
    real, fake = torch.tensor([2.0, -0.5, 0.1]), torch.tensor([-1.0, 0.3, 4.0])
    p_real, p_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected_d = -torch.log(p_real).mean() - torch.log(1 - p_fake).mean()  # Goodfellow et al. 2014, eq. 1
    torch.testing.assert_close(discriminator_loss(real, fake), expected_d)
    torch.testing.assert_close(generator_loss(fake), -torch.log(p_fake).mean())
    torch.testing.assert_close(generator_loss(fake), F.binary_cross_entropy_with_logits(fake, torch.ones(3)))
    assert torch.isfinite(discriminator_loss(torch.tensor([-200.0]), torch.tensor([200.0])))  # no overflow


def _tiny_data(n=16, size=8, seed=0):
    images = np.random.default_rng(seed).integers(0, 256, size=(n, 1, size, size), dtype=np.uint8)
    return TensorData({"pixel_values": images}, "images", {}, "random", "train")


def test_one_training_step_updates_both_models_and_leaves_no_gradient_in_d(tmp_path):
    cfg = make_config("gan", output_dir=str(tmp_path), model_config="block_out_channels=(8, 16),latent_dim=6")
    data = _tiny_data()
    objective = GANObjective(cfg, data)
    optimizers = objective.optimizers()
    g, d = objective.models["generator"], objective.models["discriminator"]
    g0 = [p.detach().clone() for p in g.parameters()]
    d0 = [p.detach().clone() for p in d.parameters()]
    batch = {"pixel_values": torch.from_numpy(data.images)}
    names = []
    for name, loss in objective.losses(batch, step=0):  # exactly as the loop: backward, step, zero_grad
        names.append(name)
        loss.backward()
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)
        if name == "discriminator":
            assert all(torch.equal(a, b) for a, b in zip(g0, g.parameters(), strict=True)), "the D step must not move G"
            d1 = [p.detach().clone() for p in d.parameters()]
        else:
            assert all(p.grad is None for p in d.parameters()), "G's loss must leave no gradient in D"
            assert all(torch.equal(a, b) for a, b in zip(d1, d.parameters(), strict=True)), "the G step must not move D"
    assert names == ["discriminator", "generator"]
    assert all(p.requires_grad for p in d.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(d0, d.parameters(), strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(g0, g.parameters(), strict=True))
    assert optimizers["generator"].param_groups[0]["betas"] == (0.5, 0.999)
    assert optimizers["generator"].param_groups[0]["lr"] == 2e-4


def test_model_config_goes_to_the_models_that_take_it():
    cfg = make_config(
        "gan",
        model_config="block_out_channels=(8, 16),latent_dim=6,spectral_norm=True,generator_block_out_channels=(4, 8)",
    )
    g, d = build_models(cfg, channels=3, resolution=8)
    assert (g.config.out_channels, g.config.latent_dim, tuple(g.config.block_out_channels)) == (3, 6, (4, 8))
    assert (d.config.in_channels, tuple(d.config.block_out_channels), d.config.spectral_norm) == (3, (8, 16), True)
    with pytest.raises(ValueError, match=r"no option\(s\) \['hidden_dim'\]; Generator takes \[.*latent_dim"):
        build_models(make_config("gan", model_config="hidden_dim=3"), 1, 8)
    with pytest.raises(ValueError, match="discriminator_latent_dim"):
        build_models(make_config("gan", model_config="discriminator_latent_dim=3"), 1, 8)


# --- pipeline


class TestGANPipeline:
    def get_pipeline(self, spectral_norm=False):
        g, d = tiny_pair(spectral_norm)
        return GANPipeline(generator=g, discriminator=d)

    def run(self, pipe, generator):
        return pipe(batch_size=4, generator=generator, output_type="pt").images

    def test_different_seeds_differ(self):
        pipe = self.get_pipeline()
        a, b = self.run(pipe, torch.Generator().manual_seed(0)), self.run(pipe, torch.Generator().manual_seed(1))
        assert (a - b).abs().max() > 0.05

    def test_output_is_the_tanh_image_mapped_to_unit_range(self):
        pipe = self.get_pipeline()
        randomize_parameters(pipe.generator, scale=1.0, seed=3)  # saturate the Tanh
        z = torch.randn(16, 6, generator=torch.Generator().manual_seed(0))
        out = pipe(batch_size=16, latents=z, output_type="pt").images
        assert out.shape == (16, 1, 8, 8) and out.min() >= 0 and out.max() <= 1
        assert out.min() < 0.01 and out.max() > 0.99
        with torch.no_grad():
            torch.testing.assert_close(out, (pipe.generator(z).sample + 1) / 2)
        pil = pipe(batch_size=2, generator=torch.Generator().manual_seed(0)).images
        assert len(pil) == 2 and pil[0].size == (8, 8)

    def test_latent_walk_ends_at_the_two_samples(self):
        pipe = self.get_pipeline()
        pair = pipe(batch_size=2, generator=torch.Generator().manual_seed(5), output_type="pt").images
        walk = pipe.latent_walk(steps=6, generator=torch.Generator().manual_seed(5), output_type="pt").images
        assert walk.shape == (6, 1, 8, 8)
        torch.testing.assert_close(walk[0], pair[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(walk[-1], pair[1], atol=1e-6, rtol=0)
        steps = (walk[1:] - walk[:-1]).flatten(1).norm(dim=1)
        assert steps.max() < (walk[-1] - walk[0]).norm()  # a path through the middle, not a jump
        with pytest.raises(ValueError, match="at least 2"):
            pipe.latent_walk(steps=1)

    def test_slerp_closed_form(self):
        z0, z1 = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 3.0, 0.0])
        path = slerp(torch.tensor([0.0, 0.5, 1.0]), z0, z1)
        torch.testing.assert_close(path[1], (z0 + z1) / math.sqrt(2))  # the midpoint of a quarter circle
        assert torch.equal(path[0], z0) and torch.equal(path[2], z1)
        torch.testing.assert_close(path.norm(dim=1), torch.full((3,), 3.0))
        torch.testing.assert_close(slerp(torch.tensor([0.25]), z0, 2 * z0)[0], 1.25 * z0)  # parallel: a line

    def test_discriminate_and_spectral_norm_round_trip(self, tmp_path):
        pipe = self.get_pipeline(spectral_norm=True)
        images = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        scores = pipe.discriminate(images)
        with torch.no_grad():
            torch.testing.assert_close(scores, torch.sigmoid(pipe.discriminator(2 * images - 1).logits))
        assert scores.shape == (5,) and scores.std() > 0
        pipe.save_pretrained(tmp_path)
        loaded = GANPipeline.from_pretrained(tmp_path)
        assert loaded.discriminator.config.spectral_norm
        torch.testing.assert_close(loaded.discriminate(images), scores, rtol=0, atol=0)

    def test_generator_only(self, tmp_path):
        pipe = self.get_pipeline()
        expected = self.run(pipe, torch.Generator().manual_seed(0))
        GANPipeline(generator=pipe.generator).save_pretrained(tmp_path / "g_only")
        assert not (tmp_path / "g_only" / "discriminator").exists()
        loaded = GANPipeline.from_pretrained(tmp_path / "g_only")
        assert loaded.discriminator is None
        torch.testing.assert_close(self.run(loaded, torch.Generator().manual_seed(0)), expected, rtol=0, atol=0)
        with pytest.raises(ValueError, match="no discriminator"):
            loaded.discriminate(torch.rand(1, 1, 8, 8))
        pipe.save_pretrained(tmp_path / "both")
        assert GANPipeline.from_pretrained(tmp_path / "both", discriminator=None).discriminator is None


# --- training smoke run


def test_tiny_train_on_digits_writes_a_loadable_pipeline(tiny_train_kwargs):
    cfg = make_config("gan", **tiny_train_kwargs, max_steps=4, model_config="block_out_channels=(8, 16),latent_dim=6")
    result = train(cfg)
    out = result.output_dir
    assert result.steps == 4
    assert set(result.metrics) == {"d_loss", "g_loss", "d_real", "d_fake", "mean_image_gap", "std_image_gap"}
    assert all(math.isfinite(v) for v in result.metrics.values())
    assert 0 < result.metrics["d_real"] < 1 and 0 < result.metrics["d_fake"] < 1
    index = json.loads((out / "model_index.json").read_text())
    assert index["generator"] == ["hf_genzoo.models.gan", "Generator"]
    assert index["discriminator"] == ["hf_genzoo.models.gan", "Discriminator"]
    pipe = GANPipeline.from_pretrained(out)
    assert pipe.generator.config.sample_size == 8 and pipe.discriminator is not None
    assert pipe(batch_size=3, output_type="np").images.shape == (3, 8, 8, 1)
    grid = PIL.Image.open(next((out / "samples").glob("*.png")))
    assert grid.size == (16 * 50 + 2, 5 * 50 + 2)  # 16 held-out images over 4 rows of samples, 48-px tiles
    card = (out / "README.md").read_text()
    assert "GANPipeline.from_pretrained" in card and "mean_image_gap" in card
