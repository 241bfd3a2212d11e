"""Model families. Each file is one family: ModelMixin + ConfigMixin, no training or data code."""

from .autoencoder import AutoencoderOutput, ConvAutoencoder, MLPAutoencoder, Normalize

__all__ = ["AutoencoderOutput", "ConvAutoencoder", "MLPAutoencoder", "Normalize"]
