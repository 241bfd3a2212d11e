"""`genzoo push --portable`: a repo that loads with diffusers alone, no hf_genzoo installed.

    from diffusers import DiffusionPipeline
    pipe = DiffusionPipeline.from_pretrained("user/name", trust_remote_code=True)

diffusers loads code that lives in a repo when the user allows it (`trust_remote_code=True`): a component
named `["vae_model", "VAE"]` in `model_index.json` is the class `VAE` of the file `vae/vae_model.py`, and a
`_class_name` of `["pipeline", "VAEPipeline"]` is the class of `pipeline.py` at the repo root. So a portable
push adds those files, made from this package's own sources:
    - each model file of `hf_genzoo/models` as it is (they import only torch and diffusers);
    - the pipeline file with the helpers of `pipelines/image_io.py` inlined and its hf_genzoo imports taken
      out, on `DiffusionPipeline` itself;
and the portable `model_index.json` that points at them. The weights and configs are the same files.
hf_genzoo's own `from_pretrained` reads a portable repo with the installed classes, without running its code.
"""

import importlib
import inspect
import json
import re
from pathlib import Path

PIPELINE_FILE = "pipeline"  # pipeline.py at the repo root


def _strip_header(source: str) -> tuple[str, str]:
    """(imports, body) of a module's source: its docstring dropped, top-level import lines apart."""
    source = re.sub(r'^\s*""".*?"""\n', "", source, count=1, flags=re.S)
    lines = source.splitlines()
    imports, body, in_body = [], [], False
    for line in lines:
        if not in_body and (line.startswith(("import ", "from ")) or not line.strip()):
            imports.append(line)
        else:
            in_body = True
            body.append(line)
    return "\n".join(i for i in imports if i.strip()), "\n".join(body)


def portable_pipeline_source(pipeline_class_name: str) -> str:
    """The pipeline's module with `image_io` inlined and every hf_genzoo import removed."""
    import hf_genzoo.pipelines as pipelines

    module = inspect.getmodule(getattr(pipelines, pipeline_class_name))
    io_imports, io_body = _strip_header(inspect.getsource(importlib.import_module("hf_genzoo.pipelines.image_io")))
    imports, body = _strip_header(inspect.getsource(module))
    kept = [line for line in imports.splitlines() if not line.startswith(("from hf_genzoo", "from ."))]
    body = body.replace("(GenzooPipeline)", "(DiffusionPipeline)")
    header = (f'"""{pipeline_class_name} of hf_genzoo (https://github.com/hf-genzoo/hf_genzoo), made portable by '
              f'`genzoo push --portable`:\nload it with DiffusionPipeline.from_pretrained(repo, trust_remote_code=True)."""')  # fmt: skip
    all_imports = sorted(set(kept + io_imports.splitlines() + ["from diffusers import DiffusionPipeline"]))
    parts = [header, "from __future__ import annotations", "\n".join(all_imports), io_body, body]
    return "\n\n".join(parts) + "\n"


def portable_files(output_dir: str | Path) -> dict[str, bytes]:
    """`{path_in_repo: content}`: the model and pipeline sources and the portable `model_index.json` for the
    pipeline saved in `output_dir`. Empty for a stock diffusers pipeline, which is portable already."""
    index = json.loads((Path(output_dir) / "model_index.json").read_text())
    owned = {k: v for k, v in index.items() if isinstance(v, list) and v[0] and v[0].startswith("hf_genzoo.")}
    if not owned:
        return {}
    files, portable_index = {}, dict(index)
    for component, (module_name, class_name) in owned.items():
        file_stem = module_name.rsplit(".", 1)[-1] + "_model"  # e.g. vae/vae_model.py
        files[f"{component}/{file_stem}.py"] = inspect.getsource(importlib.import_module(module_name)).encode()
        portable_index[component] = [file_stem, class_name]
    portable_index["_class_name"] = [PIPELINE_FILE, index["_class_name"]]
    files[f"{PIPELINE_FILE}.py"] = portable_pipeline_source(index["_class_name"]).encode()
    files["model_index.json"] = (json.dumps(portable_index, indent=2, sort_keys=True) + "\n").encode()
    return files


def load_portable_components(folder: str | Path, index: dict) -> dict:
    """The components of a portable snapshot, built with the installed hf_genzoo classes (no repo code runs)."""
    import hf_genzoo.models as models

    components = {}
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list):
            continue
        class_name = value[1]
        if class_name is None:
            components[name] = None
            continue
        if not hasattr(models, class_name):
            raise ValueError(f"{folder}: component {name!r} is a {class_name}, which hf_genzoo does not have")
        components[name] = getattr(models, class_name).from_pretrained(folder, subfolder=name, use_safetensors=True)
    return components
