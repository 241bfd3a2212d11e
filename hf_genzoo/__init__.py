"""hf_genzoo: generative models on the Hugging Face stack.

Models are diffusers `ModelMixin`s, uses are `DiffusionPipeline`s, training runs through
`accelerate`, data comes through `datasets`. Names are imported on first use, so that
`genzoo --help` does not pay for importing torch and diffusers.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "MLPAutoencoder": "hf_genzoo.models",
    "ConvAutoencoder": "hf_genzoo.models",
    "AutoencoderPipeline": "hf_genzoo.pipelines",
    "Generator": "hf_genzoo.models",
    "Discriminator": "hf_genzoo.models",
    "GANPipeline": "hf_genzoo.pipelines",
    "VAE": "hf_genzoo.models",
    "VAEPipeline": "hf_genzoo.pipelines",
    "Flow": "hf_genzoo.models",
    "FlowPipeline": "hf_genzoo.pipelines",
    "ImageClassifier": "hf_genzoo.models",
    "ClassifierPipeline": "hf_genzoo.pipelines",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hf_genzoo' has no attribute {name!r}")
