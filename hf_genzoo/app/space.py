"""Publish the genzoo app with chosen models as a Hugging Face Space (a Gradio Space: the Hub runs `python app.py`).

    genzoo push --space user/zoo --model vae=runs/vae --model t2i=user/t2i-repo [--title T] [--private]
    genzoo push --space user/zoo --models_dir runs

What goes up, in one commit: `app.py` (`build_app` over a dict of tab name -> source), `requirements.txt` (hf_genzoo
with its `app` extra, at the installed version unless `--requirement` says otherwise), `README.md` (the Space card:
its YAML config, the models shown, how to run the app locally) and, for each local folder among the sources, its
pipeline under `models/<name>/` (the files `genzoo push` would push: safetensors only). Hub repo ids stay ids: the
Space downloads them when it starts. Model folders that an earlier push left under `models/` and that are not shown
any more are deleted in the same commit.
"""

import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from huggingface_hub import CommitInfo, CommitOperationAdd, CommitOperationDelete, SpaceCard, SpaceCardData, constants
from huggingface_hub.utils import HFValidationError, validate_repo_id

from ..errors import UserInputError
from ..hub.loading import check_folder_or_repo_id, pipeline_class_name
from ..hub.push import HUB_FAILURES, files_to_push, hub_api, push_failed

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a tab name that is also a folder name in the Space
SPACE_MODELS_DIR = "models"  # where local folders go in the Space repo
EMOJI, COLOR_FROM, COLOR_TO = "🧪", "indigo", "pink"  # the Space's tile on the Hub


@dataclass
class SpaceModel:
    """One tab of the Space: its `name`, where it came from (`source`), and the local `folder` that is uploaded into
    the Space (None for a Hub repo id, which the Space downloads)."""

    name: str
    source: str
    folder: Path | None = None
    class_name: str | None = None  # the pipeline class a local folder holds

    @property
    def app_source(self) -> str:
        """What app.py loads: `models/<name>` inside the Space, or the Hub repo id."""
        return f"{SPACE_MODELS_DIR}/{self.name}" if self.folder else self.source


def space_models(models: dict[str, str]) -> list[SpaceModel]:
    """Check `models` (tab name -> local folder or Hub repo id) for a Space; a `/` in a name (from `discover_models`)
    becomes `-`. A `UserInputError` says which model cannot work and what to pass instead."""
    if not models:
        raise UserInputError("a Space needs at least one model: pass --model NAME=FOLDER (or NAME=user/repo)")
    out: dict[str, SpaceModel] = {}
    for given, source in models.items():
        name = given.replace("/", "-").replace("\\", "-")
        if not SAFE_NAME.fullmatch(name):
            raise UserInputError(
                f"model name {given!r} cannot name a folder of the Space: use letters, digits and - _ . "
                "(starting with a letter or digit)"
            )
        if name in out:
            raise UserInputError(f"the models {out[name].name!r} and {given!r} would share the folder {name!r}")
        try:
            if os.path.exists(source):
                class_name = pipeline_class_name(source)  # a folder holding model_index.json, read locally
                out[name] = SpaceModel(name, source, Path(source), class_name)
            else:
                check_folder_or_repo_id(source)
                validate_repo_id(source)
                out[name] = SpaceModel(name, source)
        except (UserInputError, HFValidationError) as err:
            raise UserInputError(
                f"model {given!r}: {err}; a Space takes a folder written by `genzoo train` or a Hub model id "
                "(user/name)"
            ) from None
    return list(out.values())


def _installed(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        raise UserInputError(
            f"a Space is written for the installed {package}, and there is none: pip install 'hf_genzoo[app]'"
        ) from None


def _app_py(models: list[SpaceModel]) -> bytes:
    entries = "".join(f'    "{m.name}": "{m.app_source}",\n' for m in models)  # safe names, checked repo ids
    return (
        '"""The genzoo app of hf_genzoo over these models (tab name -> a folder in this Space, or a Hub repo id)."""'
        "\n\nfrom hf_genzoo.app import build_app\n\n"
        f"MODELS = {{\n{entries}}}\n\n"
        "demo = build_app(MODELS)\n\n"
        'if __name__ == "__main__":\n'
        "    demo.launch()\n"
    ).encode()


def _readme(models: list[SpaceModel], title: str, requirement: str, space_id: str | None) -> str:
    hub_ids = sorted({m.source for m in models if m.folder is None})
    noun = "model" if len(models) == 1 else "models"
    data = SpaceCardData(
        title=title,
        emoji=EMOJI,
        colorFrom=COLOR_FROM,
        colorTo=COLOR_TO,
        sdk="gradio",
        sdk_version=_installed("gradio"),
        app_file="app.py",
        pinned=False,
        models=hub_ids or None,
        short_description=f"{len(models)} generative {noun} trained with hf_genzoo",
    )
    lines = []
    for m in models:
        if m.folder:
            lines.append(f"- **{m.name}**: `{m.app_source}` in this Space (a {m.class_name})")
        else:
            lines.append(f"- **{m.name}**: [{m.source}]({constants.ENDPOINT}/{m.source})")
    flags = " ".join(f"--model {m.name}={m.app_source}" for m in models)
    body = (
        f"# {title}\n\n"
        "The genzoo app of hf_genzoo: look at, play with and compare "
        f"trained generative {noun} in the browser, one tab each:\n\n" + "\n".join(lines) + "\n\n"
        "## Run it locally\n\n"
        f"In a copy of this Space's files (`hf download {space_id or 'SPACE_ID'} --repo-type space --local-dir "
        f"{(space_id or 'zoo').split('/')[-1]}`, then `cd` there):\n\n"
        f'```bash\npip install "{requirement}"\ngenzoo app {flags}\n```\n\n'
        "or `python app.py`, which is what the Space runs.\n"
    )
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def space_files(
    models: dict[str, str], title: str | None = None, requirement: str | None = None, space_id: str | None = None
) -> dict[str, bytes | Path]:
    """The files of a Space that shows `models` (tab name -> local folder or Hub repo id) in the genzoo app.

    Args:
        models (`dict[str, str]`): tab name -> a folder written by `genzoo train`, or a Hub model id.
        title (`str`, *optional*, defaults to `"hf_genzoo models"`): the Space's title.
        requirement (`str`, *optional*, defaults to `hf_genzoo[app]==<installed version>`): the line of
            `requirements.txt` that installs hf_genzoo on the Space (e.g. a `git+https://...` URL).
        space_id (`str`, *optional*): the Space's repo id, for the card's download command.

    Returns:
        `dict[str, bytes | Path]`: path in the Space repo -> its content, or the local file to upload.
    """
    return _files(space_models(models), title, requirement, space_id)


def _requirement(requirement: str | None) -> str:
    requirement = (requirement or f"hf_genzoo[app]=={_installed('hf_genzoo')}").strip()
    if not requirement or "\n" in requirement:
        raise UserInputError(f"--requirement takes one requirements.txt line, got {requirement!r}")
    return requirement


def _files(
    models: list[SpaceModel], title: str | None, requirement: str | None, space_id: str | None
) -> dict[str, bytes | Path]:
    title, requirement = title or "hf_genzoo models", _requirement(requirement)
    files: dict[str, bytes | Path] = {
        "app.py": _app_py(models),
        "requirements.txt": f"{requirement}\n".encode(),
        "README.md": _readme(models, title, requirement, space_id).encode(),
    }
    for m in models:
        if m.folder:
            for path in files_to_push(m.folder):  # safetensors only: a pickled weight file stops here
                files[f"{m.app_source}/{path.relative_to(m.folder).as_posix()}"] = path
    return files


def push_space(
    repo_id: str,
    models: dict[str, str],
    private: bool = False,
    title: str | None = None,
    requirement: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
) -> CommitInfo:
    """Create (or reuse) the Gradio Space `repo_id` and commit `space_files(models, ...)` to it in one commit; the Hub
    ids among the sources must be model repos there. `title` defaults to the Space's name. Returns huggingface_hub's
    `CommitInfo` (its `repo_url` is the Space's page)."""
    resolved = space_models(models)
    title, requirement = title or repo_id.split("/")[-1], _requirement(requirement)
    files = _files(resolved, title, requirement, repo_id)  # every local check, before any request
    hub_ids = [m.source for m in resolved if m.folder is None]
    retry = f"genzoo push --space {repo_id} " + " ".join(f"--model {name}={source}" for name, source in models.items())
    api = hub_api(token)
    step = "looking up the models on the Hub"
    try:
        missing = [source for source in hub_ids if not api.repo_exists(source)]
        if missing:
            raise UserInputError(
                f"no model repo {', '.join(missing)} on the Hub (nor such a folder here); pass a folder written by "
                "`genzoo train` or the id of a pushed model"
            )
        step = "creating the Space"
        url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        if url.repo_id != repo_id:  # a bare name gets the token owner's namespace
            repo_id = url.repo_id
            files["README.md"] = _readme(resolved, title, requirement, repo_id).encode()
        step = "validating the Space card"
        SpaceCard(files["README.md"].decode()).validate()
        step = "uploading"
        stale = [  # model files of an earlier push that this one does not replace
            path
            for path in api.list_repo_files(repo_id, repo_type="space")
            if path.startswith(f"{SPACE_MODELS_DIR}/") and path not in files
        ]
        operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data) for path, data in files.items()]
        operations += [CommitOperationDelete(path_in_repo=path) for path in stale]
        return api.create_commit(
            repo_id,
            operations,
            repo_type="space",
            commit_message=commit_message or f"Show {', '.join(m.name for m in resolved)} in the genzoo app",
        )
    except UserInputError:
        raise
    except HUB_FAILURES as err:
        raise push_failed(f"the app to the Space {repo_id}", step, err, retry) from err
