"""Tests of the normalizing-flow family: every layer and the whole multiscale flow are invertible with
log-dets equal to autograd's log |det J|; closed-form log-likelihood at initialization; actnorm's
data-dependent init; the pipeline (save/load, determinism, temperature, log-likelihood inputs); training."""

import math

import numpy as np
import PIL.Image
import pytest
import torch
from torch.autograd.functional import jacobian

import hf_genzoo.training.flow  # noqa: F401  (registers the "flow" objective)
from hf_genzoo.data import load_images
from hf_genzoo.models.flow import (
    ActNorm,
    AffineCoupling,
    Flow,
    InvertibleConv1x1,
    LogitTransform,
    Squeeze,
    flow_step,
)
from hf_genzoo.pipelines.flow import FlowPipeline
from hf_genzoo.training import make_config, train
from hf_genzoo.training.flow import EVAL_NOISE_SEED, FlowObjective

from .conftest import randomize_parameters

TINY = dict(num_levels=2, steps_per_level=2, hidden_channels=8)


def perturb(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move a flow far from the identity it starts as: every parameter, then actnorm and the 1x1
    convolutions by more; mark actnorms initialized so `inverse` does not re-initialize them."""
    randomize_parameters(module, scale=0.1, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, ActNorm):
                m.loc.add_(0.3 * torch.randn(m.loc.shape, generator=g, dtype=m.loc.dtype))
                m.log_scale.add_(0.2 * torch.randn(m.log_scale.shape, generator=g, dtype=m.log_scale.dtype))
                m.initialized.fill_(True)
            elif isinstance(m, InvertibleConv1x1):
                for p, scale in ((m.lower, 0.1), (m.upper, 0.1), (m.log_s, 0.2)):
                    p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module.eval()


def log_abs_det(fn, inp: torch.Tensor) -> torch.Tensor:
    """log |det d fn(inp) / d inp| for one example, by autograd."""
    jac = jacobian(fn, inp)  # out.shape + inp.shape
    n = inp.numel()
    return torch.linalg.slogdet(jac.reshape(n, n)).logabsdet


# name -> (layer factory, latent-side shape of one example)
LAYERS = {
    "squeeze": (Squeeze, (1, 4, 2, 2)),
    "actnorm": (lambda: ActNorm(2), (1, 2, 3, 3)),
    "conv1x1": (lambda: InvertibleConv1x1(4), (1, 4, 2, 2)),
    "coupling": (lambda: AffineCoupling(4, 8), (1, 4, 3, 3)),
    "coupling_odd": (lambda: AffineCoupling(3, 8), (1, 3, 2, 2)),
    "logit": (lambda: LogitTransform(0.05), (1, 1, 4, 4)),
    "flow_step": (lambda: flow_step(4, 8), (1, 4, 2, 2)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_is_invertible_with_autograd_log_det(name):
    factory, shape = LAYERS[name]
    torch.manual_seed(0)
    layer = perturb(factory().double())
    z = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x, ld_forward = layer(z)
    z_back, ld_inverse = layer.inverse(x)
    torch.testing.assert_close(z_back, z, rtol=0, atol=1e-4)
    if x.shape == z.shape:  # a round trip through an identity could not fail
        assert (x - z).abs().max() > 1e-2
    torch.testing.assert_close(ld_forward, -ld_inverse, rtol=0, atol=1e-8)
    torch.testing.assert_close(ld_forward[0], log_abs_det(lambda v: layer(v)[0], z), rtol=0, atol=1e-8)
    torch.testing.assert_close(ld_inverse[0], log_abs_det(lambda v: layer.inverse(v)[0], x), rtol=0, atol=1e-8)


@pytest.mark.parametrize("in_channels", [1, 2])
def test_multiscale_flow_is_invertible_with_autograd_log_det(in_channels):
    torch.manual_seed(0)
    flow = perturb(Flow(in_channels=in_channels, sample_size=4, **TINY).double())
    z = torch.randn(1, flow.num_dims, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x, ld_forward = flow(z, return_dict=False)  # the flow contract: (x, log_det)
    out = flow(z)  # the typed output holds the same
    assert x.shape == (1, in_channels, 4, 4) and torch.equal(out.sample, x) and torch.equal(out.log_det, ld_forward)
    z_back, ld_inverse = flow.inverse(x)
    torch.testing.assert_close(z_back, z, rtol=0, atol=1e-4)
    torch.testing.assert_close(flow(x, inverse=True)[0], z_back, rtol=0, atol=0)
    torch.testing.assert_close(ld_forward, -ld_inverse, rtol=0, atol=1e-8)
    torch.testing.assert_close(ld_forward[0], log_abs_det(lambda v: flow(v)[0], z), rtol=0, atol=1e-8)
    torch.testing.assert_close(ld_inverse[0], log_abs_det(lambda v: flow.inverse(v)[0], x), rtol=0, atol=1e-8)


@pytest.mark.parametrize("channels, size, levels", [(1, 8, 3), (1, 28, 2), (3, 32, 3)])
def test_flow_round_trip_at_supported_resolutions(channels, size, levels):
    torch.manual_seed(0)
    flow = Flow(in_channels=channels, sample_size=size, num_levels=levels, steps_per_level=1, hidden_channels=8)
    flow = perturb(flow.double())
    images = torch.randint(0, 256, (2, channels, size, size), dtype=torch.uint8)
    y = flow.uniform_dequantize(images)
    z, ld = flow.inverse(y)
    assert z.shape == (2, channels * size * size) and ld.shape == (2,)
    x, ld_forward = flow(z, return_dict=False)
    torch.testing.assert_close(x, y, rtol=0, atol=1e-6)
    torch.testing.assert_close(ld_forward, -ld, rtol=0, atol=1e-6)


@pytest.mark.parametrize("size, levels", [(28, 3), (30, 2), (7, 1)])
def test_resolution_that_does_not_divide_is_refused(size, levels):
    with pytest.raises(ValueError, match=f"divisible by {2**levels}"):
        Flow(sample_size=size, num_levels=levels)


def test_bad_latent_and_image_shapes_are_refused():
    flow = Flow(sample_size=8, **TINY)
    with pytest.raises(ValueError, match=r"latents of shape \(B, 64\)"):
        flow(torch.zeros(1, 63))
    with pytest.raises(ValueError, match=r"images of shape \(B, 1, 8, 8\)"):
        flow.inverse(torch.zeros(1, 1, 4, 4))


def test_log_prob_matches_closed_form_at_initialization():
    # At construction couplings and actnorms are identities and each 1x1 conv is a rotation, which keeps
    # |z| and has |det| = 1: log p(y) is that of the logit pre-transform alone (the rotations are float32-exact,
    # hence the tolerance).
    alpha = 0.05
    flow = Flow(sample_size=8, logit_alpha=alpha, **TINY).double().eval()
    images = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    u = torch.rand(images.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    p = alpha + (1 - 2 * alpha) * (images.double() + u) / 256
    logit = torch.log(p / (1 - p))
    per_dim = torch.distributions.Normal(0.0, 1.0).log_prob(logit) + math.log(1 - 2 * alpha) - torch.log(p * (1 - p))
    expected = per_dim.flatten(1).sum(1) - 64 * math.log(256)

    log_prob = flow.log_prob(images, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(log_prob, expected, rtol=0, atol=1e-4)
    from_floats = flow.log_prob(images.double() / 255, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(from_floats, log_prob, rtol=0, atol=0)
    bpd = flow.bits_per_dim(images, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(bpd, -log_prob / (64 * math.log(2)), rtol=0, atol=1e-12)


def test_actnorm_initializes_from_data_not_in_init(tmp_path):
    flow = Flow(sample_size=8, **TINY)
    actnorms = [m for m in flow.modules() if isinstance(m, ActNorm)]
    assert len(actnorms) == 4 and not any(bool(m.initialized) for m in actnorms)
    assert all(bool((m.loc == 0).all()) for m in actnorms)
    images = torch.randint(0, 256, (256, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    flow.eval().initialize(images, generator=torch.Generator().manual_seed(1))
    assert all(bool(m.initialized) for m in actnorms) and not flow.training
    # the first actnorm's output on that batch is standardized per channel
    y = flow.uniform_dequantize(images, generator=torch.Generator().manual_seed(1))
    h = Squeeze().inverse(flow.preprocess.inverse(y)[0])[0]
    out = actnorms[0].inverse(h)[0].transpose(0, 1).flatten(1)  # (C, B*H*W)
    torch.testing.assert_close(out.mean(1), torch.zeros(4), rtol=0, atol=1e-4)
    torch.testing.assert_close(out.std(1, correction=0), torch.ones(4), rtol=0, atol=1e-4)
    # the flag and the statistics are saved with the model
    flow.save_pretrained(tmp_path)
    loaded = Flow.from_pretrained(tmp_path)
    assert all(bool(m.initialized) for m in loaded.modules() if isinstance(m, ActNorm))
    torch.testing.assert_close(
        loaded.log_prob(images[:4], torch.Generator().manual_seed(2)),
        flow.log_prob(images[:4], torch.Generator().manual_seed(2)),
        rtol=0,
        atol=0,
    )


class TestFlowPipeline:
    def get_pipeline(self):
        torch.manual_seed(0)
        return FlowPipeline(flow=perturb(Flow(sample_size=8, **TINY)))

    def run(self, pipe, generator):
        return pipe(batch_size=3, generator=generator, output_type="pt").images

    def test_temperature_zero_is_the_image_of_zero(self):
        pipe = self.get_pipeline()
        a = pipe(batch_size=2, temperature=0.0, generator=torch.Generator().manual_seed(0), output_type="pt").images
        b = pipe(batch_size=2, temperature=0.0, generator=torch.Generator().manual_seed(1), output_type="pt").images
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        expected = pipe.flow.to_pixels(pipe.flow(torch.zeros(2, 64)).sample)
        torch.testing.assert_close(a, expected, rtol=0, atol=0)
        sampled = self.run(pipe, torch.Generator().manual_seed(0))
        assert (sampled[0] - sampled[1]).abs().max() > 1e-3

    def test_log_prob_of_pil_numpy_and_tensor_images_agree(self):
        pipe = self.get_pipeline()
        arr = np.random.default_rng(0).integers(0, 256, size=(3, 8, 8, 1), dtype=np.uint8)
        pils = [PIL.Image.fromarray(a[..., 0]) for a in arr]
        tensor = torch.from_numpy(arr).permute(0, 3, 1, 2)  # (B, 1, 8, 8) uint8

        def seeded():
            return torch.Generator().manual_seed(5)

        expected = pipe.flow.log_prob(tensor, seeded())
        for images in (arr, pils, tensor, tensor.float() / 255):
            torch.testing.assert_close(pipe.log_prob(images, seeded()), expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(
            pipe.bits_per_dim(arr, seeded(), max_batch_size=2), -expected / (64 * math.log(2)), rtol=0, atol=1e-6
        )

    def test_output_types_and_bad_arguments(self):
        pipe = self.get_pipeline()
        images = pipe(batch_size=2, generator=torch.Generator().manual_seed(0)).images
        assert len(images) == 2 and images[0].size == (8, 8)
        assert pipe(batch_size=2, output_type="np").images.shape == (2, 8, 8, 1)
        with pytest.raises(ValueError, match="temperature"):
            pipe(temperature=-1.0)
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            pipe(batch_size=0)
        with pytest.warns(FutureWarning, match="num_images"):  # the old name still works
            assert pipe(num_images=3, output_type="pt").images.shape == (3, 1, 8, 8)
        with pytest.warns(FutureWarning, match="sample is deprecated"):
            assert pipe.sample(2, temperature=0.5, output_type="pt").images.shape == (2, 1, 8, 8)


def test_objective_refuses_noise():
    data = load_images("digits", "train")
    with pytest.raises(ValueError, match="no --noise"):
        FlowObjective(make_config("flow", noise="gaussian:0.1"), data)


def test_training_lowers_test_bits_per_dim(tiny_train_kwargs):
    model_config = "num_levels=2,steps_per_level=2,hidden_channels=16"
    cfg = make_config(
        "flow", **{**tiny_train_kwargs, "batch_size": 64}, epochs=2, model_config=model_config, lr_warmup_steps=5
    )
    test = torch.from_numpy(np.array(load_images("digits", "test").images))  # (360, 1, 8, 8) uint8

    def test_bpd(flow_or_pipe) -> torch.Tensor:
        with torch.no_grad():
            return flow_or_pipe.bits_per_dim(test, torch.Generator().manual_seed(EVAL_NOISE_SEED)).mean()

    # the same start as training: seeded weights, actnorms initialized from the first training images
    torch.manual_seed(cfg.seed)
    untrained = Flow(in_channels=1, sample_size=8, num_levels=2, steps_per_level=2, hidden_channels=16)
    untrained.initialize(
        torch.from_numpy(np.array(load_images("digits", "train").images[:512])),
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    before = test_bpd(untrained.eval())

    result = train(cfg)
    pipe = FlowPipeline.from_pretrained(result.output_dir)
    after = test_bpd(pipe)
    assert math.isfinite(result.metrics["bits_per_dim"])
    assert abs(result.metrics["bits_per_dim"] - after.item()) < 0.02  # the loop's metric is the pipeline's number
    assert after < before - 0.3, (before, after)  # 7.55 -> 6.92 when written
    assert (result.output_dir / "sample.png").exists()
    assert "bits_per_dim" in (result.output_dir / "README.md").read_text()
