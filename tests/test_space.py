"""`genzoo push --space`: the genzoo app with chosen models as a Gradio Space (hf_genzoo/app/space.py), its files, and a
push against the local Hub of tests/hub_server.py, downloaded back and run."""

import ast
import runpy
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import hf_hub_download, snapshot_download

import hf_genzoo.app
from hf_genzoo import cli
from hf_genzoo.app.models import collect_models
from hf_genzoo.app.space import push_space, space_files
from hf_genzoo.errors import UserInputError
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.hub.push import PushError, files_to_push
from hf_genzoo.registry import get_family
from hf_genzoo.training import make_config, train

PICKLES = (".bin", ".pkl", ".pt", ".pth", ".ckpt")


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    """A VAE trained for a few steps on digits, its tiny config: a folder as `genzoo train` writes it."""
    out = tmp_path_factory.mktemp("runs") / "tri" / "vae"
    cfg = make_config(
        "vae",
        dataset="digits",
        output_dir=str(out),
        model_config=get_family("vae").tiny.model_config,
        max_steps=5,
        batch_size=32,
        report_to="none",
        checkpointing_steps=0,
        mixed_precision="no",
    )
    train(cfg)
    return out


def app_models(app_py: bytes) -> dict:
    """The `MODELS = {...}` literal of a Space's app.py."""
    tree = ast.parse(app_py)
    (value,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "MODELS"]
    return ast.literal_eval(value)


def front_matter(readme: bytes) -> dict:
    return yaml.safe_load(readme.decode().split("---")[1])


def samples(pipe, seed: int = 0) -> np.ndarray:
    return pipe(3, generator=torch.Generator().manual_seed(seed), output_type="np").images


# --- the files


def test_space_files_are_an_app_a_card_a_requirement_and_the_local_pipelines(vae_dir):
    files = space_files({"vae": str(vae_dir), "t2i": "someone/t2i-digits"}, title="My zoo", space_id="someone/zoo")

    app_py = files["app.py"]
    compile(app_py, "app.py", "exec")
    assert app_models(app_py) == {"vae": "models/vae", "t2i": "someone/t2i-digits"}
    text = app_py.decode()
    assert "from hf_genzoo.app import build_app\n" in text and "\ndemo = build_app(MODELS)\n" in text
    assert text.endswith('if __name__ == "__main__":\n    demo.launch()\n')

    assert files["requirements.txt"] == f"hf_genzoo[app]=={metadata.version('hf_genzoo')}\n".encode()

    meta = front_matter(files["README.md"])
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == metadata.version("gradio")
    assert meta["app_file"] == "app.py" and meta["pinned"] is False and meta["title"] == "My zoo"
    assert meta["models"] == ["someone/t2i-digits"]  # the Hub ids; the local folder is part of the Space
    assert meta["colorFrom"] and meta["colorTo"] and meta["emoji"] and len(meta["short_description"]) <= 60
    body = files["README.md"].decode().split("---", 2)[2]
    assert "**vae**: `models/vae` in this Space (a VAEPipeline)" in body and str(vae_dir) not in body
    assert "**t2i**: [someone/t2i-digits](http://127.0.0.1:" in body and "/someone/t2i-digits)" in body
    assert f'pip install "hf_genzoo[app]=={metadata.version("hf_genzoo")}"' in body
    assert "genzoo app --model vae=models/vae --model t2i=someone/t2i-digits" in body
    assert "`hf download someone/zoo --repo-type space --local-dir zoo`" in body

    pipeline_files = {k: v for k, v in files.items() if k.startswith("models/")}
    assert pipeline_files == {f"models/vae/{p.relative_to(vae_dir).as_posix()}": p for p in files_to_push(vae_dir)}
    assert {"models/vae/model_index.json", "models/vae/vae/diffusion_pytorch_model.safetensors"} <= set(files)
    assert not any(k.endswith(PICKLES) or k.startswith("models/vae/checkpoints") for k in files)
    assert set(files) - set(pipeline_files) == {"app.py", "requirements.txt", "README.md"}


def test_a_requirement_line_and_names_found_under_a_models_dir(vae_dir):
    models = collect_models(models_dir=vae_dir.parent.parent)  # finds "tri/vae"
    assert models == {"tri/vae": str(vae_dir)}
    files = space_files(models, requirement="git+https://github.com/someone/hf_genzoo@main#egg=hf_genzoo[app]")
    assert files["requirements.txt"] == b"git+https://github.com/someone/hf_genzoo@main#egg=hf_genzoo[app]\n"
    assert app_models(files["app.py"]) == {"tri-vae": "models/tri-vae"}  # a folder name, not a path
    assert "models/tri-vae/model_index.json" in files
    meta = front_matter(files["README.md"])
    assert meta["title"] == "hf_genzoo models" and "models" not in meta  # no Hub ids among the sources


def test_sources_and_names_that_cannot_make_a_space(vae_dir, tmp_path):
    with pytest.raises(UserInputError, match=r"model 'vae': no such folder: .*missing.*a Space takes a folder"):
        space_files({"vae": str(tmp_path / "missing")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no model_index.json"):
        space_files({"vae": str(tmp_path / "empty")})
    with pytest.raises(UserInputError, match="Hub model id"):
        space_files({"vae": "some one/with spaces"})
    with pytest.raises(UserInputError, match=r"cannot name a folder of the Space: use letters, digits"):
        space_files({"my vae": str(vae_dir)})
    with pytest.raises(UserInputError, match="would share the folder 'a-b'"):
        space_files({"a/b": str(vae_dir), "a-b": str(vae_dir)})
    pickled = tmp_path / "pickled"
    shutil.copytree(vae_dir, pickled)
    (pickled / "vae" / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(UserInputError, match="pickled weights"):
        space_files({"vae": str(pickled)})
    with pytest.raises(UserInputError, match="one requirements.txt line"):
        space_files({"vae": str(vae_dir)}, requirement="torch\nhf_genzoo")


# --- pushing


def test_push_a_space_download_it_and_run_its_app(hub, vae_dir, tmp_path, monkeypatch, capsys):
    cli.main(["push", str(vae_dir), "tester/space-vae"])  # the two-positional form: a model repo, for the Hub id
    assert "from_pretrained('tester/space-vae')" in capsys.readouterr().out

    commit = push_space("tester/zoo", {"local": str(vae_dir), "remote": "tester/space-vae"})
    assert commit.repo_url.repo_type == "space" and commit.repo_url.repo_id == "tester/zoo"
    assert ("space", "tester/zoo") in hub.repos
    stored = hub.stored_files("tester/zoo", repo_type="space")
    expected = {"app.py", "requirements.txt", "README.md", "models/local/model_index.json"}
    assert expected <= set(stored)
    assert stored["models/local/vae/diffusion_pytorch_model.safetensors"]["lfs"]
    assert not any(path.endswith(PICKLES) for path in stored)
    assert hub.commits("tester/zoo", repo_type="space")[0]["summary"] == "Show local, remote in the genzoo app"

    space = Path(snapshot_download("tester/zoo", repo_type="space", local_dir=tmp_path / "space"))
    original = load_pipeline(str(vae_dir))
    np.testing.assert_array_equal(samples(load_pipeline(str(space / "models/local"))), samples(original))
    readme = (space / "README.md").read_bytes()
    assert front_matter(readme)["models"] == ["tester/space-vae"] and front_matter(readme)["title"] == "zoo"
    assert b"`hf download tester/zoo --repo-type space --local-dir zoo`" in readme

    # app.py as the Space runs it, from its own folder: every source loads (build_app is the app engineer's)
    loaded = {}

    def build_app(models, compare_dir=None):
        loaded.update({name: load_pipeline(source) for name, source in models.items()})
        return "demo"

    monkeypatch.setattr(hf_genzoo.app, "build_app", build_app, raising=False)
    monkeypatch.chdir(space)
    assert runpy.run_path("app.py")["demo"] == "demo"  # not "__main__": nothing is launched
    assert set(loaded) == {"local", "remote"}
    for pipe in loaded.values():
        np.testing.assert_array_equal(samples(pipe), samples(original))

    # pushing again with other models replaces the old ones
    push_space("tester/zoo", {"remote": "tester/space-vae"})
    stored = hub.stored_files("tester/zoo", repo_type="space")
    assert not any(path.startswith("models/") for path in stored)
    app_py = Path(hf_hub_download("tester/zoo", "app.py", repo_type="space")).read_bytes()
    assert app_models(app_py) == {"remote": "tester/space-vae"}


def test_genzoo_push_space_prints_the_url_and_the_models(hub, vae_dir, capsys):
    cli.main(["push", "--space", "tester/zoo-cli", "--model", f"vae={vae_dir}", "--title", "Digits", "--private"])
    out = capsys.readouterr().out
    assert "/spaces/tester/zoo-cli (commit " in out
    assert f"  vae: models/vae in the Space, from {vae_dir}\n" in out
    assert hub.repos[("space", "tester/zoo-cli")]["private"] is True
    files = hub.stored_files("tester/zoo-cli", repo_type="space")
    assert "models/vae/model_index.json" in files and "README.md" in files

    cli.main(
        ["push", "--space", "zoo-dir", "--models_dir", str(vae_dir.parent.parent)]
    )  # a bare name: the token's user
    assert "/spaces/tester/zoo-dir (commit " in (out := capsys.readouterr().out)
    assert "  tri-vae: models/tri-vae in the Space" in out
    readme = Path(hf_hub_download("tester/zoo-dir", "README.md", repo_type="space")).read_text()
    assert "`hf download tester/zoo-dir --repo-type space" in readme and "title: zoo-dir" in readme


def test_hub_ids_must_be_on_the_hub_and_hub_failures_say_what_failed(hub, vae_dir):
    with pytest.raises(UserInputError, match=r"no model repo tester/not-there on the Hub"):
        push_space("tester/zoo-missing", {"vae": str(vae_dir), "gone": "tester/not-there"})
    assert ("space", "tester/zoo-missing") not in hub.repos  # stopped before creating anything
    hub.fail_next("commit", status=403)
    try:
        with pytest.raises(PushError, match=r"(?s)failed while uploading: .*403.*genzoo push --space tester/zoo-403"):
            push_space("tester/zoo-403", {"vae": str(vae_dir)})
    finally:
        hub.clear_faults()
    assert hub.commits("tester/zoo-403", repo_type="space")[0]["summary"] == "initial commit"


def test_the_cli_says_which_form_of_push_was_incomplete(vae_dir):
    with pytest.raises(SystemExit, match=r"--model only work with --space user/name"):
        cli.main(["push", str(vae_dir), "tester/x", "--model", f"vae={vae_dir}"])
    with pytest.raises(SystemExit, match=r"push takes OUTPUT_DIR REPO_ID .* or --space user/name"):
        cli.main(["push", str(vae_dir)])
    with pytest.raises(SystemExit, match=r"--space takes its models from --model .* not OUTPUT_DIR REPO_ID"):
        cli.main(["push", "--space", "tester/x", str(vae_dir), "tester/y"])
    with pytest.raises(SystemExit, match=r"not --portable"):
        cli.main(["push", "--space", "tester/x", "--model", f"vae={vae_dir}", "--portable"])
    with pytest.raises(SystemExit, match=r"--model takes NAME=FOLDER or NAME=user/repo, got '=x'"):
        cli.main(["push", "--space", "tester/x", "--model", "=x"])
    with pytest.raises(SystemExit, match=r"no models to show"):
        cli.main(["push", "--space", "tester/x"])
