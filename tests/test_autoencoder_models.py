"""The autoencoder models: the classic layer shapes, outputs, normalization, resolution checks."""

import pytest
import torch
from torch import nn

from hf_genzoo.models.autoencoder import AutoencoderOutput, ConvAutoencoder, MLPAutoencoder


def test_classic_cifar100_autoencoder_has_its_exact_layer_shapes():
    model = MLPAutoencoder(in_channels=3, sample_size=32, hidden_dim=512)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    shapes = [(m.in_features, m.out_features) for m in linears]
    assert shapes == [(3072, 512), (512, 256), (256, 64), (64, 256), (256, 512), (512, 3072)]
    kinds = [type(m).__name__ for m in model.encoder if not isinstance(m, (nn.Flatten,))]
    assert kinds == ["Linear", "ELU", "Linear", "ELU", "Linear", "Tanh"]
    kinds = [type(m).__name__ for m in model.decoder if not isinstance(m, nn.Unflatten)]
    assert kinds == ["Linear", "ELU", "Linear", "ELU", "Linear"]


def test_forward_returns_reconstruction_code_and_normalized_input():
    torch.manual_seed(0)
    model = MLPAutoencoder(in_channels=3, sample_size=8, hidden_dim=64, mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0))
    x = torch.rand(5, 3, 8, 8)
    out = model(x)
    assert isinstance(out, AutoencoderOutput)
    assert out.sample.shape == x.shape and out.latents.shape == (5, 8)
    mean = torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    std = torch.tensor([0.5, 0.25, 2.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(out.normed, (x - mean) / std)
    assert out.latents.abs().max() <= 1  # the code goes through Tanh
    torch.testing.assert_close(model.to_pixels(out.normed), x)  # to_pixels undoes the normalization


def test_latent_dim_overrides_the_classic_h_over_8():
    assert MLPAutoencoder(in_channels=1, sample_size=28, hidden_dim=512, latent_dim=2).encode(
        torch.rand(3, 1, 28, 28)
    ).shape == (3, 2)


@pytest.mark.parametrize("latent,shape", [("vector", (2, 16)), ("map", (2, 4, 7, 7))])
def test_conv_autoencoder_vector_and_map_codes(latent, shape):
    model = ConvAutoencoder(in_channels=1, sample_size=28, block_out_channels=(8, 16), latent_dim=16, latent=latent)
    out = model(torch.rand(2, 1, 28, 28))
    assert out.latents.shape == shape
    assert out.sample.shape == (2, 1, 28, 28)


def test_conv_autoencoder_says_which_resolutions_it_takes():
    with pytest.raises(ValueError, match=r"divisible by 4 .*got 30\. Use --resolution 32 \(or 28\)"):
        ConvAutoencoder(in_channels=1, sample_size=30, block_out_channels=(8, 16))


def test_wrong_input_shape_is_a_clear_error():
    model = MLPAutoencoder(in_channels=1, sample_size=8, hidden_dim=16)
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\)"):
        model(torch.rand(2, 3, 8, 8))


def test_logits_reconstruction_maps_through_a_sigmoid():
    model = MLPAutoencoder(
        in_channels=1, sample_size=8, hidden_dim=16, mean=(0.3,), std=(0.3,), reconstruction="logits"
    )
    s = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(model.to_pixels(s), torch.sigmoid(s))
    with pytest.raises(ValueError, match="reconstruction must be one of"):
        MLPAutoencoder(reconstruction="pixels")
