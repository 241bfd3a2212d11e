"""The one training loop, driven by the autoencoder objectives: learning, resuming, options."""

import json

import pytest
import torch
from safetensors.torch import load_file

from hf_genzoo import AutoencoderPipeline
from hf_genzoo.training import find_checkpoint, make_config, train

TINY = "hidden_dim=32"


def _weights(folder):
    return load_file(str(folder / "autoencoder" / "diffusion_pytorch_model.safetensors"))


def test_a_tiny_run_lowers_the_loss_and_saves_a_pipeline(tiny_train_kwargs):
    cfg = make_config("mlp_autoencoder", **tiny_train_kwargs, model_config=TINY, epochs=6, eval_every_epochs=1)
    result = train(cfg)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 6 and losses[-1] < 0.6 * losses[0]
    assert result.metrics["r2"] > 0.3 and result.steps == 6 * (1437 // 32)
    out = result.output_dir
    pipe = AutoencoderPipeline.from_pretrained(out)
    assert pipe.encode(torch.rand(2, 1, 8, 8)).shape == (2, 4)
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["metrics"]["r2"] == pytest.approx(result.metrics["r2"])
    assert (out / "README.md").read_text().count("hf-genzoo") >= 1 and (out / "sample.png").exists()
    assert len(list((out / "samples").glob("epoch_*.png"))) == 6


def test_resume_continues_the_step_count_and_ends_with_the_same_weights(tmp_path, tiny_train_kwargs):
    # Denoising, so the run draws random numbers every step: resuming must restore the RNG too.
    common = dict(
        tiny_train_kwargs, model_config=TINY, noise="gaussian:0.3", checkpointing_steps=10, eval_every_epochs=5
    )
    whole = train(make_config("mlp_autoencoder", **{**common, "output_dir": str(tmp_path / "whole")}, max_steps=70))
    first = train(make_config("mlp_autoencoder", **{**common, "output_dir": str(tmp_path / "split")}, max_steps=30))
    assert first.steps == 30
    ckpt = find_checkpoint(tmp_path / "split", "latest")
    assert json.loads((ckpt / "genzoo_state.json").read_text())["step"] == 30
    resumed = train(
        make_config(
            "mlp_autoencoder",
            **{**common, "output_dir": str(tmp_path / "split")},
            max_steps=70,
            resume_from_checkpoint="latest",
        )
    )
    assert resumed.steps == 70  # 30 done before + 40 now (the checkpoint is mid-epoch: 44 batches per epoch)
    a, b = _weights(whole.output_dir), _weights(resumed.output_dir)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert len(list((tmp_path / "split" / "checkpoints").iterdir())) == 3  # checkpoints_total_limit


def test_incomplete_checkpoints_are_never_resumed(tmp_path):
    (tmp_path / "checkpoints" / "checkpoint_0").mkdir(parents=True)
    with pytest.raises(ValueError, match="no complete checkpoint"):
        find_checkpoint(tmp_path, "latest")


def test_denoising_autoencoder_reports_the_r2_of_its_noisy_input(tiny_train_kwargs):
    cfg = make_config(
        "conv_autoencoder",
        **tiny_train_kwargs,
        noise="mask:0.25",
        epochs=3,
        resolution=8,
        model_config="block_out_channels=(8, 16),latent_dim=16",
        mixed_precision="bf16",
        gradient_accumulation_steps=2,
    )
    result = train(cfg)
    assert set(result.metrics) == {"r2", "loss", "r2_noisy_input"}
    assert result.steps == 3 * (1437 // 32 // 2)
    assert result.metrics["r2_noisy_input"] < 0.9


def test_bce_loss_trains_a_logits_model(tiny_train_kwargs):
    result = train(make_config("mlp_autoencoder", **tiny_train_kwargs, model_config=TINY, loss="bce", max_steps=5))
    pipe = AutoencoderPipeline.from_pretrained(result.output_dir)
    assert pipe.autoencoder.config.reconstruction == "logits"


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            dict(model="mlp_autoencoder", model_config="latent=3"),
            r"no option\(s\) \['latent'\]; MLPAutoencoder takes \['hidden_dim', 'latent_dim'\]",
        ),
        (dict(model="conv_autoencoder", resolution=10), "divisible by 4"),
        (dict(model="mlp_autoencoder", model_config="hidden_dim="), "key=value pairs"),
        (dict(model="mlp_autoencoder", dataset="no_such_set"), "unknown dataset"),
    ],
)
def test_bad_input_is_a_clear_value_error(tiny_train_kwargs, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(make_config(overrides.pop("model"), **{**tiny_train_kwargs, **overrides}))


def test_unknown_model_lists_the_trainable_ones():
    with pytest.raises(ValueError, match="trainable models:.*mlp_autoencoder"):
        make_config("transformer")


def test_a_second_run_into_a_folder_with_checkpoints_must_say_resume(tiny_train_kwargs):
    kwargs = dict(tiny_train_kwargs, model_config=TINY, max_steps=4, checkpointing_steps=2)
    train(make_config("mlp_autoencoder", **kwargs))
    with pytest.raises(ValueError, match="--resume_from_checkpoint latest"):
        train(make_config("mlp_autoencoder", **kwargs))
    assert (
        train(make_config("mlp_autoencoder", **{**kwargs, "max_steps": 6}, resume_from_checkpoint="latest")).steps == 6
    )


def test_importing_or_training_leaves_accelerate_as_it_was(tiny_train_kwargs):
    import accelerate.optimizer

    from hf_genzoo.compat import lomo_check_cached

    original = accelerate.optimizer.is_lomo_available
    import hf_genzoo.cli  # noqa: F401  (everything the package imports)

    assert accelerate.optimizer.is_lomo_available is original
    with lomo_check_cached():  # what train() runs inside
        assert accelerate.optimizer.is_lomo_available is not original
        assert accelerate.optimizer.is_lomo_available() == original()
    train(make_config("mlp_autoencoder", **{**tiny_train_kwargs, "max_steps": 2, "model_config": TINY}))
    assert accelerate.optimizer.is_lomo_available is original


def _item_calls(monkeypatch, cfg) -> int:
    """How often `Tensor.item` (a host sync on a GPU) is called in a run of `cfg`."""
    calls, item = [0], torch.Tensor.item

    def counted(self):
        calls[0] += 1
        return item(self)

    monkeypatch.setattr(torch.Tensor, "item", counted)
    train(cfg)
    monkeypatch.setattr(torch.Tensor, "item", item)
    return calls[0]


def test_the_hot_loop_syncs_only_when_it_logs(monkeypatch, tiny_train_kwargs):
    """40 more steps cost exactly the 2 more logs' syncs (one loss each), not one per step; digits at batch 16 has
    89 batches an epoch, so both runs end before the first epoch's evaluation and evaluate once at the end."""
    kwargs = dict(tiny_train_kwargs, model_config=TINY, batch_size=16, log_every=20, overwrite_output_dir=True)
    short = _item_calls(monkeypatch, make_config("mlp_autoencoder", **kwargs, max_steps=40))
    long = _item_calls(monkeypatch, make_config("mlp_autoencoder", **kwargs, max_steps=80))
    assert long - short == 2
    skipping = make_config("mlp_autoencoder", **kwargs, max_steps=40, skip_nonfinite_steps=1)
    assert _item_calls(monkeypatch, skipping) == short + 40  # skipping decides before each step: a sync each


def test_the_logged_loss_is_the_mean_of_the_window(tiny_train_kwargs, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from hf_genzoo.training.autoencoder import MLPAutoencoderObjective

    seen = []
    losses = MLPAutoencoderObjective.losses

    def recorded(self, batch, step):
        for name, loss in losses(self, batch, step):
            seen.append(loss.item())
            yield name, loss

    kwargs = dict(tiny_train_kwargs, model_config=TINY, max_steps=10, log_every=5, report_to="tensorboard")
    MLPAutoencoderObjective.losses = recorded
    try:
        train(make_config("mlp_autoencoder", **kwargs))
    finally:
        MLPAutoencoderObjective.losses = losses
    events = EventAccumulator(str(next((tmp_path / "run" / "logs").rglob("events.*")))).Reload()
    logged = [e.value for e in events.Scalars("train/loss_autoencoder")]
    assert logged == pytest.approx([sum(seen[:5]) / 5, sum(seen[5:10]) / 5], rel=1e-6)


def test_compile_trains_the_same_model_as_eager(tiny_train_kwargs, tmp_path, monkeypatch):
    """--compile (inductor; on a CPU it compiles C++ with the machine's gcc): the same losses as eager to float
    rounding, and a pipeline that saves and loads as the plain model class."""
    compiled_models, compile_module = [], torch.nn.Module.compile

    def spied(self, *args, **kw):
        compiled_models.append(type(self).__name__)
        return compile_module(self, *args, **kw)

    monkeypatch.setattr(torch.nn.Module, "compile", spied)
    kwargs = dict(tiny_train_kwargs, model_config=TINY, max_steps=12)
    eager = train(make_config("mlp_autoencoder", **kwargs))
    assert compiled_models == []
    compiled = train(make_config("mlp_autoencoder", **dict(kwargs, output_dir=str(tmp_path / "c")), compile=True))
    assert compiled_models == ["MLPAutoencoder"]
    assert compiled.metrics["loss"] == pytest.approx(eager.metrics["loss"], rel=1e-4)
    pipe = AutoencoderPipeline.from_pretrained(compiled.output_dir)
    assert type(pipe.autoencoder).__name__ == "MLPAutoencoder"
