"""The Denoising Diffusion GAN family: its schedule and posterior against closed forms and diffusers' own
`DDPMScheduler.step`, T generator calls per sample, one training step, save/load, the command line."""

import json
import math

import numpy as np
import pytest
import torch

from hf_genzoo import cli
from hf_genzoo.errors import UserInputError
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.models.ddgan import DDGANDiscriminator, DDGANGenerator
from hf_genzoo.models.unet import TINY_UNET
from hf_genzoo.pipelines.ddgan import DDGANPipeline
from hf_genzoo.registry import get_family
from hf_genzoo.training import make_config, train
from hf_genzoo.training.ddgan import (
    BETA_MAX,
    BETA_MIN,
    EPS_SMALL,
    DDGANObjective,
    ddgan_betas,
    ddgan_scheduler,
    posterior,
    q_pair,
    r1_penalty,
    sample_posterior,
)

from .conftest import randomize_parameters

TINY = get_family("ddgan").tiny.model_config


def tiny_pipeline(T: int, seed: int = 0) -> DDGANPipeline:
    torch.manual_seed(seed)
    g = DDGANGenerator(in_channels=1, sample_size=8, latent_dim=4, mapping_layers=1, **TINY_UNET)
    d = DDGANDiscriminator(in_channels=1, sample_size=8, block_out_channels=(8, 16), embed_dim=8)
    pipe = DDGANPipeline(randomize_parameters(g, seed=seed).eval(), ddgan_scheduler(T), randomize_parameters(d).eval())
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --- the schedule and the posterior


@pytest.mark.parametrize("T", [1, 2, 4, 8])
def test_betas_are_the_papers_vp_schedule(T):
    # their get_sigma_schedule: var(s) = 1 - exp(-0.5 (b_max - b_min) s^2 - b_min s) at s = eps + (1 - eps) k / T
    s = np.arange(T + 1) / T * (1 - EPS_SMALL) + EPS_SMALL
    alpha_bar = 1 - (1 - np.exp(-0.5 * (BETA_MAX - BETA_MIN) * s**2 - BETA_MIN * s))
    expected = 1 - alpha_bar[1:] / alpha_bar[:-1]
    np.testing.assert_allclose(ddgan_betas(T).numpy(), expected, rtol=1e-12)
    # the stock scheduler holds them: x_T is (almost) pure noise whatever T
    scheduler = ddgan_scheduler(T)
    assert scheduler.config.num_train_timesteps == T and scheduler.config.prediction_type == "sample"
    # (the scheduler keeps float32 betas: 1 - beta loses digits when beta is near 1)
    assert float(scheduler.alphas_cumprod[-1]) == pytest.approx(alpha_bar[-1] / alpha_bar[0], rel=1e-3)
    assert float(scheduler.alphas_cumprod[-1]) < 1e-4


def bayes_posterior(betas: torch.Tensor, t: int, x0: torch.Tensor, xt: torch.Tensor):
    """q(x_{t-1} | x_t, x0) by Bayes' rule on the two Gaussians q(x_{t-1} | x0) and q(x_t | x_{t-1}), from the betas
    alone: precision = 1 / (1 - abar_{t-1}) + alpha_t / beta_t."""
    betas = betas.double()
    abar_prev = torch.prod(1 - betas[:t])  # 1 for t = 0 (x_{t-1} is x0 itself)
    alpha = 1 - betas[t]
    if t == 0:
        return x0.double(), torch.zeros((), dtype=torch.float64)
    precision = 1 / (1 - abar_prev) + alpha / betas[t]
    mean = (abar_prev.sqrt() * x0.double() / (1 - abar_prev) + alpha.sqrt() * xt.double() / betas[t]) / precision
    return mean, 1 / precision


@pytest.mark.parametrize("t", [0, 1, 3])
def test_posterior_matches_bayes_rule_and_its_samples_have_that_mean_and_variance(t):
    scheduler = ddgan_scheduler(4)
    g = torch.Generator().manual_seed(0)
    x0, xt = torch.rand(1, 1, 2, 2, generator=g) * 2 - 1, torch.randn(1, 1, 2, 2, generator=g)
    mean, var = posterior(scheduler, x0, xt, torch.tensor([t]))
    exp_mean, exp_var = bayes_posterior(ddgan_betas(4), t, x0, xt)
    torch.testing.assert_close(mean.double(), exp_mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(var.double().flatten()[0], exp_var.double(), rtol=1e-5, atol=1e-9)
    n = 200_000
    draws = sample_posterior(scheduler, x0.expand(n, -1, -1, -1), xt.expand(n, -1, -1, -1), torch.full((n,), t), g)
    sd = float(exp_var.sqrt())
    torch.testing.assert_close(draws.double().mean(0), exp_mean[0], rtol=0, atol=5 * sd / math.sqrt(n) + 1e-6)
    torch.testing.assert_close(draws.double().var(0), exp_var.double().expand(1, 2, 2), rtol=0.02, atol=1e-9)


@pytest.mark.parametrize("t", [0, 2, 3])
def test_the_pipelines_step_is_diffusers_ddpm_step_with_the_posterior(t):
    # the pipeline steps with stock DDPMScheduler.step (prediction_type="sample"); it draws the same sample as
    # our training-time posterior given the same noise
    scheduler = ddgan_scheduler(4)
    scheduler.set_timesteps(4)
    x0, xt = torch.rand(3, 1, 4, 4) * 2 - 1, torch.randn(3, 1, 4, 4)
    stepped = scheduler.step(x0, t, xt, generator=torch.Generator().manual_seed(7)).prev_sample
    mean, var = posterior(scheduler, x0, xt, torch.full((3,), t))
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(7)) if t > 0 else torch.zeros_like(x0)
    torch.testing.assert_close(stepped, (mean + var.sqrt() * noise).float(), rtol=1e-5, atol=1e-5)
    if t == 0:
        torch.testing.assert_close(stepped, x0)  # the last step returns the generator's x0' itself


def test_real_pairs_follow_the_forward_process():
    scheduler, n, t = ddgan_scheduler(4), 200_000, 2
    x0 = torch.full((n, 1, 1, 1), 0.5)
    x_prev, x_t = q_pair(scheduler, x0, torch.full((n,), t), torch.Generator().manual_seed(0))
    abar = scheduler.alphas_cumprod.double()
    for x, a in ((x_prev, abar[t - 1]), (x_t, abar[t])):  # q(x_k | x0) = N(sqrt(abar_k) x0, 1 - abar_k)
        assert float(x.double().mean()) == pytest.approx(float(a.sqrt() * 0.5), abs=0.01)
        assert float(x.double().var()) == pytest.approx(float(1 - a), rel=0.02)
    # and x_t given x_{t-1} has variance beta_t around sqrt(1 - beta_t) x_{t-1}
    beta = float(scheduler.betas[t])
    assert float((x_t - (1 - beta) ** 0.5 * x_prev).double().var()) == pytest.approx(beta, rel=0.02)
    x_prev0, _ = q_pair(scheduler, x0[:4], torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(x_prev0, x0[:4])  # at the first step x_{t-1} is the data itself


def test_r1_penalty_is_the_squared_gradient_norm():
    # a linear critic D(x) = <w, x> has gradient w for every x: the penalty is ||w||^2
    w = torch.randn(1, 2, 3, 3, requires_grad=True)
    x = torch.randn(5, 2, 3, 3, requires_grad=True)
    penalty = r1_penalty((x * w).flatten(1).sum(1), x)
    assert float(penalty.detach()) == pytest.approx(float(w.detach().pow(2).sum()), rel=1e-6)
    penalty.backward()  # it trains the discriminator: the graph is kept, and d ||w||^2 / dw = 2 w
    torch.testing.assert_close(w.grad, 2 * w.detach())


# --- the pipeline


@pytest.mark.parametrize("T", [2, 4])
def test_sampling_calls_the_generator_exactly_T_times(T):
    pipe = tiny_pipeline(T)
    calls = []
    pipe.generator.register_forward_hook(lambda module, args, out: calls.append(int(args[1])))
    images = pipe(batch_size=3, generator=torch.Generator().manual_seed(0), output_type="pt").images
    assert calls == list(range(T - 1, -1, -1)) and images.shape == (3, 1, 8, 8)
    assert 0 <= images.min() and images.max() <= 1
    with pytest.raises(UserInputError, match=f"trained for T = {T} denoising steps"):
        pipe(batch_size=1, num_inference_steps=T + 1)


def test_the_last_step_returns_the_generators_x0_guess():
    pipe = tiny_pipeline(2)
    outputs = []
    pipe.generator.register_forward_hook(lambda module, args, out: outputs.append(out.sample))
    images = pipe(batch_size=2, generator=torch.Generator().manual_seed(3), output_type="pt").images
    torch.testing.assert_close(images, (outputs[-1] + 1) / 2)


def test_discriminator_and_generator_check_their_inputs():
    pipe = tiny_pipeline(2)
    with pytest.raises(UserInputError, match=r"latents of shape \(B, 4\)"):
        pipe.generator(torch.randn(2, 1, 8, 8), 0, torch.randn(2, 3))
    with pytest.raises(UserInputError, match=r"conditions \(x_t\) of shape \(B, 1, 8, 8\)"):
        pipe.discriminator(torch.randn(2, 1, 8, 8), torch.randn(2, 1, 4, 4), 0)
    with pytest.raises(UserInputError, match="divisible by 4"):
        DDGANDiscriminator(sample_size=10, block_out_channels=(8, 16))
    with pytest.raises(UserInputError, match=r"attention_head_dim=32 is wider than the attention layers of width 16"):
        DDGANGenerator(
            sample_size=8,
            block_out_channels=(8, 16),
            norm_num_groups=4,
            down_block_types=("DownBlock2D", "AttnDownBlock2D"),
            up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        )


def test_minibatch_stddev_is_the_groups_feature_std():
    from hf_genzoo.models.ddgan import minibatch_stddev

    h = torch.randn(6, 3, 2, 2, dtype=torch.float64)
    out = minibatch_stddev(h, 4)  # 6 pairs: groups of 3 (the largest divisor of 6 up to 4), pairs i and i + 2 ...
    assert out.shape == (6, 1, 2, 2)
    for i in range(6):
        group = h[i % 2 :: 2]  # the pairs that share a group with pair i
        expected = group.std(0, unbiased=False).mean()
        torch.testing.assert_close(out[i].flatten(), expected.expand(4), rtol=1e-6, atol=1e-6)
    same = minibatch_stddev(h[:1].expand(4, -1, -1, -1), 4)  # a batch of identical samples shows no spread
    assert float(same.max()) < 1e-3


# --- training


def test_one_training_step_changes_both_models_and_leaves_no_gradient_in_d(tiny_train_kwargs):
    cfg = make_config("ddgan", model_config=TINY, max_steps=1, lazy_reg=1, **tiny_train_kwargs)
    from hf_genzoo.data import load_images

    data = load_images("digits", "train")
    objective = DDGANObjective(cfg, data)
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in objective.models.items()}
    optimizers = objective.optimizers()
    assert optimizers["discriminator"].param_groups[0]["lr"] == 1.25e-4  # the paper's two learning rates
    assert optimizers["generator"].param_groups[0]["lr"] == 1.6e-4
    batch = {"pixel_values": torch.from_numpy(np.array(data.images[:16]))}
    for name, loss in objective.losses(batch, step=0):
        loss.backward()
        if name == "discriminator":  # the loop steps each optimizer before asking for the next loss
            optimizers[name].step()
            optimizers[name].zero_grad(set_to_none=True)
    optimizers["generator"].step()
    d_grads = [p.grad for p in objective.models["discriminator"].parameters()]
    assert all(g is None for g in d_grads), "the generator's backward must leave no gradient in D"
    for name, model in objective.models.items():
        changed = [not torch.equal(a, b) for a, b in zip(before[name], model.parameters(), strict=True)]
        assert sum(changed) > len(changed) // 2, f"{name} was barely updated"


def test_r1_is_added_every_lazy_reg_steps(tiny_train_kwargs):
    from hf_genzoo.data import load_images

    data = load_images("digits", "train")
    batch = {"pixel_values": torch.from_numpy(np.array(data.images[:8]))}
    losses = {}
    for gamma, step in ((0.0, 0), (10.0, 0), (10.0, 1)):
        cfg = make_config("ddgan", model_config=TINY, r1_gamma=gamma, lazy_reg=2, **tiny_train_kwargs)
        torch.manual_seed(0)
        objective = DDGANObjective(cfg, data)
        torch.manual_seed(1)
        losses[gamma, step] = float(next(objective.losses(batch, step))[1])
    assert losses[10.0, 0] > losses[0.0, 0]  # the penalty is on at step 0 ...
    assert losses[10.0, 1] == pytest.approx(losses[0.0, 0], rel=1e-6)  # ... and off at step 1 (1 % 2 != 0)


def test_model_config_goes_to_the_models_that_take_it(tiny_train_kwargs):
    from hf_genzoo.data import load_images

    cfg = make_config("ddgan", model_config=TINY, **tiny_train_kwargs)
    objective = DDGANObjective(cfg, load_images("digits", "train"))
    G, D = objective.models["generator"], objective.models["discriminator"]
    assert G.config.block_out_channels == (16, 32) and D.config.block_out_channels == (16, 32)
    assert G.config.latent_dim == 8 and D.config.embed_dim == 16
    with pytest.raises(UserInputError, match="no option"):
        DDGANObjective(
            make_config("ddgan", model_config="wings=2", **tiny_train_kwargs), load_images("digits", "train")
        )


@pytest.mark.parametrize("T", [2])
def test_tiny_train_saves_a_pipeline_that_loads_and_samples_alike(tiny_train_kwargs, tmp_path, T, capsys):
    result = train(make_config("ddgan", model_config=TINY, max_steps=6, num_timesteps=T, **tiny_train_kwargs))
    out = result.output_dir
    assert {"d_loss", "g_loss", "d_real", "d_fake", "x0_mse", "mean_image_gap"} <= set(result.metrics)
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "DDGANPipeline" and index["scheduler"] == ["diffusers", "DDPMScheduler"]
    a = DDGANPipeline.from_pretrained(out)
    b = load_pipeline(str(out))
    assert a.num_timesteps == T and a.discriminator is not None
    for pipe in (a, b):
        pipe.set_progress_bar_config(disable=True)
    x = a(batch_size=4, generator=torch.Generator().manual_seed(0), output_type="pt").images
    y = b(batch_size=4, generator=torch.Generator().manual_seed(0), output_type="pt").images
    torch.testing.assert_close(x, y, rtol=0, atol=0)
    card = (out / "README.md").read_text()
    assert "Denoising Diffusion GAN with T = 2 steps" in card and "DDGANPipeline.from_pretrained" in card
    # genzoo sample draws it like any family, and says how many network evaluations each sample took
    cli.main(["sample", "--model", str(out), "--num_images", "4", "--output", str(tmp_path / "grid.png")])
    assert f"4 samples ({T} network evaluations)" in capsys.readouterr().out
    assert (tmp_path / "grid.png").exists()
