"""Which trained models `genzoo app` shows: `NAME=SOURCE` pairs and folders of `genzoo train` outputs, each loaded
into an `AppModel` that knows its family (from the registry) or why it could not be loaded."""

import re
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserInputError
from ..hub.loading import load_pipeline, pipeline_class_name, train_config
from ..registry import families, family_of

MAX_MODELS_FOUND = 64  # a --models_dir holding more saved pipelines than this is probably the wrong folder


def slug(text: str) -> str:
    """`text` as a part of an HTML id: runs of other characters than letters, digits, `_` and `-` become `-`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def parse_model_specs(specs: list[str] | None) -> dict[str, str]:
    """`["vae=runs/vae", "t2i=user/repo"]` -> `{"vae": "runs/vae", "t2i": "user/repo"}`; a bare `SOURCE` is named after
    its last path part. Names must be unique: each is a tab."""
    models: dict[str, str] = {}
    for spec in specs or []:
        name, sep, source = spec.partition("=")
        if not sep:
            name, source = Path(spec.rstrip("/")).name, spec
        name, source = name.strip(), source.strip()
        if not name or not source:
            raise UserInputError(f"--model takes NAME=FOLDER or NAME=user/repo, got {spec!r}")
        if name in models:
            raise UserInputError(f"two models are named {name!r}; give each its own NAME= (it titles its tab)")
        models[name] = source
    return models


def discover_models(models_dir: str | Path) -> dict[str, str]:
    """Every saved pipeline (a folder with `model_index.json`) under `models_dir`, named by its path relative to it
    (`"ddpm"`, `"tri/fashion_mnist-ddgan-T2"`); checkpoints (`checkpoint-*`) and hidden folders are skipped."""
    root = Path(models_dir)
    if not root.is_dir():
        raise UserInputError(f"--models_dir {models_dir}: no such folder")
    found: dict[str, str] = {}
    for index in sorted(root.rglob("model_index.json")):
        folder = index.parent
        parts = folder.relative_to(root).parts
        if any(p.startswith((".", "checkpoint-")) for p in parts):
            continue
        if any(Path(root, *parts[:i], "model_index.json").exists() for i in range(len(parts))):
            continue  # a pipeline inside another one's folder is a part of it (text2image's VAE and CLIP)
        found["/".join(parts) or folder.name] = str(folder)
        if len(found) > MAX_MODELS_FOUND:
            raise UserInputError(
                f"--models_dir {models_dir} holds more than {MAX_MODELS_FOUND} saved pipelines; point it at a folder "
                "of trained outputs, or name the models with --model NAME=FOLDER"
            )
    return found


def collect_models(specs: list[str] | None = None, models_dir: str | Path | None = None) -> dict[str, str]:
    """The models of `--model` and `--models_dir` together (a `--model` name wins over a found one)."""
    models = discover_models(models_dir) if models_dir else {}
    models.update(parse_model_specs(specs))
    if not models:
        where = f" (no saved pipeline under {models_dir})" if models_dir else ""
        raise UserInputError(
            f"no models to show{where}: pass --model NAME=FOLDER (or NAME=user/repo) or --models_dir DIR, a folder of "
            "`genzoo train` outputs"
        )
    return models


@dataclass
class AppModel:
    """One model of the app: its tab's name, where it came from, and either its pipeline and family or the reason it
    could not be loaded (shown in its tab while the others work)."""

    name: str
    source: str
    pipe: object | None = None
    family: object | None = None  # hf_genzoo.family.Family
    error: str | None = None
    train_config: dict = field(default_factory=dict)
    folder: Path | None = None  # the local folder the pipeline was read from, when there is one
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one request at a time per pipeline
    cache: dict = field(default_factory=dict, repr=False)  # what panels compute once (its test split)

    @property
    def ok(self) -> bool:
        return self.pipe is not None

    @property
    def parameters(self) -> int:
        """The parameters of every network of its pipeline."""
        modules = [m for m in self.pipe.components.values() if hasattr(m, "parameters")]
        return sum(p.numel() for m in modules for p in m.parameters())

    @property
    def slug(self) -> str:
        """The name as an HTML id part (the components of its tab are `<slug>-...`)."""
        return slug(self.name) or "model"


def _family(pipe, train_config: dict):
    """The family of a loaded pipeline: the one `train_config.json` names when its pipeline class fits (families can
    share a pipeline class, as the MLP and convolutional autoencoders do), else the registry's answer."""
    named = families().get(train_config.get("model", ""))
    return named if named is not None and isinstance(pipe, named.pipeline) else family_of(pipe)


def peek_family(source: str):
    """The family of a saved pipeline without loading it: the one its `train_config.json` names, else the one whose
    pipeline class its `model_index.json` records; `None` when neither tells."""
    named = families().get(train_config(source)[0].get("model", ""))
    try:
        name = pipeline_class_name(source)
    except Exception:  # noqa: BLE001 - it only tells where to show the model
        return named
    if named is not None and named.pipeline.__name__ == name:
        return named
    return next((f for f in families().values() if f.pipeline.__name__ == name), None)


def load_app_model(name: str, source: str, device: str | None = None) -> AppModel:
    """Load `source` with `hf_genzoo.hub.loading.load_pipeline`; any failure is kept as the model's `error` (and its
    family, when its model_index.json tells it, so that it shows in that family's tab)."""
    model = AppModel(name, source)
    try:
        pipe = load_pipeline(source)
        if device:
            pipe = pipe.to(device)
        model.train_config, model.folder = train_config(source)
        model.family = _family(pipe, model.train_config)
        model.pipe = pipe
    except UserInputError as err:
        model.error = str(err)
    except Exception as err:  # noqa: BLE001 - one broken model must not take the app down
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        model.error = f"{source} could not be loaded: {last}"
    if model.error:
        model.family = peek_family(source)
    return model
