"""Model families. Each file is one family: ModelMixin + ConfigMixin, no training or data code."""

from .audio_denoiser import AudioDenoisingAE, AudioDenoisingOutput, SpectralMaskNet, WaveUNet
from .autoencoder import AutoencoderOutput, ConvAutoencoder, MLPAutoencoder, Normalize
from .classifier import ClassifierOutput, ImageClassifier
from .ddgan import DDGANDiscriminator, DDGANDiscriminatorOutput, DDGANGenerator, DDGANGeneratorOutput
from .flow import Flow, FlowOutput
from .gan import Discriminator, DiscriminatorOutput, Generator, GeneratorOutput
from .point_classifier import PointClassifier
from .point_denoiser import PointCloudDenoiser, PointCloudDenoiserOutput
from .vae import VAE, VAEOutput

__all__ = [
    "AudioDenoisingAE",
    "AudioDenoisingOutput",
    "AutoencoderOutput",
    "ClassifierOutput",
    "ConvAutoencoder",
    "DDGANDiscriminator",
    "DDGANDiscriminatorOutput",
    "DDGANGenerator",
    "DDGANGeneratorOutput",
    "Discriminator",
    "DiscriminatorOutput",
    "Flow",
    "FlowOutput",
    "Generator",
    "GeneratorOutput",
    "ImageClassifier",
    "SpectralMaskNet",
    "MLPAutoencoder",
    "Normalize",
    "PointClassifier",
    "PointCloudDenoiser",
    "PointCloudDenoiserOutput",
    "VAE",
    "VAEOutput",
    "WaveUNet",
]
