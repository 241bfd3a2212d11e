"""`genzoo push --portable`: a repo that loads with diffusers alone, no hf_genzoo installed.

    from diffusers import DiffusionPipeline
    pipe = DiffusionPipeline.from_pretrained("user/name", trust_remote_code=True)

diffusers loads code that lives in a repo when the user allows it (`trust_remote_code=True`): a component
named `["vae_model", "VAE"]` in `model_index.json` is the class `VAE` of the file `vae/vae_model.py`, and a
`_class_name` of `["pipeline", "VAEPipeline"]` is the class of `pipeline.py` at the repo root. So a portable
push adds those files, made from this package's own sources:
    - each model file of `hf_genzoo/models`, and the pipeline file, made standalone: the small hf_genzoo modules
      they import (`models/blocks.py`, `pipelines/image_io.py`, `errors.py`) inlined above them, the imports of
      models by the pipeline dropped (its annotations are strings), and `DiffusionPipeline` as its base class;
and the portable `model_index.json` that points at them. The weights and configs are the same files.
hf_genzoo's own `from_pretrained` reads a portable repo with the installed classes, without running its code.
"""

import ast
import importlib
import importlib.util
import inspect
import json
from pathlib import Path

from ..errors import UserInputError
from ..registry import model_classes, pipeline_classes

PIPELINE_FILE = "pipeline"  # pipeline.py at the repo root
BASE = "hf_genzoo.pipelines.pipeline_base"  # the pipelines' base class: `DiffusionPipeline` in a portable file


def _imports_and_body(module) -> tuple[list[ast.stmt], str]:
    """A module's leading import statements, and the source after them (its docstring dropped)."""
    source = inspect.getsource(module)
    nodes, start = ast.parse(source).body, 0
    if nodes and isinstance(nodes[0], ast.Expr) and isinstance(nodes[0].value, ast.Constant):
        nodes, start = nodes[1:], nodes[0].end_lineno  # the docstring
    imports = []
    for node in nodes:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            break
        imports.append(node)
    start = imports[-1].end_lineno if imports else start
    return imports, "\n".join(source.splitlines()[start:]).strip("\n")


def standalone_source(module_name: str, title: str) -> str:
    """The source of `module_name` that runs without hf_genzoo: every hf_genzoo module it imports is inlined above
    it (recursively, once each), except model modules, whose imports are dropped, and the pipelines' base class,
    which becomes `DiffusionPipeline`."""
    dropped = {cls.__module__ for cls in model_classes().values()} - {module_name}
    external, bodies, seen = set(), [], set()

    def visit(name: str) -> None:
        seen.add(name)
        module = importlib.import_module(name)
        imports, body = _imports_and_body(module)
        for node in imports:
            target = node.module or "" if isinstance(node, ast.ImportFrom) else node.names[0].name
            if isinstance(node, ast.ImportFrom) and node.level:
                target = importlib.util.resolve_name("." * node.level + target, module.__package__)
            if not target.startswith("hf_genzoo"):
                external.add(ast.unparse(node))
            elif target == BASE:
                external.add("from diffusers import DiffusionPipeline as GenzooPipeline")
            elif target not in dropped and target not in seen:
                visit(target)
        bodies.append(body)

    visit(module_name)
    header = f'"""{title}, made standalone by `genzoo push --portable`."""'
    return "\n\n\n".join([header, "from __future__ import annotations", "\n".join(sorted(external)), *bodies]) + "\n"


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
        source = standalone_source(module_name, f"{class_name} of hf_genzoo")
        files[f"{component}/{file_stem}.py"] = source.encode()
        portable_index[component] = [file_stem, class_name]
    portable_index["_class_name"] = [PIPELINE_FILE, index["_class_name"]]
    pipeline = index["_class_name"]
    title = f"{pipeline} of hf_genzoo; load it with DiffusionPipeline.from_pretrained(repo, trust_remote_code=True)"
    files[f"{PIPELINE_FILE}.py"] = standalone_source(pipeline_module(pipeline), title).encode()
    files["model_index.json"] = (json.dumps(portable_index, indent=2, sort_keys=True) + "\n").encode()
    return files


def pipeline_module(class_name: str) -> str:

    return pipeline_classes()[class_name].__module__


def load_portable_components(folder: str | Path, index: dict) -> dict:
    """The components of a portable snapshot, built with the installed hf_genzoo classes (no repo code runs)."""
    models, components = model_classes(), {}
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list):
            continue
        library, class_name = value
        if class_name is None:
            components[name] = None
            continue
        if library == "diffusers":  # a stock part (a scheduler), loaded as diffusers would
            import diffusers

            components[name] = getattr(diffusers, class_name).from_pretrained(folder, subfolder=name)
            continue
        if class_name not in models:
            raise UserInputError(f"{folder}: component {name!r} is a {class_name}, which hf_genzoo does not have")
        components[name] = models[class_name].from_pretrained(folder, subfolder=name, use_safetensors=True)
    return components


def is_portable(index: dict) -> bool:
    """Whether a model_index.json was written by `genzoo push --portable` (its `_class_name` is [file, class])."""
    return isinstance(index["_class_name"], list)


def index_class_name(index: dict) -> str:
    """The pipeline class a model_index.json names, portable or not."""
    return index["_class_name"][1] if is_portable(index) else index["_class_name"]
