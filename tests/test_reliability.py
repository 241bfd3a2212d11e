"""Nothing lost, nothing silent: options checked before any work, checkpoints that survive a kill, a finished
model never overwritten by accident, divergence that stops the run, metrics files that are strict JSON."""

import json
import logging
import math
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file

from hf_genzoo.errors import TrainingDiverged
from hf_genzoo.records import dumps
from hf_genzoo.registry import get_family
from hf_genzoo.training import make_config, train
from hf_genzoo.training.autoencoder import MLPAutoencoderObjective
from hf_genzoo.training.loop import complete_checkpoints

from .launch import run_or_dump

TINY = "hidden_dim=32"


def strict_json(path):
    """Parse as a strict JSON reader does: NaN and Infinity are not JSON."""

    def refuse(constant):
        raise ValueError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize(
    "option,value,message",
    [
        ("epochs", 0, "--epochs must be 1 or more, got 0"),
        ("max_steps", -3, "--max_steps must be 1 or more, got -3"),
        ("gradient_accumulation_steps", 0, "--gradient_accumulation_steps must be 1 or more"),
        ("checkpointing_steps", -1, r"--checkpointing_steps must be 0 or more \(0: never\), got -1"),
        ("batch_size", 0, "--batch_size must be 1 or more"),
        ("learning_rate", 0.0, "--learning_rate must be above 0"),
        ("learning_rate", math.nan, "--learning_rate must be above 0"),
        ("checkpoints_total_limit", 0, "--checkpoints_total_limit must be 1 or more"),
    ],
)
def test_options_that_train_nothing_are_refused_before_any_work(tmp_path, option, value, message):
    # an unknown dataset would be the error if the options were checked after the data
    cfg = make_config("mlp_autoencoder", dataset="no_such_set", output_dir=str(tmp_path / "run"), **{option: value})
    with pytest.raises(ValueError, match=message):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_a_model_config_value_the_model_cannot_take_is_one_clear_error(tiny_train_kwargs):
    cfg = make_config("mlp_autoencoder", **tiny_train_kwargs, model_config="latent_dim=-2", max_steps=1)
    expected = "--model_config 'latent_dim=-2': mlp_autoencoder cannot be built with it \\(Trying to create tensor"
    with pytest.raises(ValueError, match=expected):  # torch's RuntimeError, said as the option's error
        train(cfg)


def test_a_batch_larger_than_the_data_is_said_and_what_was_used_is_saved(tiny_train_kwargs, caplog):
    cfg = make_config("mlp_autoencoder", **{**tiny_train_kwargs, "batch_size": 5000}, model_config=TINY, epochs=2)
    with caplog.at_level(logging.WARNING):
        result = train(cfg)
    assert "--batch_size 5000 is more than the 1437 training images per process: using 1437" in caplog.text
    assert result.steps == 2  # one batch of all 1437 images per epoch
    assert json.loads((result.output_dir / "train_config.json").read_text())["batch_size"] == 1437


def test_a_finished_model_is_refused_then_replaced_cleanly_when_asked(tiny_train_kwargs):
    out = tiny_train_kwargs["output_dir"]
    train(make_config("vae", **tiny_train_kwargs, max_steps=2, model_config=get_family("vae").tiny.model_config))
    (Path(out) / "samples" / "stale.png").write_bytes(b"an old picture")
    ae = make_config("mlp_autoencoder", **tiny_train_kwargs, model_config=TINY, max_steps=2)
    with pytest.raises(ValueError, match=r"already holds a finished VAEPipeline; pass --overwrite_output_dir"):
        train(ae)
    assert (Path(out) / "vae").is_dir()  # untouched
    train(
        make_config("mlp_autoencoder", **tiny_train_kwargs, model_config=TINY, max_steps=2, overwrite_output_dir=True)
    )
    left = {p.name for p in Path(out).iterdir()}
    assert "vae" not in left and "autoencoder" in left  # the other family's weights are gone, not orphaned
    assert not (Path(out) / "samples" / "stale.png").exists()
    assert json.loads((Path(out) / "model_index.json").read_text())["_class_name"] == "AutoencoderPipeline"


def test_checkpoints_rotate_only_after_the_new_one_is_complete(tiny_train_kwargs, monkeypatch):
    kwargs = dict(tiny_train_kwargs, model_config=TINY, checkpointing_steps=2, checkpoints_total_limit=1)
    save_state = Accelerator.save_state

    def killed_during_the_second(self, output_dir=None, **kw):
        save_state(self, output_dir, **kw)
        if output_dir.endswith("checkpoint_4"):
            raise KeyboardInterrupt("killed while writing")  # files written, the checkpoint not yet complete

    monkeypatch.setattr(Accelerator, "save_state", killed_during_the_second)
    with pytest.raises(KeyboardInterrupt):
        train(make_config("mlp_autoencoder", **kwargs, max_steps=6))
    monkeypatch.undo()
    run = tiny_train_kwargs["output_dir"]
    assert [p.name for p in complete_checkpoints(run)] == ["checkpoint_2"]  # the last good one is still there
    resumed = train(make_config("mlp_autoencoder", **kwargs, max_steps=6, resume_from_checkpoint="latest"))
    assert resumed.steps == 6
    assert [p.name for p in (Path(run) / "checkpoints").iterdir()] == ["checkpoint_6"]  # limit 1, nothing stale


def test_a_kill_during_the_first_checkpoint_leaves_a_folder_that_restarts(tiny_train_kwargs, monkeypatch, caplog):
    kwargs = dict(tiny_train_kwargs, model_config=TINY, checkpointing_steps=2)
    save_state = Accelerator.save_state

    def killed(self, output_dir=None, **kw):
        save_state(self, output_dir, **kw)
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(Accelerator, "save_state", killed)
    with pytest.raises(KeyboardInterrupt):
        train(make_config("mlp_autoencoder", **kwargs, max_steps=4))
    monkeypatch.undo()
    with pytest.raises(ValueError, match="no complete checkpoint"):  # nothing to resume ...
        train(make_config("mlp_autoencoder", **kwargs, max_steps=4, resume_from_checkpoint="latest"))
    with caplog.at_level(logging.WARNING):  # ... and nothing that counts as an earlier run
        assert train(make_config("mlp_autoencoder", **kwargs, max_steps=4)).steps == 4
    assert "removing the incomplete checkpoint" in caplog.text


def test_metrics_after_a_resume_keep_the_whole_history(tiny_train_kwargs):
    kwargs = dict(tiny_train_kwargs, model_config=TINY, checkpointing_steps=25)  # 44 steps per epoch
    train(make_config("mlp_autoencoder", **kwargs, max_steps=50))
    train(make_config("mlp_autoencoder", **kwargs, max_steps=100, resume_from_checkpoint="latest"))
    summary = strict_json(Path(tiny_train_kwargs["output_dir"]) / "metrics.json")
    assert [h["step"] for h in summary["history"]] == [44, 88, 100]  # epoch 1 was before the resume


def _nan_at(calls):
    """The autoencoder's losses, NaN at these calls (1-based)."""
    losses, count = MLPAutoencoderObjective.losses, [0]

    def patched(self, batch, step):
        count[0] += 1
        for name, loss in losses(self, batch, step):
            yield name, loss * math.nan if count[0] in calls else loss

    return patched


def test_a_nonfinite_loss_stops_the_run_keeps_the_last_good_checkpoint_and_saves_no_pipeline(
    tiny_train_kwargs, monkeypatch
):
    monkeypatch.setattr(MLPAutoencoderObjective, "losses", _nan_at({6}))
    kwargs = dict(tiny_train_kwargs, model_config=TINY, checkpointing_steps=2, max_steps=10)
    with pytest.raises(TrainingDiverged, match=r"the autoencoder loss is nan at step 6: training diverged") as err:
        train(make_config("mlp_autoencoder", **kwargs))
    run = tiny_train_kwargs["output_dir"]
    assert "the last good checkpoint is" in str(err.value) and str(err.value).count("checkpoint_4") == 1
    assert not (Path(run) / "model_index.json").exists() and not (Path(run) / "metrics.json").exists()
    weights = load_file(str(complete_checkpoints(run)[-1] / "model.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_a_huge_learning_rate_is_stopped_not_saved(tiny_train_kwargs):
    with pytest.raises(TrainingDiverged, match="training diverged and no pipeline was saved"):
        train(make_config("mlp_autoencoder", **tiny_train_kwargs, model_config=TINY, learning_rate=1e38, max_steps=40))


def test_skip_nonfinite_steps_skips_and_counts_them(tiny_train_kwargs, monkeypatch):
    monkeypatch.setattr(MLPAutoencoderObjective, "losses", _nan_at({4, 8}))
    kwargs = dict(tiny_train_kwargs, model_config=TINY, max_steps=10, skip_nonfinite_steps=2)
    result = train(make_config("mlp_autoencoder", **kwargs))
    assert result.steps == 10
    summary = strict_json(result.output_dir / "metrics.json")
    assert summary["skipped_nonfinite_batches"] == 2
    monkeypatch.setattr(MLPAutoencoderObjective, "losses", _nan_at({4, 8}))
    with pytest.raises(TrainingDiverged, match="at step 7"):  # one skip allowed: the second NaN (call 8) stops it
        train(make_config("mlp_autoencoder", **{**kwargs, "skip_nonfinite_steps": 1, "overwrite_output_dir": True}))


def test_metrics_files_are_strict_json(tmp_path):
    text = dumps({"loss": math.nan, "history": [{"r2": -math.inf}, {"r2": 0.5}], "steps": 3})
    assert json.loads(text) == {"loss": None, "history": [{"r2": None}, {"r2": 0.5}], "steps": 3}
    with pytest.raises(ValueError):
        json.dumps({"x": math.nan}, allow_nan=False)  # what dumps guards against


def test_a_hung_launch_fails_with_the_stacks_of_every_process_it_started():
    """run_or_dump, which the torchrun tests use: past its timeout the child and the grandchild it waits on both
    print where they are (faulthandler), and the test fails with that, in seconds rather than at CI's limit."""
    import sys

    sleeper = "import time; time.sleep(60)  # the grandchild"
    parent = f"import subprocess, sys, time; subprocess.run([sys.executable, '-c', {sleeper!r}]); time.sleep(60)"
    with pytest.raises(pytest.fail.Exception) as failed:
        run_or_dump([sys.executable, "-c", parent], timeout=3, grace=1)
    message = str(failed.value)
    assert "still ran after 3 s" in message
    assert message.count('File "<string>", line 1') == 2, message  # one stack each


def test_two_processes_train_as_one_process_with_the_same_global_batch(tmp_path):
    """torchrun with 2 CPU processes (gloo), 16 images each, against one process with 32: the same data order
    (accelerate shards the shuffled batches), so the same steps, LR schedule, losses, weights and held-out metrics."""
    import os
    import sys

    common = (
        "--model mlp_autoencoder --dataset digits --model_config hidden_dim=32 --max_steps 60 --lr_scheduler linear "
        "--checkpointing_steps 30 --report_to none --log_every 10 --seed 3"
    ).split()
    two = tmp_path / "two"
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    proc = run_or_dump(  # ~15 s on 2 cores; a hang fails in 4 minutes with the stacks of torchrun and its workers
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "scripts/train.py"]
        + common
        + ["--batch_size", "16", "--output_dir", str(two)],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("saved the pipeline") == 1  # the main process reports, once
    kwargs = dict(zip([a.lstrip("-") for a in common[::2]], common[1::2], strict=True))
    kwargs = {k: (int(v) if v.isdigit() else v) for k, v in kwargs.items()}
    one = train(make_config(kwargs.pop("model"), **kwargs, batch_size=32, output_dir=str(tmp_path / "one")))

    a, b = strict_json(two / "metrics.json"), strict_json(one.output_dir / "metrics.json")
    assert a["steps"] == b["steps"] == 60  # counted after sharding: 44 steps an epoch in both
    assert [h["step"] for h in a["history"]] == [h["step"] for h in b["history"]] == [44, 60]
    for ha, hb in zip(a["history"], b["history"], strict=True):  # the held-out loss curve
        assert ha["loss"] == pytest.approx(hb["loss"], rel=1e-4)
    for name, value in b["metrics"].items():  # gathered over the whole held-out split, not one process's share
        assert a["metrics"][name] == pytest.approx(value, rel=1e-4), name
    wa = load_file(str(two / "autoencoder" / "diffusion_pytorch_model.safetensors"))
    wb = load_file(str(one.output_dir / "autoencoder" / "diffusion_pytorch_model.safetensors"))
    for k in wb:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-5, msg=k)

    def files(root):
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    extra = set(files(two)) - set(files(one.output_dir))
    assert extra == {f"checkpoints/checkpoint_{s}/random_states_1.pkl" for s in (30, 60)}  # its own RNG state only


def test_a_batch_comes_in_the_order_its_indices_were_asked():
    # accelerate pads the last batch of a multi-process evaluation at its end and gather_for_metrics cuts that
    # tail off: a batch returned sorted counted padding and lost real images
    from hf_genzoo.data import load_data
    from hf_genzoo.data.batches import TensorDataset

    ds = TensorDataset(load_data("images", "digits", "test"))
    asked = [359, 0, 7, 352, 3]
    batch = ds.__getitems__(asked)
    for j, i in enumerate(asked):
        assert torch.equal(batch["pixel_values"][j], ds[i]["pixel_values"]) and batch["labels"][j] == ds[i]["labels"]


def test_accelerate_launch_asking_for_more_processes_than_it_starts_is_warned(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "launched"
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--cpu", "scripts/train.py"]
        + f"--model mlp_autoencoder --dataset digits --max_steps 2 --model_config hidden_dim=16 --output_dir {out} "
        "--report_to none --checkpointing_steps 0".split(),
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "accelerate launch asked for 2 processes, this run has 1" in proc.stderr
    assert "torchrun --standalone --nproc_per_node N" in proc.stderr


@pytest.mark.parametrize("name", ["multi_gpu", "multi_node", "fsdp"])
def test_the_accelerate_configs_are_valid_accelerate_configs(name):
    from accelerate.commands.config.config_args import load_config_from_file

    path = Path(__file__).resolve().parents[1] / "scripts" / "accelerate_configs" / f"{name}.yaml"
    config = load_config_from_file(str(path))
    assert config.distributed_type.value == {"multi_gpu": "MULTI_GPU", "multi_node": "MULTI_GPU", "fsdp": "FSDP"}[name]
    assert f"accelerate launch --config_file scripts/accelerate_configs/{name}.yaml" in path.read_text()


def _png(path, img):
    img.save(path)
    return path


def test_images_of_any_mode_and_bit_depth_are_scaled_not_clipped(tmp_path):
    import numpy as np
    import PIL.Image

    from hf_genzoo.data import load_data

    folder = tmp_path / "modes" / "a"
    folder.mkdir(parents=True)
    ramp = np.linspace(0, 1, 16 * 16).reshape(16, 16)  # dark to bright
    _png(folder / "sixteen.png", PIL.Image.fromarray((ramp * 65535).astype(np.uint16)))  # opens as I;16
    PIL.Image.fromarray(ramp.astype(np.float32), "F").save(folder / "float.tiff")
    _png(folder / "grey_alpha.png", PIL.Image.fromarray((ramp * 255).astype(np.uint8)).convert("LA"))
    _png(folder / "palette.png", PIL.Image.fromarray((ramp * 255).astype(np.uint8)).convert("P"))
    data = load_data("images", f"imagefolder:{tmp_path / 'modes'}", channels=1)
    expected = np.round(ramp * 255)
    for image in np.array(data.images):
        assert np.abs(image[0].astype(float) - expected).max() <= 1  # the ramp, not a clipped white square


def test_an_unreadable_first_file_is_skipped_like_any_other_and_the_cache_holds_no_temporary_folder(
    tmp_path, monkeypatch
):
    import numpy as np
    import PIL.Image

    from hf_genzoo.data import load_data

    monkeypatch.setenv("HF_GENZOO_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "photos" / "a"
    folder.mkdir(parents=True)
    (folder / "000_broken.png").write_bytes(b"not a png")  # sorts first
    for i in range(3):
        _png(folder / f"{i + 1:03d}.png", PIL.Image.fromarray(np.full((8, 8), 40 * i, np.uint8)))
    with pytest.raises(ValueError, match="000_broken.png"):
        load_data("images", f"imagefolder:{tmp_path / 'photos'}")
    data = load_data("images", f"imagefolder:{tmp_path / 'photos'}", skip_bad_files=True)
    assert len(data) == 3 and data.n_skipped == 1
    assert not [p for p in (tmp_path / "cache").rglob("*") if ".tmp" in p.name]


def test_an_unreachable_hub_dataset_is_one_line(monkeypatch):
    from hf_genzoo.data import sources

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'someone/photos' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(sources, "load_dataset", offline)
    with pytest.raises(ValueError, match=r"someone/photos: the Hub cannot be reached \(Couldn't reach"):
        sources.load_hub_split("someone/photos", "train")  # datasets raises ConnectionError when offline


@pytest.fixture(scope="module")
def tiny_ae(tmp_path_factory):
    out = tmp_path_factory.mktemp("ae") / "run"
    kwargs = dict(dataset="digits", batch_size=32, report_to="none", checkpointing_steps=0, max_steps=2)
    return train(make_config("mlp_autoencoder", **kwargs, model_config=TINY, output_dir=str(out))).output_dir


def test_pipeline_inputs_in_the_wrong_layout_or_range_are_the_packages_errors(tiny_ae):
    import numpy as np

    from hf_genzoo import AutoencoderPipeline

    pipe = AutoencoderPipeline.from_pretrained(tiny_ae)  # 1 x 8 x 8 digits
    takes = r"this pipeline takes \(B, 1, 8, 8\) tensors in \[0, 1\]"
    with pytest.raises(ValueError, match=r"images of shape \(2, 8, 8, 1\) are not \(B, C, H, W\) tensors.*" + takes):
        pipe.encode(torch.rand(2, 8, 8, 1))  # channels last, as a tensor
    with pytest.raises(ValueError, match=r"shape \(2, 1, 8, 8\) are not \(B, H, W, C\) numpy arrays"):
        pipe.encode(np.random.rand(2, 1, 8, 8))  # channels first, as numpy
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]; these span .* \(0..255: divide by 255"):
        pipe.encode(torch.rand(2, 1, 8, 8) * 255)
    with pytest.raises(ValueError, match=r"-1..1: map with \(x \+ 1\) / 2"):
        pipe.encode(torch.rand(2, 1, 8, 8) * 2 - 1)
    with pytest.warns(UserWarning, match=r"clamped to \[0, 1\]"):
        pipe.encode(torch.rand(2, 1, 8, 8) * 1.1)


def test_pipelines_and_training_read_an_image_of_another_size_the_same_way():
    import numpy as np
    import PIL.Image

    from hf_genzoo.data.images import _pil_to_uint8
    from hf_genzoo.pipelines.image_io import to_model_input

    wide = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 20), dtype=np.uint8))
    trained_on = torch.from_numpy(_pil_to_uint8(wide, 8, 1)).float() / 255  # (1, 8, 8)
    torch.testing.assert_close(to_model_input(wide, 1, 8, "cpu")[0], trained_on, atol=1e-6, rtol=0)


def test_model_input_is_clamped_only_where_it_can_leave_the_unit_range():
    """In-range float tensors and uint8 images pass as they are (no copy, no clamp: the pipeline's fixed cost);
    slightly-out-of-range floats are warned about and clamped; grey from RGB and resized images are what the
    conversions give (their clamp only guards rounding)."""
    import numpy as np
    import torch.nn.functional as F

    from hf_genzoo.pipelines.image_io import to_model_input

    x = torch.rand(4, 3, 8, 8)
    assert to_model_input(x, 3, 8, "cpu") is x  # checked, already the model's input
    uint8 = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    torch.testing.assert_close(
        to_model_input(uint8, 3, 8, "cpu"), torch.from_numpy(uint8).permute(0, 3, 1, 2) / 255, rtol=0, atol=0
    )
    with pytest.warns(UserWarning, match=r"clamped to \[0, 1\]"):
        wide = to_model_input(x * 1.1 - 0.05, 3, 8, "cpu")
    torch.testing.assert_close(wide, (x * 1.1 - 0.05).clamp(0, 1), rtol=0, atol=0)
    luma = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    torch.testing.assert_close(to_model_input(x, 1, 8, "cpu"), luma, rtol=0, atol=0)
    small = F.interpolate(x, size=(5, 5), mode="bilinear", antialias=True, align_corners=False)
    torch.testing.assert_close(to_model_input(x, 3, 5, "cpu"), small, rtol=0, atol=0)


def test_loading_a_missing_folder_or_a_truncated_weights_file_is_one_line(tiny_ae, tmp_path):
    import shutil

    from hf_genzoo import AutoencoderPipeline
    from hf_genzoo.cli import main

    with pytest.raises(ValueError, match=r"no such folder: \./no-such-model"):
        AutoencoderPipeline.from_pretrained("./no-such-model")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_ae, broken)
    weights = broken / "autoencoder" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="a weights file cannot be read .* it may be truncated"):
        AutoencoderPipeline.from_pretrained(broken)
    with pytest.raises(SystemExit, match=r"^genzoo evaluate: error: .*it may be truncated"):  # the CLI's one line
        main(f"evaluate --model {broken} --dataset digits".split())


def test_an_output_folder_that_cannot_be_written_is_one_line(tiny_train_kwargs, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    cfg = make_config("mlp_autoencoder", **{**tiny_train_kwargs, "output_dir": str(tmp_path / "a_file" / "run")})
    with pytest.raises(ValueError, match=r"cannot write the output folder .*a_file is a file"):
        train(cfg)
