"""VAE family: the model's maths, diffusers' VAE protocol, the pipeline, the objective and a tiny training run."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from accelerate.utils import convert_to_fp32
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution

import hf_genzoo.training.vae  # noqa: F401  (registers "vae")
from hf_genzoo.models.vae import VAE, VAEOutput, discretized_gaussian_log_likelihood
from hf_genzoo.pipelines.vae import VAEPipeline
from hf_genzoo.training import make_config, train
from hf_genzoo.training.vae import VAEObjective
from tests.conftest import randomize_parameters


def tiny_vae(seed=0, **kw) -> VAE:
    torch.manual_seed(seed)
    cfg = dict(sample_size=8, block_out_channels=(8, 16), latent_dim=2)
    return randomize_parameters(VAE(**{**cfg, **kw}), scale=0.3, seed=seed).eval()


def images(n=4, seed=0, size=8) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


# --- maths


@pytest.mark.parametrize("latent", ["vector", "map"])
def test_kl_equals_closed_form(latent):
    vae = tiny_vae(latent=latent, latent_dim=5, latent_channels=3)
    x = images()
    with torch.no_grad():
        h = vae.encoder(2 * x - 1)
        mu, logvar = vae.mean_head(h), vae.logvar_head(h)
        out = vae(x)
    assert logvar.std() > 0.1, "random heads should give varied log-variances"
    by_hand = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).flatten(1).sum(1)  # (B,)
    torch.testing.assert_close(out.kl, by_hand, rtol=1e-5, atol=1e-5)
    normal = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    reference = torch.distributions.kl_divergence(normal, torch.distributions.Normal(0.0, 1.0)).flatten(1).sum(1)
    torch.testing.assert_close(out.kl, reference, rtol=1e-5, atol=1e-5)


def test_discretized_gaussian_is_a_distribution_over_the_256_levels():
    levels = (torch.arange(256, dtype=torch.float64) / 255).view(1, 256, 1, 1)
    mean = torch.tensor([-0.3, 0.0, 0.37, 0.9, 1.4], dtype=torch.float64).view(5, 1, 1, 1)
    log_scale = torch.tensor([0.01, 0.002, 0.1, 0.5, 0.05], dtype=torch.float64).log().view(5, 1, 1, 1)
    logp = discretized_gaussian_log_likelihood(levels.expand(5, -1, -1, -1), mean, log_scale)  # (5, 256, 1, 1)
    torch.testing.assert_close(logp.exp().sum(1), torch.ones(5, 1, 1, dtype=torch.float64))
    # interior bins are CDF differences, the end bins the two tails
    normal = torch.distributions.Normal(mean, log_scale.exp())
    edges = (torch.arange(257, dtype=torch.float64) - 0.5) / 255  # bin edges of the 256 levels
    mass = normal.cdf(edges[1:].view(1, 256, 1, 1)) - normal.cdf(edges[:-1].view(1, 256, 1, 1))
    mass[:, :1] = normal.cdf(edges[1])
    mass[:, -1:] = torch.distributions.Normal(-mean, log_scale.exp()).cdf(-edges[-2])  # 1 - cdf, without cancelling
    ok = mass > 1e-6  # where float64 CDF differences are accurate to far better than the tolerance
    torch.testing.assert_close(logp[ok], mass[ok].log(), rtol=1e-6, atol=1e-6)


def test_reconstruction_nll():
    x = images()
    sample = torch.randn_like(x)
    bern = VAE(sample_size=8)
    by_hand = -(x * F.logsigmoid(sample) + (1 - x) * F.logsigmoid(-sample)).sum((1, 2, 3))  # (B,)
    torch.testing.assert_close(bern.reconstruction_nll(sample, x), by_hand)
    fixed = VAE(sample_size=8, likelihood="gaussian", decoder_scale=0.2, learn_decoder_scale=False)
    assert "log_scale" not in dict(fixed.named_parameters()), "a fixed scale is not a parameter"
    learned = VAE(sample_size=8, likelihood="gaussian", decoder_scale=0.2)
    torch.testing.assert_close(learned.decoder_log_scale(), torch.tensor([math.log(0.2)]))
    x8 = (x * 255).round() / 255
    want = -discretized_gaussian_log_likelihood(x8, sample, torch.tensor(math.log(0.2))).sum((1, 2, 3))
    torch.testing.assert_close(fixed.reconstruction_nll(sample, x8), want)


# --- diffusers' VAE protocol


def test_encode_decode_speak_diffusers_vae_protocol():
    vae = tiny_vae(latent_dim=3)
    x = images()
    posterior = vae.encode(x).latent_dist
    assert isinstance(posterior, DiagonalGaussianDistribution)
    assert posterior.mean.shape == (4, 3, 1, 1) == (4, *vae.latent_shape)
    a = posterior.sample(torch.Generator().manual_seed(0))
    b = posterior.sample(torch.Generator().manual_seed(0))
    c = posterior.sample(torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    with torch.no_grad():
        mean_head = vae.mean_head(vae.encoder(2 * x - 1))  # (B, D)
    torch.testing.assert_close(posterior.mode().flatten(1), mean_head, rtol=0, atol=0)
    out = vae.decode(a)
    assert isinstance(out, DecoderOutput) and out.sample.shape == x.shape
    torch.testing.assert_close(vae.decode(a.flatten(1)).sample, out.sample)  # a (B, D) vector latent works too
    assert vae.decode(a, return_dict=False)[0].shape == x.shape
    assert vae.config.scaling_factor == 1.0
    full = vae(x, generator=torch.Generator().manual_seed(0))
    assert isinstance(full, VAEOutput)
    torch.testing.assert_close(full.sample, out.sample)  # forward decodes the reparameterized sample
    torch.testing.assert_close(vae(x, sample_posterior=False).sample, vae.decode(posterior.mode()).sample)
    with pytest.raises(ValueError, match=r"\(B, 3, 1, 1\)"):
        vae.decode(torch.zeros(2, 4))


def test_latent_map():
    vae = tiny_vae(latent="map", latent_channels=3)
    posterior = vae.encode(images()).latent_dist
    assert posterior.mean.shape == (4, 3, 2, 2) == (4, *vae.latent_shape)
    assert vae.decode(posterior.sample()).sample.shape == (4, 1, 8, 8)


def test_output_survives_accelerate_fp32_conversion():
    """Under mixed precision accelerate rebuilds outputs from a dict; VAEOutput must allow that."""
    vae = tiny_vae()
    out = vae(images())
    half = VAEOutput(sample=out.sample.bfloat16(), latent_dist=out.latent_dist, kl=out.kl.bfloat16())
    converted = convert_to_fp32(half)
    assert isinstance(converted, VAEOutput) and converted.sample.dtype == converted.kl.dtype == torch.float32
    assert converted.latent_dist is out.latent_dist


def test_bad_configs_raise_value_errors():
    with pytest.raises(
        ValueError, match=r"divisible by 4 \(4, 8, 12, 16, \.\.\.\); got 30\. Use --resolution 32 \(or 28\)"
    ):
        VAE(sample_size=30)
    with pytest.raises(ValueError, match=r"divisible by 8"):
        VAE(sample_size=28, block_out_channels=(8, 16, 32))
    with pytest.raises(ValueError, match="likelihood must be one of"):
        VAE(likelihood="poisson")
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\)"):
        VAE(sample_size=8)(torch.rand(2, 1, 28, 28))


# --- pipeline


class TestVAEPipeline:
    def get_pipeline(self):
        return VAEPipeline(vae=tiny_vae())

    def run(self, pipe, generator):
        return pipe(batch_size=3, generator=generator, output_type="pt").images

    def test_samples_decode_prior_draws(self):
        pipe = self.get_pipeline()
        got = self.run(pipe, torch.Generator().manual_seed(0))
        z = torch.randn(3, 2, 1, 1, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(got, torch.sigmoid(pipe.vae.decode(z).sample))
        assert len(pipe(batch_size=2).images) == 2  # PIL by default

    def test_encode_and_reconstruct_use_the_posterior_mean(self):
        pipe = self.get_pipeline()
        x = images()
        means = pipe.encode(x)
        assert means.shape == (4, 2)
        torch.testing.assert_close(means, pipe.vae.encode(x).latent_dist.mode().flatten(1))
        recon = pipe.reconstruct(x, output_type="pt").images
        torch.testing.assert_close(recon, torch.sigmoid(pipe.vae.decode(means).sample))

    def test_interpolation_endpoints_decode_the_two_latent_means(self):
        pipe = self.get_pipeline()
        a, b = images(1, seed=1), images(1, seed=2)
        strip = pipe.interpolate(a[0], b[0], steps=5, output_type="pt").images
        assert strip.shape == (5, 1, 8, 8)
        z_a, z_b = pipe.encode(a), pipe.encode(b)
        decoded = pipe.decode(torch.cat([z_a, (z_a + z_b) / 2, z_b]), output_type="pt").images
        torch.testing.assert_close(strip[[0, 2, 4]], decoded)
        assert not torch.allclose(strip[0], strip[-1])

    def test_latent_grid_decodes_gaussian_quantiles(self):
        pipe = self.get_pipeline()
        grid = pipe.latent_grid(n=4, output_type="pt").images
        assert grid.shape == (16, 1, 8, 8)
        q = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor([0.125, 0.375, 0.625, 0.875]))
        corners = torch.tensor([[q[0], q[3]], [q[3], q[3]], [q[0], q[0]], [q[3], q[0]]])  # top-left .. bottom-right
        torch.testing.assert_close(grid[[0, 3, 12, 15]], pipe.decode(corners, output_type="pt").images)
        with pytest.raises(ValueError, match="latent_dim=2"):
            VAEPipeline(vae=tiny_vae(latent_dim=3)).latent_grid()


# --- objective and training


def test_objective_options_come_from_model_config():
    data = SimpleNamespace(channels=1, resolution=8)
    obj = VAEObjective(make_config("vae", model_config="latent_dim=4,beta=0.5,kl_warmup_steps=10"), data)
    assert obj.vae.config.latent_dim == 4 and obj.vae.config.sample_size == 8
    assert [obj.kl_weight(s) for s in (0, 5, 10, 50)] == [0.0, 0.25, 0.5, 0.5]
    with pytest.raises(ValueError, match=r"no option\(s\) \['depth'\].*latent_dim.*beta"):
        VAEObjective(make_config("vae", model_config="depth=3"), data)
    with pytest.raises(ValueError, match="negative ELBO"):
        VAEObjective(make_config("vae", loss="mse"), data)


def test_tiny_training_on_digits_lowers_nelbo_and_saves_a_loadable_pipeline(tiny_train_kwargs):
    cfg = make_config("vae", epochs=2, model_config="block_out_channels=(16, 32),latent_dim=8", **tiny_train_kwargs)
    result = train(cfg)
    first, last = result.history[0], result.history[-1]
    assert last["nelbo"] < first["nelbo"]
    assert last["nelbo"] == pytest.approx(last["recon_nll"] + last["kl"])
    assert last["bits_per_dim"] == pytest.approx(last["nelbo"] / (64 * math.log(2)))
    out = result.output_dir
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["metrics"]["nelbo"] == pytest.approx(last["nelbo"])
    card = (out / "README.md").read_text()
    assert "VAEPipeline.from_pretrained" in card and "nelbo" in card and (out / "sample.png").exists()
    pipe = VAEPipeline.from_pretrained(out)
    assert pipe.vae.config.latent_dim == 8 and pipe.vae.config.block_out_channels == [16, 32]
    assert pipe(batch_size=2, output_type="pt").images.shape == (2, 1, 8, 8)
