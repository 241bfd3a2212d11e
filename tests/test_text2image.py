"""Text-to-image latent diffusion: the VAE, the CLIP and its learned tokenizer, the conditional UNet, the stock
Stable Diffusion pipeline they make, LoRA fine-tuning of an existing one, and the captioned data they train on."""

import json
import logging

import numpy as np
import pytest
import torch
from datasets import Dataset, Features, Image, Value
from diffusers import DDPMScheduler, DiffusionPipeline, StableDiffusionPipeline

from hf_genzoo import cli
from hf_genzoo.data import load_data
from hf_genzoo.data.captions import CLASS_TEMPLATES, HELD_OUT_TEMPLATES
from hf_genzoo.data.shapes import HELD_OUT, make_shapes
from hf_genzoo.models.autoencoder_kl import TINY_KL
from hf_genzoo.models.unet import TINY_LATENT_UNET, as_model_config, unet_for_latents
from hf_genzoo.training import make_config
from hf_genzoo.training.text2image import Text2ImageObjective

TINY_CLIP = "hidden_size=16,intermediate_size=32,num_hidden_layers=1,num_attention_heads=2,projection_dim=16"
COMMON = "--dataset digits --resolution 16 --batch_size 16 --report_to none --checkpointing_steps 0"


def _train(tmp, family, *flags, model_config=None):
    out = tmp / family
    config = ["--model_config", model_config] if model_config else []
    cli.main(["train", family, *f"{COMMON} --output_dir {out}".split(), *flags, *config])
    return out


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parts")
    vae = _train(tmp, "autoencoder_kl", "--max_steps", "30", model_config=as_model_config(TINY_KL))
    clip = _train(tmp, "clip", "--max_steps", "30", model_config=TINY_CLIP)
    return {"vae": vae, "clip": clip}


@pytest.fixture(scope="module")
def built(parts, tmp_path_factory):
    """A tiny text-to-image run, and the pipeline object training built (before it was saved)."""
    out, seen = tmp_path_factory.mktemp("t2i") / "run", []
    original = Text2ImageObjective.save

    def keep(self, pipeline, output_dir, accelerator):
        seen.append(pipeline)
        original(self, pipeline, output_dir, accelerator)

    Text2ImageObjective.save = keep
    try:
        flags = f"--vae {parts['vae']} --text_encoder {parts['clip']} --max_steps 8 --mixed_precision no"
        tiny = ["--model_config", as_model_config(TINY_LATENT_UNET)]
        cli.main([*f"train text2image {COMMON} --output_dir {out} {flags}".split(), *tiny])
    finally:
        Text2ImageObjective.save = original
    seen[0].set_progress_bar_config(disable=True)
    return out, seen[0]


def _draw(pipe, prompt="a 3", guidance=4.0, steps=4, **kw):
    g = torch.Generator().manual_seed(0)
    return pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, generator=g, output_type="np", **kw).images


# --- the parts


def test_the_vae_scaling_factor_is_measured_on_the_training_latents(parts):
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(parts["vae"], subfolder="vae")
    factor = vae.config.scaling_factor
    assert factor != pytest.approx(0.18215)  # not Stable Diffusion's default
    images = torch.from_numpy(np.array(load_data("images", "digits", "train", resolution=16, channels=3).images))
    with torch.no_grad():
        z = vae.encode(images.float() / 127.5 - 1).latent_dist.sample(torch.Generator().manual_seed(7))
    assert factor == pytest.approx(1 / z.std().item(), rel=0.02)  # another draw of the same measurement


def test_the_tokenizer_is_learned_from_the_captions_and_round_trips_them(parts):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(parts["clip"], subfolder="tokenizer")
    data = load_data("captioned_images", "digits", "train", resolution=16, channels=3)
    captions = data.captions  # class names through the templates, image i taking template i mod 4
    assert all(captions[i] == CLASS_TEMPLATES[i % len(CLASS_TEMPLATES)].format(label=data.labels[i]) for i in range(20))
    for caption in captions[:50]:
        ids = tokenizer(caption)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True).strip() == caption
        assert len(ids) == len(caption.split()) + 2  # every caption word is a learned token, between start and end
    vocab = json.loads((parts["clip"] / "tokenizer" / "vocab.json").read_text())
    merges = (parts["clip"] / "tokenizer" / "merges.txt").read_text().splitlines()
    assert "picture</w>" in vocab and len([m for m in merges if m and not m.startswith("#")]) > 10
    reloaded = CLIPTokenizer.from_pretrained(parts["clip"] / "tokenizer")
    assert reloaded(captions[:20])["input_ids"] == tokenizer(captions[:20])["input_ids"]


# --- the pipeline


def test_the_saved_folder_is_a_stock_stable_diffusion_pipeline(built):
    out, pipe = built
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline" and index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["text_encoder"] == ["transformers", "CLIPTextModel"] and index["vae"] == ["diffusers", "AutoencoderKL"]
    stock = StableDiffusionPipeline.from_pretrained(out)
    stock.set_progress_bar_config(disable=True)
    assert type(DiffusionPipeline.from_pretrained(out)) is StableDiffusionPipeline
    np.testing.assert_array_equal(_draw(stock), _draw(pipe))  # the same prompt, seed and steps
    assert _draw(stock).shape == (1, 16, 16, 3)
    assert not np.array_equal(_draw(stock, "a 3"), _draw(stock, "a photo of a 7"))  # the text conditions the images


def test_guidance_one_is_the_unguided_path(built):
    _, pipe = built
    guided_once = _draw(pipe, guidance=1.0)
    # by hand: the text's hidden states alone, the scheduler's loop, no empty-prompt branch
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(4)
    ids = pipe.tokenizer("a 3", padding="max_length", truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        states = pipe.text_encoder(ids)[0]
        shape = (1, pipe.unet.config.in_channels, pipe.unet.config.sample_size, pipe.unet.config.sample_size)
        g = torch.Generator().manual_seed(0)
        latents = torch.randn(shape, generator=g) * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            noise = pipe.unet(latents, t, encoder_hidden_states=states).sample
            latents = scheduler.step(noise, t, latents, generator=g).prev_sample
        image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    by_hand = ((image / 2 + 0.5).clamp(0, 1)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(guided_once, by_hand, atol=1e-5)
    assert not np.allclose(_draw(pipe, guidance=4.0), guided_once)


def test_a_size_the_vae_cannot_take_and_a_long_prompt(built, caplog):
    _, pipe = built
    with pytest.raises(ValueError, match="divisible by 8"):
        _draw(pipe, height=12, width=16)
    long_prompt = " ".join(["a picture of a 3"] * 20)
    with caplog.at_level(logging.WARNING):
        images = _draw(pipe, long_prompt)
    assert images.shape == (1, 16, 16, 3) and "truncated" in caplog.text


def test_genzoo_sample_draws_for_a_prompt(built, tmp_path, capsys):
    out, _ = built
    grid = tmp_path / "g.png"
    flags = f"--num_images 4 --steps 3 --guidance_scale 2 --output {grid}"
    cli.main([*f"sample --model {out} {flags}".split(), "--prompt", "a photo of a 3"])
    printed = capsys.readouterr().out
    assert "prompt a photo of a 3" in printed and "6 network evaluations" in printed and (tmp_path / "g.png").exists()


def test_one_command_trains_the_missing_parts_first(tmp_path):
    out = _train(
        tmp_path, "text2image", "--max_steps", "2", "--batch_size", "8", model_config=as_model_config(TINY_LATENT_UNET)
    )
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["vae"] == str(out / "parts" / "autoencoder_kl") and saved["text_encoder"] == str(
        out / "parts" / "clip"
    )
    for part in ("autoencoder_kl", "clip"):
        assert json.loads((out / "parts" / part / "metrics.json").read_text())["steps"] == 2
    assert StableDiffusionPipeline.from_pretrained(out).unet.config.cross_attention_dim == 128  # the default CLIP


# --- fine-tuning an existing Stable Diffusion, fully or with LoRA


@pytest.fixture(scope="module")
def base_sd(built, tmp_path_factory):
    """A Stable Diffusion pipeline folder, as the Hub has them: here, a tiny one with a fresh UNet."""
    _, pipe = built
    folder = tmp_path_factory.mktemp("base") / "sd"
    torch.manual_seed(0)
    unet = unet_for_latents(4, pipe.unet.config.sample_size, pipe.text_encoder.config.hidden_size, **TINY_LATENT_UNET)
    StableDiffusionPipeline(**{**pipe.components, "unet": unet}).save_pretrained(folder)
    return folder


def test_lora_weights_load_with_load_lora_weights_and_change_the_output(base_sd, tmp_path):
    out = tmp_path / "lora"
    base = f"--pretrained_model_name_or_path {base_sd} --lora_rank 4 --max_steps 3 --learning_rate 0.05"
    cli.main(f"train text2image {COMMON} --output_dir {out} {base}".split())
    assert (out / "pytorch_lora_weights.safetensors").exists()
    pipe = StableDiffusionPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    base = StableDiffusionPipeline.from_pretrained(base_sd)
    for a, b in zip(pipe.unet.state_dict().values(), base.unet.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)  # the base weights are kept as they were
    before = _draw(pipe)
    pipe.load_lora_weights(out)
    assert "default_0" in pipe.unet.peft_config  # the adapter is in the UNet
    assert np.abs(_draw(pipe) - before).max() > 1e-4  # and it changes the images
    pipe.unload_lora_weights()
    np.testing.assert_allclose(_draw(pipe), before, atol=1e-6)


def test_full_fine_tuning_changes_the_unet(base_sd, tmp_path):
    out = tmp_path / "full"
    base = f"--pretrained_model_name_or_path {base_sd} --max_steps 2 --ema_max_decay 0"
    cli.main(f"train text2image {COMMON} --output_dir {out} {base}".split())
    tuned, base = StableDiffusionPipeline.from_pretrained(out), StableDiffusionPipeline.from_pretrained(base_sd)
    changed = [not torch.equal(a, b) for a, b in zip(tuned.unet.parameters(), base.unet.parameters(), strict=True)]
    assert any(changed)
    assert torch.equal(tuned.vae.decoder.conv_out.weight, base.vae.decoder.conv_out.weight)  # the VAE is frozen


def test_lora_and_parts_need_what_they_adapt(tmp_path):
    with pytest.raises(SystemExit, match="--lora_rank adapts a pretrained UNet"):
        cli.main(f"train text2image {COMMON} --output_dir {tmp_path} --lora_rank 4".split())


# --- captioned data


def test_shapes_hold_out_their_test_pairs():
    _, captions, colours, shapes = make_shapes("train", n=400)
    held = {f"{c} {s}" for c, s in HELD_OUT}
    assert not any(pair in caption for caption in captions for pair in held)
    _, test_captions, _, _ = make_shapes("test", n=100)
    assert all(any(f"{c} {s}" in caption.split(" and ")[0] for c, s in HELD_OUT) for caption in test_captions)
    data = load_data("captioned_images", "shapes", "test")
    assert data.images.shape == (600, 3, 32, 32) and data.captions[0].startswith("a ")


def test_empty_captions_are_counted_and_a_folder_with_metadata_is_captioned(tmp_path):
    import PIL.Image

    folder = tmp_path / "photos"
    folder.mkdir()
    texts = ["a red thing", "", "a blue thing"]
    for i in range(3):
        PIL.Image.fromarray(np.full((8, 8, 3), 80 * i, np.uint8)).save(folder / f"{i}.png")
    (folder / "metadata.jsonl").write_text(
        "\n".join(json.dumps({"file_name": f"{i}.png", "text": t}) for i, t in enumerate(texts))
    )
    data = load_data("captioned_images", f"imagefolder:{folder}")
    assert sorted(data.captions) == sorted(texts)
    assert data.warnings == ["1 of 3 captions are empty: they train the unconditional case"]
    plain = tmp_path / "plain.parquet"
    Dataset.from_dict(
        {"picture": [{"bytes": open(folder / "0.png", "rb").read(), "path": None}], "n": [1]},
        features=Features({"picture": Image(), "n": Value("int64")}),
    ).to_parquet(str(plain))
    with pytest.raises(ValueError, match=r"has no caption column; its columns are \['picture', 'n'\]"):
        load_data("captioned_images", str(plain))


def test_held_out_templates_are_never_training_captions():
    digits = set(load_data("captioned_images", "digits", "train").captions)
    held = {t.format(label=str(k)) for t in HELD_OUT_TEMPLATES for k in range(10)}
    assert len(digits) == 10 * len(CLASS_TEMPLATES) and not digits & held  # every template and class, none held out
    # ... but every word of a held-out prompt is in the training captions: new phrasing, not unknown words
    assert {w for c in held for w in c.split()} <= {w for c in digits for w in c.split()}


def test_the_cache_key_holds_the_templates_themselves(monkeypatch):
    from hf_genzoo.data import captions

    before = load_data("captioned_images", "digits", "train").captions
    monkeypatch.setattr(captions, "CLASS_TEMPLATES", ("a drawing of a {label}",))
    after = load_data("captioned_images", "digits", "train").captions
    assert set(after) == {f"a drawing of a {k}" for k in range(10)} and set(after) != set(before)


def test_the_recipe_is_stable_diffusions_schedule_at_32x32():
    cfg = make_config("text2image")
    assert cfg.ddpm_beta_schedule == "scaled_linear" and cfg.caption_dropout == 0.1
    assert (cfg.resolution, cfg.channels) == (32, 3)


def test_the_docs_lines_run(built):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "docs/families/text2image.md").read_text()
    block = re.search(r"<!-- text2image-use -->\n```python\n(.*?)```", readme, re.S).group(1)
    out, _ = built
    namespace = {}
    exec(block.replace('"my-t2i"', repr(str(out))), namespace)  # as a reader would paste it, the call included
    assert type(namespace["pipe"].scheduler).__name__ == "DPMSolverMultistepScheduler"


def test_prompt_accuracy_counts_the_images_of_the_prompted_class():
    from types import SimpleNamespace

    from hf_genzoo.prompting import class_prompts, prompt_accuracy

    prompts, targets = class_prompts(["Sneaker", "Bag"], per_class=3)
    assert prompts[:3] == ["a photograph of a sneaker", "a small image of a sneaker", "a photograph of a sneaker"]
    assert targets.tolist() == [0, 0, 0, 1, 1, 1]
    says = SimpleNamespace(labels=torch.tensor([0, 1, 0, 1, 1, 0]))  # a stand-in classifier's verdicts
    assert prompt_accuracy(lambda images: says, torch.zeros(6, 3, 8, 8), targets) == pytest.approx(4 / 6)


def test_genzoo_evaluate_measures_prompt_accuracy_and_records_it_for_the_card(built, tiny_models, tmp_path):
    import shutil

    out = shutil.copytree(built[0], tmp_path / "t2i")
    clf, report = tiny_models["classifier"], tmp_path / "m.json"
    flags = f"--classifier {clf} --num_samples 20 --record --output {report}"
    cli.main(f"evaluate --model {out} --dataset digits {flags}".split())
    result = json.loads(report.read_text())
    for guidance in ("1", "2", "4", "7.5"):
        assert 0 <= result[f"prompt_accuracy_guidance_{guidance}"] <= 1
    assert result["nfe"] == 40 and result["FD_local"] > 0  # unconditional samples: 20 steps, guided twice each
    recorded = json.loads((out / "metrics.json").read_text())["metrics"]
    assert recorded["prompt_accuracy_guidance_4"] == result["prompt_accuracy_guidance_4"]
    assert "prompt_accuracy_guidance_4" in (out / "README.md").read_text()  # in the card's model-index and table


def test_genzoo_push_shares_it_with_a_text_to_image_card(built, hub):
    import re

    import yaml
    from huggingface_hub import hf_hub_download

    out, pipe = built
    cli.main(["push", str(out), "tester/t2i-digits"])
    stored = hub.stored_files("tester/t2i-digits")
    assert {"model_index.json", "unet/config.json", "vae/config.json", "tokenizer/tokenizer.json"} <= set(stored)
    card = open(hf_hub_download("tester/t2i-digits", "README.md")).read()
    metadata = yaml.safe_load(card.split("---")[1])
    assert metadata["pipeline_tag"] == "text-to-image" and "text-to-image" in metadata["tags"]
    remote = StableDiffusionPipeline.from_pretrained("tester/t2i-digits")  # diffusers alone, by repo id
    remote.set_progress_bar_config(disable=True)
    np.testing.assert_array_equal(_draw(remote), _draw(pipe))
    snippet = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    exec(snippet, {})  # the card's usage lines, as a reader would paste them
