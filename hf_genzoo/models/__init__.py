"""Model families. Each file is one family: ModelMixin + ConfigMixin, no training or data code."""

from .autoencoder import AutoencoderOutput, ConvAutoencoder, MLPAutoencoder, Normalize
from .gan import Discriminator, DiscriminatorOutput, Generator, GeneratorOutput
from .vae import VAE, VAEOutput

__all__ = [
    "AutoencoderOutput", "ConvAutoencoder", "Discriminator", "DiscriminatorOutput", "Generator", "GeneratorOutput",
    "MLPAutoencoder", "Normalize", "VAE", "VAEOutput",
]  # fmt: skip
