"""The family registry: which module holds each family's record, imported one at a time.

As transformers' auto mappings (`models/auto/configuration_auto.py`), the registry knows families by name and
pipelines by class name as strings, and imports a family's module (`hf_genzoo/families/<module>.py`, which builds
its `Family` and calls `register_family`) only when that family is asked for: loading a VAE imports the VAE's
record, objective, pipeline and model, and nothing of the other families. `families()` imports them all (for
listings: `genzoo train --help`, the app, the benchmarks). A family from outside the package registers itself
with `register_family`; the CLI, the samplers, the Hub code and the benchmarks ask the registry (`get_family`,
`family_of`, `families`) and never name a family.
"""

import importlib

from .errors import UserInputError
from .family import Family

# family name -> the module that registers it (a module may hold several families that share a pipeline)
FAMILY_MODULES = {
    "audio_denoiser": "hf_genzoo.families.audio_denoiser",
    "autoencoder_kl": "hf_genzoo.families.autoencoder_kl",
    "classifier": "hf_genzoo.families.classifier",
    "clip": "hf_genzoo.families.clip",
    "conv_autoencoder": "hf_genzoo.families.autoencoder",
    "ddgan": "hf_genzoo.families.ddgan",
    "ddpm": "hf_genzoo.families.ddpm",
    "flow": "hf_genzoo.families.flow",
    "gan": "hf_genzoo.families.gan",
    "mlp_autoencoder": "hf_genzoo.families.autoencoder",
    "point_classifier": "hf_genzoo.families.point_classifier",
    "pointcloud_diffusion": "hf_genzoo.families.pointcloud_diffusion",
    "text2image": "hf_genzoo.families.text2image",
    "vae": "hf_genzoo.families.vae",
}

# pipeline class name (what `model_index.json` records) -> the family that `family_of` answers for it
PIPELINE_FAMILIES = {
    "AudioDenoisingPipeline": "audio_denoiser",
    "AutoencoderKLPipeline": "autoencoder_kl",
    "AutoencoderPipeline": "conv_autoencoder",
    "CLIPPipeline": "clip",
    "ClassifierPipeline": "classifier",
    "DDGANPipeline": "ddgan",
    "DDPMPipeline": "ddpm",
    "FlowPipeline": "flow",
    "GANPipeline": "gan",
    "PointClassifierPipeline": "point_classifier",
    "PointCloudDiffusionPipeline": "pointcloud_diffusion",
    "StableDiffusionPipeline": "text2image",
    "VAEPipeline": "vae",
}

_REGISTRY: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add `family` to the registry (its record's module calls this once; a family from outside the package
    calls it on import)."""
    if family.name in _REGISTRY and _REGISTRY[family.name] != family:
        raise ValueError(f"a family named {family.name!r} is registered already")
    _REGISTRY[family.name] = family
    family.objective.name = family.name
    return family


def names() -> list[str]:
    """Every family's name, without importing any."""
    return sorted({*FAMILY_MODULES, *_REGISTRY})


def get_family(name: str) -> Family:
    """The family `name`, importing its module (and no other family's) on first use."""
    if name not in _REGISTRY and name in FAMILY_MODULES:
        importlib.import_module(FAMILY_MODULES[name])
    if name not in _REGISTRY:
        raise UserInputError(f"unknown model {name!r}; trainable models: {', '.join(names())}")
    return _REGISTRY[name]


def families() -> dict[str, Family]:
    """Every family by name; imports every family's module."""
    for module in sorted(set(FAMILY_MODULES.values())):
        importlib.import_module(module)
    return dict(sorted(_REGISTRY.items()))


def _registered_for(pipeline_class: type) -> Family | None:
    known = _REGISTRY.values()
    return next((f for f in known if pipeline_class is f.pipeline), None) or next(
        (f for f in known if issubclass(pipeline_class, f.pipeline)), None
    )


def family_of_class(pipeline_class: type) -> Family:
    """The family whose pipeline class is `pipeline_class` (or a base of it), found by class name first."""
    for cls in pipeline_class.__mro__:
        if cls.__name__ in PIPELINE_FAMILIES:
            family = get_family(PIPELINE_FAMILIES[cls.__name__])
            if issubclass(pipeline_class, family.pipeline):
                return family
    found = _registered_for(pipeline_class)
    if found is None:  # an outside family registered under a pipeline class of its own, or not loaded yet
        families()
        found = _registered_for(pipeline_class)
    if found is None:
        raise UserInputError(f"{pipeline_class.__name__} is not the pipeline of any hf_genzoo family")
    return found


def family_of(pipe) -> Family:
    """The family whose pipeline class `pipe` is (families that share a pipeline class answer alike)."""
    return family_of_class(type(pipe))


def pipeline_class(name: str) -> type | None:
    """The pipeline class named `name` in `model_index.json`, importing only its family; `None` if no family has
    it."""
    if name in PIPELINE_FAMILIES:
        return get_family(PIPELINE_FAMILIES[name]).pipeline
    return pipeline_classes().get(name)


def pipeline_classes() -> dict[str, type]:
    """Every family's pipeline class by class name; imports every family."""
    return {f.pipeline.__name__: f.pipeline for f in families().values()}


def model_classes() -> dict[str, type]:
    """Every family's model classes by class name; imports every family (`genzoo push --portable`)."""
    return {m.__name__: m for f in families().values() for m in f.models}
