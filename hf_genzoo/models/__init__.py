"""Model families. Each file is one family: ModelMixin + ConfigMixin, no training or data code."""

from .autoencoder import AutoencoderOutput, ConvAutoencoder, MLPAutoencoder, Normalize
from .gan import Discriminator, DiscriminatorOutput, Generator, GeneratorOutput

__all__ = [
    "AutoencoderOutput", "ConvAutoencoder", "Discriminator", "DiscriminatorOutput", "Generator", "GeneratorOutput",
    "MLPAutoencoder", "Normalize",
]  # fmt: skip
