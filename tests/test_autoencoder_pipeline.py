"""AutoencoderPipeline: inputs of every kind, encode/decode, save/load round trip."""

import numpy as np
import PIL.Image
import torch

from hf_genzoo import AutoencoderPipeline, ConvAutoencoder, MLPAutoencoder

from .conftest import randomize_parameters


def _images(n=4, channels=1, size=8, seed=0):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


class TestMLPAutoencoderPipeline:
    def get_pipeline(self):
        torch.manual_seed(0)
        model = MLPAutoencoder(in_channels=1, sample_size=8, hidden_dim=32, mean=(0.3,), std=(0.4,))
        return AutoencoderPipeline(autoencoder=randomize_parameters(model).eval())

    def run(self, pipe, generator):
        return pipe.reconstruct(_images(seed=generator.initial_seed()), output_type="pt").images

    def test_pil_numpy_and_tensor_inputs_agree(self):
        pipe = self.get_pipeline()
        x = (_images(2) * 255).round() / 255  # exactly representable as uint8
        arr = (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)  # (B, H, W, C)
        pils = [PIL.Image.fromarray(a[..., 0], mode="L") for a in arr]
        from_tensor = pipe.reconstruct(x, output_type="pt").images
        torch.testing.assert_close(pipe.reconstruct(arr, output_type="pt").images, from_tensor)
        torch.testing.assert_close(pipe.reconstruct(pils, output_type="pt").images, from_tensor)
        out = pipe.reconstruct(pils)  # default: PIL out
        assert isinstance(out.images[0], PIL.Image.Image) and out.images[0].size == (8, 8)
        assert pipe.reconstruct(x, output_type="np").images.shape == (2, 8, 8, 1)

    def test_encode_then_decode_equals_reconstruct(self):
        pipe = self.get_pipeline()
        x = _images(3)
        codes = pipe.encode(x)
        assert codes.shape == (3, 4)  # hidden_dim / 8
        torch.testing.assert_close(
            pipe.decode(codes, output_type="pt").images, pipe.reconstruct(x, output_type="pt").images
        )

    def test_rgb_input_is_turned_into_the_models_grey(self):
        pipe = self.get_pipeline()
        rgb = PIL.Image.fromarray(np.full((16, 16, 3), 128, dtype=np.uint8))
        assert pipe.reconstruct(rgb, output_type="pt").images.shape == (1, 1, 8, 8)


class TestConvAutoencoderPipeline:
    def get_pipeline(self):
        torch.manual_seed(0)
        model = ConvAutoencoder(in_channels=3, sample_size=8, block_out_channels=(4, 8), latent_dim=6)
        return AutoencoderPipeline(autoencoder=randomize_parameters(model).eval())

    def run(self, pipe, generator):
        x = _images(channels=3, seed=generator.initial_seed())
        return torch.cat([pipe.reconstruct(x, output_type="pt").images.flatten(1), pipe.encode(x)], 1)

    def test_denoise_takes_noisy_images(self):
        pipe = self.get_pipeline()
        assert pipe.denoise(_images(2, channels=3), output_type="pt").images.shape == (2, 3, 8, 8)
