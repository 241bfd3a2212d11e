"""hf_genzoo: generative models on the Hugging Face stack.

Models are diffusers `ModelMixin`s, uses are `DiffusionPipeline`s, training runs through `accelerate`, data
comes through `datasets`. `from hf_genzoo import VAEPipeline` finds any name exported by `hf_genzoo.models` or
`hf_genzoo.pipelines`, imported on first use, so that `genzoo --help` does not pay for torch and diffusers.
"""

import importlib

__version__ = "0.1.0"

_EXPORTING = ("hf_genzoo.models", "hf_genzoo.pipelines")


def __getattr__(name):
    if not name.startswith("_"):
        for module_name in _EXPORTING:
            module = importlib.import_module(module_name)
            if name in module.__all__:
                return getattr(module, name)
    raise AttributeError(f"module 'hf_genzoo' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *(n for m in _EXPORTING for n in importlib.import_module(m).__all__)])
