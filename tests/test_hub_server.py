"""End-to-end tests of tests/hub_server.py: the stock huggingface_hub and diffusers against LocalHub, over HTTP."""

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import (
    HfApi,
    ModelCard,
    constants,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors.torch import save_file

from .hub_server import git_blob_sha1

CARD = "---\nlicense: mit\ntags:\n- demo\n- genzoo\n---\n# Tiny model\n\nA card.\n"


@pytest.fixture
def api(hub):
    return HfApi()  # built after connect_client, so it has the right endpoint even when that had to be patched


@pytest.fixture
def repo_id(request):
    """A repo id of its own for each test (the server lives as long as the module)."""
    name = f"{request.module.__name__.rsplit('.', 1)[-1]}-{request.node.name}"
    return "tester/" + re.sub(r"[^A-Za-z0-9._-]", "-", name)[:80]


def make_model_folder(folder: Path, scale: float = 1.0) -> dict[str, bytes]:
    """A small model folder: safetensors weights, a config, a card with YAML front matter, a nested file."""
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    save_file({"weight": torch.arange(512, dtype=torch.float32) * scale}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"hidden_size": 8, "scale": scale}))
    (folder / "README.md").write_text(CARD)
    (folder / "sub" / "notes.txt").write_text(f"nested file, scale {scale}\n")
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def kinds_since(hub, start: int) -> list[str]:
    return [r["kind"] for r in hub.requests[start:]]


def test_create_repo_exist_ok_conflict_and_auth(hub, api, repo_id):
    url = api.create_repo(repo_id)
    assert url == f"{hub.url}/{repo_id}" and url.repo_id == repo_id
    assert api.create_repo(repo_id, exist_ok=True).repo_id == repo_id
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo(repo_id)
    assert conflict.value.response.status_code == 409
    assert api.whoami()["name"] == "tester"

    # a bare name lands in the user's namespace; the private flag is kept and hides the repo from anonymous reads
    assert api.create_repo(repo_id.split("/")[1] + "-private", private=True).repo_id == repo_id + "-private"
    assert api.model_info(repo_id + "-private").private is True
    assert api.model_info(repo_id).private is False
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(repo_id + "-private", token=False)

    # writes need the token; other namespaces are not the user's
    for token in (False, "hf_not_the_right_token"):
        with pytest.raises(HfHubHTTPError) as unauthorized:
            api.create_repo(repo_id + "-anonymous", token=token)
        assert unauthorized.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as forbidden:
        api.create_repo("someone-else/" + repo_id.split("/")[1])
    assert forbidden.value.response.status_code == 403
    assert ("model", repo_id + "-anonymous") not in hub.repos


def test_upload_folder_goes_through_lfs_and_downloads_match(hub, api, repo_id, tmp_path):
    api.create_repo(repo_id)
    files = make_model_folder(tmp_path / "model")
    start = hub.request_count
    commit = api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "model", commit_message="Add model")

    # the weights went through preupload -> LFS batch -> PUT -> verify, the rest inline in the NDJSON commit
    stored = hub.stored_files(repo_id)
    assert stored["model.safetensors"]["lfs"] == hashlib.sha256(files["model.safetensors"]).hexdigest()
    assert all(stored[name]["lfs"] is None for name in ("config.json", "README.md", "sub/notes.txt", ".gitattributes"))
    kinds = kinds_since(hub, start)
    assert [kinds.count(k) for k in ("preupload", "lfs_batch", "lfs_upload", "lfs_verify", "commit")] == [1, 1, 1, 1, 1]
    assert hub.commits(repo_id)[0]["sha"] == commit.oid and hub.commits(repo_id)[0]["summary"] == "Add model"

    # hf_hub_download and snapshot_download give the bytes back
    for name, data in files.items():
        assert Path(hf_hub_download(repo_id, name)).read_bytes() == data
    folder = Path(snapshot_download(repo_id))
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} == {*files, ".gitattributes"}
    assert all((folder / name).read_bytes() == data for name, data in files.items())
    assert folder.name == commit.oid

    # model_info: siblings, sha == X-Repo-Commit of downloads, card data and tags from the README front matter
    info = api.model_info(repo_id)
    assert sorted(s.rfilename for s in info.siblings) == sorted({*files, ".gitattributes"})
    assert info.sha == commit.oid
    assert info.card_data.license == "mit" and {"demo", "genzoo", "license:mit", "safetensors"} <= set(info.tags)
    config_meta = get_hf_file_metadata(hf_hub_url(repo_id, "config.json"))
    weights_meta = get_hf_file_metadata(hf_hub_url(repo_id, "model.safetensors"))
    assert config_meta.commit_hash == weights_meta.commit_hash == info.sha
    assert config_meta.etag == git_blob_sha1(files["config.json"]) and config_meta.size == len(files["config.json"])
    assert weights_meta.etag == stored["model.safetensors"]["lfs"]
    assert weights_meta.size == len(files["model.safetensors"])
    detailed = {s.rfilename: s for s in api.model_info(repo_id, files_metadata=True).siblings}
    assert detailed["model.safetensors"].lfs.sha256 == stored["model.safetensors"]["lfs"]
    assert detailed["config.json"].lfs is None and detailed["config.json"].size == len(files["config.json"])

    # tree listing, with pagination, folders and paths-info
    hub.tree_page_size = 2
    try:
        start = hub.request_count
        assert sorted(api.list_repo_files(repo_id)) == sorted({*files, ".gitattributes"})
        assert kinds_since(hub, start).count("tree") == 3  # 5 files + 1 folder, 2 per page
    finally:
        hub.tree_page_size = 1000
    top = {entry.path: type(entry).__name__ for entry in api.list_repo_tree(repo_id)}
    assert top == {
        ".gitattributes": "RepoFile",
        "README.md": "RepoFile",
        "config.json": "RepoFile",
        "model.safetensors": "RepoFile",
        "sub": "RepoFolder",
    }
    [nested] = api.list_repo_tree(repo_id, path_in_repo="sub", expand=True)
    assert nested.path == "sub/notes.txt" and nested.last_commit.oid == commit.oid
    infos = {e.path: e for e in api.get_paths_info(repo_id, ["model.safetensors", "sub", "missing.txt"])}
    assert set(infos) == {"model.safetensors", "sub"}
    assert infos["model.safetensors"].lfs.sha256 == stored["model.safetensors"]["lfs"]


def test_history_revisions_and_branches(hub, api, repo_id, tmp_path):
    api.create_repo(repo_id)
    v1 = make_model_folder(tmp_path / "v1", scale=1.0)
    v2 = make_model_folder(tmp_path / "v2", scale=2.0)
    first = api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "v1", commit_message="v1").oid
    second = api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "v2", commit_message="v2").oid

    history = hub.commits(repo_id)  # newest first; a new repo starts with the Hub's "initial commit"
    assert [c["sha"] for c in history[:2]] == [second, first] and len(history) == 3
    assert [c["summary"] for c in history] == ["v2", "v1", "initial commit"]
    assert history[0]["parents"] == [first] and history[1]["parents"] == [history[2]["sha"]]
    assert [c.commit_id for c in api.list_repo_commits(repo_id)] == [c["sha"] for c in history]

    # old revisions stay downloadable
    assert Path(hf_hub_download(repo_id, "config.json", revision=first)).read_bytes() == v1["config.json"]
    assert Path(hf_hub_download(repo_id, "config.json")).read_bytes() == v2["config.json"]
    old = Path(snapshot_download(repo_id, revision=first))
    assert (old / "model.safetensors").read_bytes() == v1["model.safetensors"]
    assert api.model_info(repo_id, revision=first).sha == first

    # uploading the same content again: the client sees equal remote oids in preupload and makes no commit
    assert api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "v2").oid == second
    assert len(hub.commits(repo_id)) == 3

    # a branch from the first commit takes uploads while main stays where it was
    api.create_branch(repo_id, branch="dev", revision=first)
    with pytest.raises(HfHubHTTPError) as exists:
        api.create_branch(repo_id, branch="dev")
    assert exists.value.response.status_code == 409
    api.create_branch(repo_id, branch="dev", exist_ok=True)
    on_dev = api.upload_file(path_or_fileobj=b"dev only\n", path_in_repo="dev.txt", repo_id=repo_id, revision="dev")
    assert hub.commits(repo_id, branch="dev")[0]["parents"] == [first]
    assert hub.commits(repo_id)[0]["sha"] == second and "dev.txt" not in hub.stored_files(repo_id)
    assert Path(hf_hub_download(repo_id, "dev.txt", revision="dev")).read_bytes() == b"dev only\n"
    assert Path(hf_hub_download(repo_id, "config.json", revision="dev")).read_bytes() == v1["config.json"]
    refs = api.list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": second, "dev": on_dev.oid}


def test_typed_errors(hub, api, repo_id):
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("tester/no-such-repo", "config.json")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("tester/no-such-repo")
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "config.json", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(repo_id, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "missing.json")
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(repo_id, path_in_repo="no-such-folder"))
    assert api.file_exists(repo_id, "config.json") and not api.file_exists(repo_id, "missing.json")
    assert api.repo_exists(repo_id) and not api.repo_exists("tester/no-such-repo")


def test_card_yaml_validation(hub, api, repo_id):
    api.create_repo(repo_id)
    ModelCard(CARD).validate()  # accepted

    bad_type = ModelCard("---\nlicense:\n- mit\n- apache-2.0\n---\n# Card\n")  # valid YAML, but license must be a str
    with pytest.raises(ValueError, match="license must be a string, not list"):
        bad_type.validate()
    with pytest.raises(ValueError, match="license must be a string, not list"):
        bad_type.push_to_hub(repo_id)
    # a README.md with broken YAML is refused by create_commit before anything is uploaded
    commits, start = len(hub.commits(repo_id)), hub.request_count
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        api.upload_file(path_or_fileobj=b"---\ntags: [unclosed\n---\n# x\n", path_in_repo="README.md", repo_id=repo_id)
    assert len(hub.commits(repo_id)) == commits and kinds_since(hub, start) == ["validate_yaml"]

    ModelCard(CARD).push_to_hub(repo_id, commit_message="Add card")
    assert hub.commits(repo_id)[0]["summary"] == "Add card"
    assert api.model_info(repo_id).card_data.tags == ["demo", "genzoo"]
    assert ModelCard.load(repo_id).data.license == "mit"


def test_fault_injection(hub, api, repo_id, tmp_path):
    api.create_repo(repo_id)
    make_model_folder(tmp_path / "model")
    commits = len(hub.commits(repo_id))

    # a 403 on the LFS PUT (an expired pre-signed URL) is not retried: the upload fails, and nothing is committed
    hub.fail_next("lfs_upload", status=403, message="Request has expired")
    with pytest.raises(RuntimeError, match="Error while uploading 'model.safetensors'") as failed:
        api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "model")
    cause = failed.value.__cause__  # huggingface_hub wraps LFS upload errors in a RuntimeError
    assert isinstance(cause, HfHubHTTPError) and cause.response.status_code == 403
    assert "403" in str(cause) and "Request has expired" in str(cause)
    assert len(hub.commits(repo_id)) == commits

    # a single 500 is retried by the client (after 1 s) and the upload goes through
    hub.fail_next("lfs_upload")
    start = hub.request_count
    api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "model")
    assert [r["status"] for r in hub.requests[start:] if r["kind"] == "lfs_upload"] == [500, 200]
    assert len(hub.commits(repo_id)) == commits + 1

    # a failed commit is not retried; the LFS object is kept, so the next attempt does not upload it again
    save_file({"weight": torch.ones(64)}, str(tmp_path / "model" / "model.safetensors"))
    hub.fail_next("commit", status=500)
    with pytest.raises(HfHubHTTPError) as failed_commit:
        api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "model")
    assert failed_commit.value.response.status_code == 500 and "Injected failure" in str(failed_commit.value)
    assert len(hub.commits(repo_id)) == commits + 1
    start = hub.request_count
    api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "model")
    assert "lfs_batch" in kinds_since(hub, start) and "lfs_upload" not in kinds_since(hub, start)
    assert len(hub.commits(repo_id)) == commits + 2

    hub.fail_next("preupload", status=400, message="Bad preupload")
    with pytest.raises(HfHubHTTPError, match="Bad preupload"):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    with pytest.raises(ValueError, match="unknown kind"):
        hub.fail_next("no_such_kind")


def test_offline_reload_comes_from_cache(hub, api, repo_id, tmp_path, monkeypatch):
    api.create_repo(repo_id)
    files = make_model_folder(tmp_path / "model")
    sha = api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "model").oid
    online_file = hf_hub_download(repo_id, "config.json")
    online_weights = hf_hub_download(repo_id, "model.safetensors", revision=sha)
    online_folder = snapshot_download(repo_id)

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    start = hub.request_count
    assert hf_hub_download(repo_id, "config.json") == online_file
    assert hf_hub_download(repo_id, "model.safetensors", revision=sha) == online_weights
    assert snapshot_download(repo_id) == online_folder
    assert Path(online_file).read_bytes() == files["config.json"]
    # and in a fresh process that starts offline, on the same cache
    script = (
        f"from huggingface_hub import hf_hub_download, snapshot_download; "
        f"print(hf_hub_download({repo_id!r}, 'config.json')); print(snapshot_download({repo_id!r}))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": constants.HF_HUB_CACHE}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [online_file, online_folder]
    assert hub.request_count == start  # nothing reached the server


def test_token_never_in_the_log(hub, api, repo_id, capsys):
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="hello.txt", repo_id=repo_id)
    wrong = "hf_wrong_secret_value_123"
    with pytest.raises(HfHubHTTPError):
        api.whoami(token=wrong)
    with pytest.raises(HfHubHTTPError):
        api.create_repo(repo_id + "-other", token=wrong)
    with pytest.raises(urllib.error.HTTPError):  # even the token pasted in a URL path is masked
        urllib.request.urlopen(f"{hub.url}/{hub.token}/x/resolve/main/x.txt", timeout=10)

    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "POST /api/repos/create -> 200" in printed and "GET /api/whoami-v2 -> 401" in printed
    assert "GET /***/x/resolve/main/x.txt -> 404" in printed
    for text in (printed, "\n".join(hub.log_lines)):
        assert hub.token not in text and wrong not in text


def test_diffusers_push_to_hub_and_from_pretrained(hub, api, repo_id, monkeypatch):
    from diffusers import DDPMPipeline, DDPMScheduler, DiffusionPipeline, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        block_out_channels=(8, 16),
        norm_num_groups=4,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    pipe = DDPMPipeline(unet=unet, scheduler=DDPMScheduler())

    def sample(p):
        p.set_progress_bar_config(disable=True)
        return p(generator=torch.Generator().manual_seed(0), num_inference_steps=3, output_type="np").images

    commit = pipe.push_to_hub(repo_id)  # creates the repo (exist_ok), loads/creates the card, upload_folder
    assert hub.commits(repo_id)[0]["sha"] == commit.oid and hub.commits(repo_id)[0]["summary"] == "Upload DDPMPipeline"
    stored = hub.stored_files(repo_id)
    assert stored["unet/diffusion_pytorch_model.safetensors"]["lfs"]
    assert {"model_index.json", "unet/config.json", "scheduler/scheduler_config.json", "README.md"} <= set(stored)
    assert api.model_info(repo_id).library_name == "diffusers"

    loaded = DDPMPipeline.from_pretrained(repo_id)
    generic = DiffusionPipeline.from_pretrained(repo_id)
    assert type(generic) is DDPMPipeline
    expected, images = sample(pipe), sample(loaded)
    assert images.shape == (1, 8, 8, 1)
    np.testing.assert_array_equal(images, sample(generic))
    np.testing.assert_allclose(images, expected, atol=1e-5)  # the same weights; float32 sums may reorder by 1e-6

    # offline, the pipeline reloads from the cache without a request
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    start = hub.request_count
    np.testing.assert_array_equal(sample(DDPMPipeline.from_pretrained(repo_id)), images)
    assert hub.request_count == start
