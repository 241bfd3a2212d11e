"""Packages whose public names are imported from their submodule on first use (PEP 562), as diffusers' and
transformers' `_LazyModule`: `from hf_genzoo.pipelines import VAEPipeline` imports `pipelines/vae.py` and no other
pipeline, so loading one family's pipeline pays for (and depends on) that family's files only."""

import importlib


def lazy_exports(package: str, exports: dict[str, str]):
    """`(__getattr__, __dir__)` for `package`, whose name `NAME` lives in its submodule `exports[NAME]`."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def __dir__():
        return sorted(exports)

    return __getattr__, __dir__
