"""Model families. Each file is one family: ModelMixin + ConfigMixin, no training or data code.

Each name is imported from its file on first use (`hf_genzoo.lazy`): loading one family's model imports no other's."""

from ..lazy import lazy_exports

_EXPORTS = {
    "AudioDenoisingAE": "audio_denoiser",
    "AudioDenoisingOutput": "audio_denoiser",
    "AutoencoderOutput": "autoencoder",
    "ClassifierOutput": "classifier",
    "ConvAutoencoder": "autoencoder",
    "DDGANDiscriminator": "ddgan",
    "DDGANDiscriminatorOutput": "ddgan",
    "DDGANGenerator": "ddgan",
    "DDGANGeneratorOutput": "ddgan",
    "Discriminator": "gan",
    "DiscriminatorOutput": "gan",
    "Flow": "flow",
    "FlowOutput": "flow",
    "Generator": "gan",
    "GeneratorOutput": "gan",
    "ImageClassifier": "classifier",
    "MLPAutoencoder": "autoencoder",
    "Normalize": "autoencoder",
    "PointClassifier": "point_classifier",
    "PointCloudDenoiser": "pointcloud_diffusion",
    "PointCloudDenoiserOutput": "pointcloud_diffusion",
    "SpectralMaskNet": "audio_denoiser",
    "VAE": "vae",
    "VAEOutput": "vae",
    "WaveUNet": "audio_denoiser",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
