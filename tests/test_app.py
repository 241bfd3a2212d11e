"""`genzoo app` in a real browser.

The suite trains a tiny model of every registered family (`hf_genzoo.app.zoo`), adds a model that cannot be loaded
and the trilemma benchmark's results, starts `genzoo app --models_dir` on a free port of 127.0.0.1, and drives
Debian's chromium headless through playwright (`hf_genzoo.app.browser`). In every family's tab it presses each panel's
button and checks that what appeared is the model's real output: the images decode, have the size the app shows them
at and equal what the pipeline computes in this process for the same seed; the denoised audio has the input's length
and rate; the 3-D view holds the sampled points, the same as the `.ply` download. Bad inputs give a readable error in
the page and the next request works. A screenshot of every tab goes to `tests/artifacts/app/` (or
`$GENZOO_ARTIFACTS/app`).
"""

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

gr = pytest.importorskip("gradio")
pytest.importorskip("playwright")
pytest.importorskip("plotly")

from hf_genzoo.app import browser, find_trilemma, load_models  # noqa: E402
from hf_genzoo.app import panels as P  # noqa: E402
from hf_genzoo.app.models import collect_models, discover_models, load_app_model, parse_model_specs  # noqa: E402
from hf_genzoo.app.zoo import train_one, train_tiny_zoo  # noqa: E402
from hf_genzoo.errors import MissingPackage, UserInputError  # noqa: E402
from hf_genzoo.registry import families  # noqa: E402

from .hub_server import pick_free_port  # noqa: E402

RESULTS = Path(__file__).parents[1] / "benchmarks" / "results"
# the package's own families (a test module may register one of its own, e.g. tests/test_adding_a_family.py)
OURS = sorted(name for name, f in families().items() if f.objective.__module__.startswith("hf_genzoo."))
ARTIFACTS = Path(os.environ.get("GENZOO_ARTIFACTS", Path(__file__).parent / "artifacts")) / "app"
needs_browser = pytest.mark.skipif(browser.chromium_path() is None, reason="no chromium: apt-get install chromium")


# --- without a browser ----------------------------------------------------------------------------------------------


def _saved(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "VAEPipeline"}')
    return folder


def test_models_are_named_by_spec_or_by_their_folder(tmp_path):
    assert parse_model_specs(["vae=runs/vae", "user/t2i", "x = a/b "]) == {
        "vae": "runs/vae",
        "t2i": "user/t2i",
        "x": "a/b",
    }
    with pytest.raises(UserInputError, match="two models are named 'vae'"):
        parse_model_specs(["vae=a", "vae=b"])
    with pytest.raises(UserInputError, match="NAME=FOLDER"):
        parse_model_specs(["=a"])
    _saved(tmp_path / "ddpm")
    _saved(tmp_path / "tri" / "gan")
    _saved(tmp_path / "t2i")
    _saved(tmp_path / "t2i" / "parts" / "clip")  # a part of the text-to-image model, not a model of its own
    _saved(tmp_path / "ddpm" / "checkpoint-100")
    _saved(tmp_path / ".hidden")
    assert discover_models(tmp_path) == {n: str(tmp_path / n) for n in ("ddpm", "t2i", "tri/gan")}
    assert collect_models(["gan=elsewhere"], tmp_path)["gan"] == "elsewhere"
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no saved pipeline under"):
        collect_models([], tmp_path / "empty")


def test_no_models_and_a_missing_folder_say_what_to_pass(tmp_path):
    with pytest.raises(UserInputError, match="pass --model NAME=FOLDER"):
        collect_models([], None)
    with pytest.raises(UserInputError, match="no such folder"):
        discover_models(tmp_path / "missing")
    model = load_app_model("gone", str(tmp_path / "gone"))  # kept, with its reason, not raised
    assert not model.ok and "no such folder" in model.error


def test_uploads_are_checked_before_they_are_decoded(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(UserInputError, match="notes.png is not an image file"):
        P.open_image(str(tmp_path / "notes.png"))
    with pytest.raises(UserInputError, match="no image: upload"):
        P.open_image(None)
    huge = tmp_path / "huge.png"
    PIL.Image.new("1", (10_000, 10_000)).save(huge)  # 10^8 pixels, a few kB on disk
    with pytest.raises(UserInputError, match="10,000 x 10,000 pixels; upload one of at most 4,096 x 4,096"):
        P.open_image(str(huge))
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(UserInputError, match=r"empty.wav is empty \(0 bytes\)"):
        P.read_audio(str(tmp_path / "empty.wav"))
    with pytest.raises(UserInputError, match="notes.png is not an audio file"):
        P.read_audio(str(tmp_path / "notes.png"))
    for bad in ("x", "1.5"):
        with pytest.raises(UserInputError, match="steps takes a whole number"):
            P._option_value("steps", families()["ddpm"].sample_options["steps"], bad)
    assert P._option_value("steps", families()["ddpm"].sample_options["steps"], " ") is None


def test_small_images_are_shown_enlarged_pixel_for_pixel():
    x = torch.rand(1, 8, 8)
    img = P.display(x)
    assert img.size == (128, 128)
    big = np.asarray(img)
    assert np.array_equal(big[::16, ::16], (x[0].numpy() * 255).round().astype(np.uint8))
    assert P.display(torch.rand(3, 200, 150)).size == (150, 200)  # large enough already: as it is


def test_every_family_has_panels_the_browser_driver_knows():
    for name in OURS:
        family = families()[name]
        assert family.panels, f"{name} has no panels in the app"
        for panel in family.panels:
            assert type(panel).__name__ in browser.DRIVERS, f"{name}: no driver for {type(panel).__name__}"


def test_genzoo_app_help_and_errors(capsys):
    from hf_genzoo import cli

    with pytest.raises(SystemExit):
        cli.main(["app", "--help"])
    assert "--models_dir" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="genzoo app: error: no models to show"):
        cli.main(["app"])


# --- in the browser -------------------------------------------------------------------------------------------------


ZOO_STEPS = 2  # optimizer steps of each zoo model but the GAN's


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A tiny model of every family, one that cannot be loaded, and the trilemma benchmark's results.

    The models are trained for ZOO_STEPS steps: every check here compares the page with the same model's own output,
    none asks for a good one. The GAN trains its tiny number of steps: after 10 its generator still draws one flat
    grey image, which the page checks would take for a blank one."""
    root = tmp_path_factory.mktemp("zoo")
    for name in OURS:
        try:
            train_tiny_zoo(root, [name], steps=None if name == "gan" else ZOO_STEPS, log=lambda *a: None)
        except MissingPackage:  # e.g. the embedded speech set without espeak-ng: that family's tests skip
            shutil.rmtree(root / name, ignore_errors=True)
    tiny = families()["mlp_autoencoder"].tiny  # a second model in one family's tab: a denoising autoencoder
    train_one(
        "mlp_autoencoder",
        root / "denoising",
        dataset="digits",
        model_config=tiny.model_config,
        max_steps=ZOO_STEPS,
        noise="gaussian:0.3",
    )
    broken = root / "broken"
    shutil.copytree(root / "vae", broken)
    for weights in broken.rglob("*.safetensors"):
        weights.write_bytes(b"this is not a safetensors file")
    for name in ("trilemma.md", "trilemma.png"):
        shutil.copy(RESULTS / name, root / name)
    return root


@pytest.fixture(scope="module")
def served(zoo):
    """`genzoo app --models_dir ZOO` on a free port: (url, seconds to the first page)."""
    port = pick_free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "-m", "hf_genzoo.cli", "app", "--models_dir", str(zoo), "--port", str(port)]
    log = open(zoo / "app.log", "w")  # noqa: SIM115 - open while the server runs
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        seconds = browser.wait_until_served(url, timeout=180, process=process)
        yield url, seconds
    finally:
        process.terminate()
        process.wait(30)
        log.close()


@pytest.fixture(scope="module")
def page(served):
    if browser.chromium_path() is None:
        pytest.skip("no chromium: apt-get install chromium")
    with browser.browser() as page:
        page.goto(served[0])
        page.wait_for_selector("button[role=tab]")
        yield page


@pytest.fixture(scope="module")
def models(zoo):
    """The zoo's models loaded here, by name (a family's own is named after it): the reference outputs are computed
    with them."""
    loaded = load_models(discover_models(zoo), log=lambda *a: None)
    return {m.name: m for m in loaded if m.ok}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, models):
    """Files to upload: two digits, a noisy speech clip, a point set; and the bad ones."""
    import soundfile as sf

    from hf_genzoo.data import load_data
    from hf_genzoo.data.point_files import write_ply

    tmp = tmp_path_factory.mktemp("inputs")
    digits = load_data("images", "digits", "test").images
    files = {}
    for key, i in (("image", 0), ("other_image", 5)):
        PIL.Image.fromarray(np.asarray(digits[i][0])).save(tmp / f"{key}.png")
        files[key] = tmp / f"{key}.png"
    rate = models["audio_denoiser"].pipe.denoiser.config.sampling_rate if "audio_denoiser" in models else 16_000
    t = np.arange(int(0.8 * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    sf.write(tmp / "noisy.wav", wave.astype(np.float32), rate, subtype="PCM_16")
    files["audio"] = tmp / "noisy.wav"
    points = load_data("point_sets", "shapes3d", "test", num_points=512).arrays["points"][0]
    files["points"] = write_ply(np.asarray(points), tmp / "set.ply")
    return files


def _array(img) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def _same_images(shown: list, expected) -> None:
    """The page's images are the app's `display` of the expected tensors `(B, C, H, W)`, to a level of 8 bits."""
    assert len(shown) == len(expected)
    for got, x in zip(shown, expected, strict=True):
        want = P.display(x).convert("RGB")
        assert got.size == want.size
        assert np.abs(_array(got) - _array(want)).max() <= 2
        assert _array(got).std() > 0, "a blank image"


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def _check(panel, model, out, inputs):
    """What appeared is the model's output for those inputs (computed here with the same pipeline and seed)."""
    pipe, family, kind = model.pipe, model.family, type(panel).__name__
    assert out["errors"] == [], out["errors"]
    if kind == "Samples":
        with torch.no_grad():
            samples = family.sample(pipe, panel.batch, _generator(0), **panel.defaults)
        _same_images(out["images"], family.to_images(samples) if family.to_images else samples)
        assert f"{panel.batch} samples in" in out["info"]
        if panel.views_3d:
            from hf_genzoo.data.point_files import read_ply

            assert len(out["points"]) == panel.views_3d
            files = {k: v for k, v in out["files"].items() if k.endswith(".ply")}
            assert len(files) == panel.batch
            for shown, (name, data), want in zip(out["points"], sorted(files.items()), samples, strict=False):
                path = Path(out.get("tmp", "/tmp")) / f"app-test-{name}"
                path.write_bytes(data)
                assert shown.shape == want.shape == (2048, 3)
                np.testing.assert_allclose(shown, want.numpy(), atol=1e-5)  # the view holds the sampled points
                np.testing.assert_allclose(read_ply(path), shown, atol=1e-6)  # and so does the download
                path.unlink()
    elif kind == "Reconstruction":
        x = clean = P.as_model_image(P.open_image(str(inputs["image"])), pipe)
        _same_images(out["seen"], x)
        if model.train_config.get("noise"):  # a denoising model: the corrupted input (seed 0) and what it makes of it
            from hf_genzoo.data import parse_corruption

            x = parse_corruption(model.train_config["noise"])(x, _generator(0))
            _same_images(out["noisy"], x)
        else:
            assert "noisy" not in out
        recon = pipe.reconstruct(x, output_type="pt").images
        _same_images(out["output"], recon)
        assert out["pca"][0].size[0] > 200 and _array(out["pca"][0]).std() > 0
        assert f"mean squared error {float(((recon - clean) ** 2).mean()):.4f}" in out["info"]  # against the clean one
    elif kind == "Interpolation":
        a, b = (P.as_model_image(P.open_image(str(inputs[k])), pipe) for k in ("image", "other_image"))
        za, zb = pipe.encode(a), pipe.encode(b)
        t = torch.linspace(0, 1, panel.frames).view(-1, *[1] * (za.ndim - 1))
        path = pipe.decode(torch.lerp(za, zb, t), output_type="pt").images
        _same_images(out["path"], path)
        _same_images(out["output"], pipe.decode(torch.lerp(za, zb, 0.5), output_type="pt").images)
    elif kind == "LatentWalk":
        assert len(out["images"]) == panel.frames
        ends = [pipe.prepare_latents(1, _generator(seed)) for seed in (1, 2)]  # the panel's default seeds
        for shown, z in zip(out["images"][:: panel.frames - 1], ends, strict=True):  # first and last frame
            _same_images([shown], pipe(latents=z, generator=_generator(1), output_type="pt").images)
    elif kind == "Likelihood":
        x = P.as_model_image(P.open_image(str(inputs["image"])), pipe)
        bpd = float(pipe.bits_per_dim(x, generator=_generator(0))[0])
        assert f"{bpd:.3f} bits per dimension" in out["info"]
    elif kind == "TextToImage":
        from hf_genzoo.samplers import use_sampler

        use_sampler(pipe, panel.defaults["scheduler"])
        pipe.set_progress_bar_config(disable=True)
        images = pipe(
            ["a photo of a shoe"] * panel.batch,
            guidance_scale=panel.defaults["guidance_scale"],
            num_inference_steps=panel.defaults["steps"],
            generator=_generator(0),
            output_type="pt",
        ).images
        _same_images(out["images"], images)
    elif kind == "AudioDenoise":
        import soundfile as sf

        ((name, data),) = out["audio"].items()
        got, rate = sf.read(io.BytesIO(data), dtype="float32")
        x, in_rate = sf.read(inputs["audio"], dtype="float32")
        assert rate == in_rate and got.shape == x.shape  # the input's rate and length
        np.testing.assert_allclose(got, pipe(x, in_rate).audio, atol=2 / 32767)
        assert len(out["spectrograms"]) == 1 and _array(out["spectrograms"][0]).std() > 0
    elif kind == "Classify":
        if panel.inputs == "points":
            x = P.read_points(str(inputs["points"]), 2048)
        else:
            x = P.as_model_image(P.open_image(str(inputs["image"])), pipe)
        probs = pipe(x).probs[0]
        names = pipe.classifier.config.class_names or [str(i) for i in range(len(probs))]
        top = names[int(probs.argmax())]
        assert out["info"].splitlines()[1].strip() == top, out["info"]  # the label's heading: the top class
    elif kind == "TextImageMatch":
        sims = pipe([P.open_image(str(inputs["image"]))] * 2, ["a photo of a shoe", "a photo of a shirt"]).similarity
        best = ["a photo of a shoe", "a photo of a shirt"][int(sims.argmax())]
        assert out["info"].splitlines()[1].strip() == best, out["info"]
    else:
        raise AssertionError(f"no check for {kind}")


@needs_browser
@pytest.mark.parametrize("name", [*OURS, "denoising"])
def test_each_family_tab_shows_its_models_real_output(page, models, inputs, name):
    if name not in models:
        pytest.skip(f"{name} could not be trained here (a system package is missing)")
    model = models[name]
    browser.open_model(page, model)
    for panel in model.family.panels:
        out = browser.exercise(page, model, panel, inputs)
        _check(panel, model, out, inputs)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@needs_browser
def test_long_sampling_shows_its_progress_in_the_page(page, models):
    model = next(
        m for m in models.values() if "scheduler" in m.family.sample_options and m.family.data_kind == "images"
    )
    browser.open_model(page, model)
    option = f"#{model.slug}-option-"
    page.locator(f"{option}scheduler input").click()
    page.locator("ul[role=listbox] li:text-is('ddpm')").click()
    page.locator(f"{option}steps input").fill("300")  # long enough to watch, short enough for CI
    before = browser.text(page, f"{model.slug}-sample-info")
    page.locator(f"#{model.slug}-sample").click()
    tracker, seen = page.locator(f"#{model.slug}-samples [data-testid=status-tracker]"), []
    for _ in range(200):
        found = re.search(r"(\d+)/300 steps", tracker.inner_text())
        if found:
            seen.append(int(found.group(1)))
        if browser.text(page, f"{model.slug}-sample-info") != before:
            break
        page.wait_for_timeout(100)
    assert seen and 0 < max(seen) < 300 and seen == sorted(seen), seen  # the denoising steps, counting up
    info = f"#{model.slug}-sample-info [data-testid=markdown]"
    page.wait_for_function(f"() => document.querySelector('{info}').innerText !== {before!r}", timeout=120_000)
    page.locator(f"{option}scheduler input").click()
    page.locator("ul[role=listbox] li:text-is('dpmsolver++')").click()
    page.locator(f"{option}steps input").fill("20")


def test_a_hub_repo_id_is_loaded_with_its_training_config(hub, models):
    from hf_genzoo.hub.push import push_to_hub

    push_to_hub(models["vae"].source, "tester/app-vae")
    model = load_app_model("from-hub", "tester/app-vae")
    assert model.ok and model.family.name == "vae" and model.train_config["dataset"] == "digits"
    x = model.pipe(batch_size=2, generator=_generator(3), output_type="pt").images
    torch.testing.assert_close(x, models["vae"].pipe(batch_size=2, generator=_generator(3), output_type="pt").images)


@needs_browser
def test_bad_inputs_give_a_readable_error_and_the_next_request_works(page, models, inputs, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("a text file, called .png")
    huge = tmp_path / "huge.png"
    PIL.Image.new("L", (10_000, 10_000), 128).save(huge)
    empty = tmp_path / "silence.wav"
    empty.write_bytes(b"")
    image_model = models["conv_autoencoder"]
    slug = image_model.slug
    browser.open_model(page, image_model)
    for bad, message in ((fake, "notes.png is not an image file"), (huge, "10,000 x 10,000 pixels")):
        browser.upload(page, f"{slug}-ae-input", bad)
        browser.press(page, f"{slug}-reconstruct", f"{slug}-ae-info")
        assert any(message in e for e in browser.errors(page)), browser.errors(page)
        browser.dismiss_errors(page)
        out = browser.exercise(page, image_model, image_model.family.panels[0], inputs)  # a good image: it works
        assert out["errors"] == [] and "mean squared error" in out["info"]

    t2i = next(m for m in models.values() if any(isinstance(p, P.TextToImage) for p in m.family.panels))
    browser.open_model(page, t2i)
    long = browser.exercise(page, t2i, t2i.family.panels[0], {"prompt": "shoe " * 1000})
    assert any("the prompt is 5,000 characters long" in e for e in long["errors"]), long["errors"]
    browser.dismiss_errors(page)
    out = browser.exercise(page, t2i, t2i.family.panels[0], {"prompt": "a photo of a shoe"})
    assert out["errors"] == [] and "per image" in out["info"]

    audio = next((m for m in models.values() if any(isinstance(p, P.AudioDenoise) for p in m.family.panels)), None)
    if audio is None:
        pytest.skip("no audio model (the embedded speech set needs espeak-ng)")
    browser.open_model(page, audio)
    browser.upload(page, f"{audio.slug}-noisy", empty)
    browser.press(page, f"{audio.slug}-denoise", f"{audio.slug}-denoise-info")
    shown = browser.errors(page)
    assert any("silence.wav is empty (0 bytes): upload a wav, flac or ogg file" in e for e in shown), shown
    browser.dismiss_errors(page)
    out = browser.exercise(page, audio, audio.family.panels[0], inputs)
    assert out["errors"] == [] and " s at " in out["info"]


@needs_browser
def test_a_model_that_cannot_be_loaded_says_why_in_its_tab_beside_the_others(page, models):
    browser.open_tab(page, "vae")
    page.locator("#tab-broken-button").click()
    why = browser.text(page, "broken-error")
    assert "could not be loaded" in why and "broken" in why
    browser.open_model(page, models["vae"])  # the family's other model works
    out = browser.exercise(page, models["vae"], models["vae"].family.panels[0], {})
    assert out["errors"] == [] and len(out["images"]) == models["vae"].family.panels[0].batch


@needs_browser
def test_the_compare_tab_shows_the_trilemma_table_and_plot(page, zoo):
    found = find_trilemma(zoo)
    assert set(found) == {"md", "png"}
    browser.open_tab(page, "Compare")
    table = browser.text(page, "trilemma")
    for row in re.findall(r"^\| ([^|]+?) \|", (zoo / "trilemma.md").read_text(), re.M)[2:]:
        assert row.replace("**", "") in table
    (plot,) = browser.images(page, "trilemma-plot")
    assert plot.size == PIL.Image.open(zoo / "trilemma.png").size
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)


def test_the_first_page_is_served(served):
    url, seconds = served
    assert seconds < 180
    import urllib.request

    with urllib.request.urlopen(url) as r:
        assert "hf_genzoo" in r.read().decode()
