"""The panels of `genzoo app`: the building blocks of a model's tab.

A family's record lists its panels (`Family.app`, e.g. `(Samples(), Interpolation())` for the VAE); `genzoo app`
gives each loaded model a tab and builds its family's panels in it, so the app itself names no family. A panel is a
small frozen dataclass with a `build(model)` that lays out Gradio components inside the current tab and wires their
events; gradio is imported there, not when the family registry is.

Every event handler is wrapped by `user_errors`: what the user gave wrong (no image, a text file called `.png`, a
10,000 x 10,000 picture, a 0-byte wav, a 5,000-character prompt) becomes a `gradio.Error` whose message the page shows,
and the app goes on serving. Every random output has a seed control; long work reports progress; each result says how
long it took.
"""

import contextlib
import functools
import math
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import load_data, parse_corruption
from ..data.audio_noise import DEFAULT_NOISE, parse_noise_mix
from ..data.point_files import read_point_file
from ..errors import UserInputError
from ..family import image_data_options
from ..pipelines.image_io import to_model_input
from ..samplers import SAMPLERS, use_sampler
from ..sound import INT16_SCALE
from ..viz import image_grid, spectrogram_images

MAX_IMAGE_PIXELS = 4096 * 4096  # an upload above this is refused before it is decoded
MAX_BATCH = 32  # samples per request: the app runs on a CPU
MAX_PROMPT_CHARS = 1000
MAX_AUDIO_SECONDS = 120.0
GALLERY_HEIGHT = 260  # pixels: a row of thumbnails and the label (more rows scroll); "auto" keeps a tall empty box
DISPLAY_SIDE = 128  # small images are shown enlarged (nearest neighbour, by a whole factor) to at least this side
EXAMPLES = 8  # test images offered as examples under an image input


# --- errors ---------------------------------------------------------------------------------------------------------


def user_errors(fn):
    """Run an event handler; a `UserInputError` (and the errors of reading a file) becomes a `gradio.Error` with its
    message, anything else a `gradio.Error` naming the exception (its traceback goes to the server's log)."""
    import gradio as gr

    @functools.wraps(fn)
    def handler(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (UserInputError, OSError) as err:
            raise gr.Error(str(err), print_exception=False) from None
        except Exception as err:  # noqa: BLE001 - the page says what happened; the app keeps serving
            traceback.print_exc()
            raise gr.Error(f"{type(err).__name__}: {err}", print_exception=False) from None

    return handler


def image_input(**kwargs):
    """A `gradio.Image` upload (a file path) whose unreadable files are refused with a readable message instead of
    PIL's, before any handler runs. (Its `preprocess` is wrapped on the instance: a subclass of a gradio component
    would make gradio write a `.pyi` stub beside this file.)"""
    import gradio as gr

    component = gr.Image(type="filepath", sources=["upload", "clipboard"], **kwargs)
    preprocess = component.preprocess

    def checked(payload):
        try:
            return preprocess(payload)
        except Exception:  # noqa: BLE001 - PIL's errors name a cache path, not the user's file
            name = getattr(payload, "orig_name", None) or "the upload"
            raise gr.Error(f"{name} is not an image file (PNG, JPEG, WebP, ...): it could not be read") from None

    component.preprocess = checked
    return component


# --- inputs ---------------------------------------------------------------------------------------------------------


def open_image(path: str | None, what: str = "an image"):
    """The uploaded image at `path` (PIL, decoded), refused with a readable message when missing, unreadable or larger
    than `MAX_IMAGE_PIXELS` (its size is read from the header first: a huge image is never decoded)."""
    import PIL.Image

    if not path:
        raise UserInputError(f"no image: upload {what} or pick an example")
    try:
        with PIL.Image.open(path) as probe:
            w, h = probe.size
    except (PIL.UnidentifiedImageError, OSError):
        raise UserInputError(f"{Path(path).name} is not an image file (PNG, JPEG, WebP, ...)") from None
    if w * h > MAX_IMAGE_PIXELS:
        side = math.isqrt(MAX_IMAGE_PIXELS)
        raise UserInputError(f"the image is {w:,} x {h:,} pixels; upload one of at most {side:,} x {side:,}")
    img = PIL.Image.open(path)
    img.load()  # its mode kept: `as_model_image` reads it as training does (`hf_genzoo.imaging.to_8bit`)
    return img


def model_image_size(pipe) -> tuple[int, int]:
    """(channels, side) of the images a pipeline's first image model takes."""
    options = image_data_options(pipe)
    return options["channels"], options["resolution"]


def as_model_image(img, pipe):
    """An uploaded PIL image as the model sees it, `(1, C, H, W)` in [0, 1]: the pipelines' own input rule
    (`to_model_input`: its channels, the centred square resized to its side)."""
    channels, side = model_image_size(pipe)
    return to_model_input(img, channels, side, "cpu")


def display(x, side: int = DISPLAY_SIDE):
    """An image tensor `(C, H, W)` in [0, 1] as a PIL image, enlarged by a whole factor (nearest neighbour) so that
    its short side is at least `side` pixels: an 8 x 8 digit is shown 16 times larger, pixel for pixel."""
    import PIL.Image

    x = x.detach().float().clamp(0, 1).cpu()
    arr = (x.numpy() * 255).round().astype(np.uint8)
    img = PIL.Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))
    factor = max(1, math.ceil(side / min(img.size)))
    return img.resize((img.width * factor, img.height * factor), PIL.Image.NEAREST) if factor > 1 else img


def seed_box(value: int = 0):
    import gradio as gr

    return gr.Number(value=value, precision=0, label="seed", info="the same seed gives the same result")


def generator(seed) -> "object":
    import torch

    if seed is None or (isinstance(seed, float) and math.isnan(seed)):
        raise UserInputError("give a seed (a whole number)")
    return torch.Generator().manual_seed(int(seed))


def batch_count(n, most: int = MAX_BATCH) -> int:
    if n is None or int(n) < 1 or int(n) > most:
        raise UserInputError(f"ask for 1 to {most} samples (the app runs on a CPU), got {n}")
    return int(n)


def timing(n: int, seconds: float, what: str = "sample") -> str:
    plural = what if n == 1 else f"{what}s"
    return f"{n} {plural} in {_duration(seconds)} ({_duration(seconds / max(n, 1))} per {what})"


def _duration(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


@contextlib.contextmanager
def progress_bars_on(pipe):
    """Keep a diffusers pipeline's tqdm bar on while a family's `sample` runs (it turns it off for batch work), so
    that `gradio.Progress(track_tqdm=True)` shows the denoising steps in the page."""
    if not hasattr(pipe, "set_progress_bar_config"):
        yield
        return
    pipe.set_progress_bar_config(disable=False, leave=False)
    own = pipe.set_progress_bar_config
    pipe.set_progress_bar_config = lambda **kwargs: None  # an instance attribute hides the method meanwhile
    try:
        yield
    finally:
        del pipe.set_progress_bar_config
        own(disable=True)


# --- test examples --------------------------------------------------------------------------------------------------


_EXAMPLES_DIR: list[Path] = []


def examples_folder() -> Path:
    """One temporary folder per app process for the example files it writes (served by gradio from the temp dir)."""
    if not _EXAMPLES_DIR:
        _EXAMPLES_DIR.append(Path(tempfile.mkdtemp(prefix="genzoo-app-")))
    return _EXAMPLES_DIR[0]


def test_data(model):
    """The test split of the dataset the model was trained on (`train_config.json`, else its family's recipe), as its
    family's data kind at its size; `None` when it cannot be had here (a Hub dataset offline, say)."""
    if "test_data" in model.cache:
        return model.cache["test_data"]
    family = model.family
    dataset = model.train_config.get("dataset") or family.objective.recipe.get("dataset", "digits")
    try:
        data = load_data(family.data_kind, dataset, "test", **family.data_options(model.pipe))
    except Exception as err:  # noqa: BLE001 - the panel still takes uploads
        print(f"genzoo app: {model.name}: no test examples ({type(err).__name__}: {err})")
        data = None
    model.cache["test_data"] = data
    return data


def image_examples(model, n: int = EXAMPLES) -> list[str]:
    """PNG files of the first `n` test images of the model's dataset (for `gradio.Examples`), `[]` without data."""
    data = test_data(model)
    if data is None or "pixel_values" not in data.arrays:
        return []
    import PIL.Image

    folder = examples_folder() / model.name.replace("/", "-")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(min(n, len(data))):
        arr = np.asarray(data.images[i])  # (C, H, W) uint8
        img = PIL.Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))
        path = folder / f"test_{i}.png"
        img.save(path)
        paths.append(str(path))
    return paths


# --- panels ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """A part of a model's tab; subclasses lay it out in `build(model)` (inside the tab's context)."""

    title: str = ""

    def build(self, model) -> None:  # pragma: no cover - every panel overrides it
        raise NotImplementedError


def _option_component(name: str, option, default, elem_id: str, slider: tuple | None = None):
    """The input of one of a family's sample options (`Family.sample_options`): a slider over `slider` (low, high,
    step), a menu of its choices, or a text box (left empty: the family's default)."""
    import gradio as gr

    if slider is not None:
        low, high, step = slider
        value = low if default is None else default
        return gr.Slider(low, high, value=value, step=step, label=name, info=option.help, elem_id=elem_id)
    if option.choices:
        choices = [("as saved", "")] + [(c, c) for c in option.choices]
        return gr.Dropdown(choices, value=default or "", label=name, info=option.help, elem_id=elem_id)
    value = "" if default is None else str(default)
    return gr.Textbox(value=value, placeholder="default", label=name, info=option.help, max_lines=1, elem_id=elem_id)


def _option_value(name: str, option, value):
    """A component's value as the family's `sample` takes it: empty means the default (`None`)."""
    if value is None or str(value).strip() == "":
        return None
    try:
        return option.type(str(value).strip())
    except ValueError:
        raise UserInputError(
            f"{name} takes {'a whole number' if option.type is int else 'a number'}, got {value!r}"
        ) from None


@dataclass(frozen=True)
class Samples(Panel):
    """Samples from the model: how many, a seed and the family's own sample options (scheduler and steps, temperature,
    class, ...), with progress, the time per sample and, for a family that exports files (point sets), those files
    to download and the first sets as rotatable 3-D views.

    Args:
        defaults (`dict`): the app's values for sample options (a fast sampler and few steps on a CPU).
        batch (`int`): how many samples a request asks for by default.
        exclude (`tuple`): sample options another panel offers instead.
        sliders (`dict`): sample options given with a slider, name -> (low, high, step).
        views_3d (`int`): how many of the samples are drawn as interactive 3-D point views (point sets `(B, N, 3)`).
    """

    title: str = "Samples"
    defaults: dict = field(default_factory=dict)
    batch: int = 8
    exclude: tuple = ()
    sliders: dict = field(default_factory=dict)
    views_3d: int = 0

    def build(self, model) -> None:
        import gradio as gr

        family, pipe = model.family, model.pipe
        options = {k: v for k, v in family.sample_options.items() if k not in self.exclude}
        with gr.Row():
            with gr.Column(scale=1):
                count = gr.Number(value=self.batch, precision=0, label="samples", minimum=1, maximum=MAX_BATCH)
                seed = seed_box()
                inputs = [
                    _option_component(k, o, self.defaults.get(k), f"{model.slug}-option-{k}", self.sliders.get(k))
                    for k, o in options.items()
                ]
                button = gr.Button("Sample", variant="primary", elem_id=f"{model.slug}-sample")
            with gr.Column(scale=3):
                gallery = gr.Gallery(
                    format="png", label="samples", columns=8, height=GALLERY_HEIGHT, elem_id=f"{model.slug}-samples"
                )
                info = gr.Markdown(elem_id=f"{model.slug}-sample-info")
                outputs = [gallery, info]
                if self.views_3d:
                    plot = gr.Plot(label="3-D view (drag to turn)", elem_id=f"{model.slug}-view3d")
                    outputs.append(plot)
                if family.export is not None:
                    files = gr.File(label="download", file_count="multiple", elem_id=f"{model.slug}-files")
                    outputs.append(files)

        @user_errors
        def run(values: dict, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 - gradio's idiom
            # a set of inputs comes as one {component: value} dict (the options vary by family)
            n, g = batch_count(values[count]), generator(values[seed])
            given = {k: _option_value(k, o, values[c]) for (k, o), c in zip(options.items(), inputs, strict=True)}
            given = {k: v for k, v in given.items() if v is not None}
            with model.lock, progress_bars_on(pipe):
                start = time.perf_counter()
                samples = family.sample(pipe, n, g, **given)
                seconds = time.perf_counter() - start
            images = family.to_images(samples) if family.to_images else samples
            result = [[display(x) for x in images], timing(n, seconds)]
            if self.views_3d:
                result.append(point_views(samples[: self.views_3d]))
            if family.export is not None:
                folder = Path(tempfile.mkdtemp(dir=examples_folder()))
                result.append([str(p) for p in family.export(samples, folder / "samples.png")])
            return result

        button.click(run, {count, seed, *inputs}, outputs, concurrency_id=model.slug)


def point_views(points):
    """Point sets `(B, N, 3)` as one plotly figure of B 3-D scatter plots side by side (turned with the mouse)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    pts = np.asarray(points.float().cpu() if hasattr(points, "cpu") else points, dtype=np.float32)
    b = len(pts)
    fig = make_subplots(
        rows=1, cols=b, specs=[[{"type": "scene"}] * b], subplot_titles=[f"sample {i}" for i in range(b)]
    )
    for i, cloud in enumerate(pts):
        x, y, z = cloud.T
        marker = {"size": 1.6, "color": z, "colorscale": "Viridis", "cmin": -1, "cmax": 1}
        fig.add_trace(go.Scatter3d(x=x, y=y, z=z, mode="markers", marker=marker, name=f"sample {i}"), 1, i + 1)
    axis = {"range": [-1, 1], "showticklabels": False, "title": ""}
    fig.update_scenes(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube")
    fig.update_layout(height=380, margin={"l": 0, "r": 0, "t": 30, "b": 0}, showlegend=False)
    return fig


@dataclass(frozen=True)
class Reconstruction(Panel):
    """An image (a test image or an upload) through the autoencoder: its reconstruction, for a denoising model also
    the corrupted input and what the model makes of it, and where its code lies on the PCA map of test codes.

    Args:
        pca_points (`int`): how many test images the PCA map is fitted on (computed once, on first use).
    """

    title: str = "Reconstruction"
    pca_points: int = 1000

    def build(self, model) -> None:
        import gradio as gr

        pipe, noise = model.pipe, model.train_config.get("noise")
        corruption = parse_corruption(noise) if noise else None
        with gr.Row():
            with gr.Column():
                image = image_input(label="image (a test image below, or your own)", elem_id=f"{model.slug}-ae-input")
                seed = seed_box() if corruption else None
                button = gr.Button("Reconstruct", variant="primary", elem_id=f"{model.slug}-reconstruct")
            outputs = [gr.Image(format="png", label="as the model sees it", elem_id=f"{model.slug}-ae-seen")]
            if corruption:
                outputs.append(gr.Image(format="png", label=f"corrupted ({noise})", elem_id=f"{model.slug}-ae-noisy"))
            outputs.append(
                gr.Image(
                    format="png",
                    label="denoised" if corruption else "reconstruction",
                    elem_id=f"{model.slug}-ae-output",
                )
            )
            outputs.append(gr.Image(format="png", label="its code on the PCA map", elem_id=f"{model.slug}-ae-pca"))
        info = gr.Markdown(elem_id=f"{model.slug}-ae-info")
        examples = image_examples(model)
        if examples:
            gr.Examples(examples, inputs=image, label="test images")
        pca = PCAMap(model, self.pca_points)

        @user_errors
        def run(path, seed_value=None):
            x = clean = as_model_image(open_image(path), pipe)
            shown = [display(x[0])]
            with model.lock:
                start = time.perf_counter()
                if corruption:
                    x = corruption(x, generator(seed_value))
                    shown.append(display(x[0]))
                out = pipe.reconstruct(x, output_type="pt").images.cpu()
                code = pipe.encode(x).float().cpu().numpy()
                seconds = time.perf_counter() - start
            error = float(((out - clean) ** 2).mean())  # against the clean image, for a denoising model too
            text = f"code of {code[0].size} numbers; mean squared error {error:.4f}; {seconds * 1000:.0f} ms"
            return [*shown, display(out[0]), pca.picture(code), text]

        button.click(run, [image] + ([seed] if seed else []), [*outputs, info], concurrency_id=model.slug)


class PCAMap:
    """The 2-D PCA of the codes of a model's test images, fitted on first use; draws a code on it."""

    def __init__(self, model, n: int):
        self.model, self.n, self._fit, self._lock = model, n, None, threading.Lock()

    def fit(self):
        with self._lock:
            if self._fit is None:
                import torch

                data = test_data(self.model)
                if data is None:
                    return None
                images = torch.from_numpy(np.asarray(data.images[: self.n]).copy()).float() / 255
                with self.model.lock:
                    codes = self.model.pipe.encode(images).float().cpu().numpy().reshape(len(images), -1)
                mean = codes.mean(0)
                _, s, vt = np.linalg.svd(codes - mean, full_matrices=False)
                ratio = s[:2] ** 2 / (s**2).sum()
                labels = None if data.labels is None else np.asarray(data.labels[: self.n])
                self._fit = (mean, vt[:2], (codes - mean) @ vt[:2].T, labels, data.label_names, ratio)
        return self._fit

    def picture(self, code: np.ndarray):
        """The map with the test codes (coloured by label) and `code` as a star; `None` without test data."""
        fit = self.fit()
        if fit is None:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import PIL.Image

        mean, components, xy, labels, names, ratio = fit
        point = (code.reshape(len(code), -1) - mean) @ components.T
        fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
        ax.scatter(xy[:, 0], xy[:, 1], s=5, c=labels if labels is not None else "grey", cmap="tab10", alpha=0.5)
        ax.scatter(point[:, 0], point[:, 1], s=260, marker="*", c="red", edgecolors="black", label="this image")
        ax.set_xlabel(f"PC1 ({ratio[0]:.0%})")
        ax.set_ylabel(f"PC2 ({ratio[1]:.0%})" if len(ratio) > 1 else "")
        ax.set_title(f"{len(xy)} test codes", fontsize=10)
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        fig.canvas.draw()
        img = PIL.Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        plt.close(fig)
        return img


@dataclass(frozen=True)
class Interpolation(Panel):
    """Two images (test images or uploads) encoded, and the decoding of the point a slider picks on the straight line
    between their codes, with the whole path of `frames` decodings beside it."""

    title: str = "Interpolation"
    frames: int = 8

    def build(self, model) -> None:
        import gradio as gr

        pipe = model.pipe
        with gr.Row():
            first = image_input(label="first image", elem_id=f"{model.slug}-interp-a")
            second = image_input(label="second image", elem_id=f"{model.slug}-interp-b")
            with gr.Column():
                t = gr.Slider(0, 1, value=0.5, step=0.05, label="position between them (0: first, 1: second)")
                button = gr.Button("Interpolate", variant="primary", elem_id=f"{model.slug}-interpolate")
                middle = gr.Image(format="png", label="decoded at the slider", elem_id=f"{model.slug}-interp-output")
        path_view = gr.Gallery(
            format="png",
            label="the path",
            columns=self.frames,
            height=GALLERY_HEIGHT,
            elem_id=f"{model.slug}-interp-path",
        )
        examples = image_examples(model)
        if len(examples) >= 2:
            gr.Examples([[examples[i], examples[i + 1]] for i in range(0, len(examples) - 1, 2)], [first, second])

        @user_errors
        def run(path_a, path_b, position):
            import torch

            a = as_model_image(open_image(path_a, "a first image"), pipe)
            b = as_model_image(open_image(path_b, "a second image"), pipe)
            with model.lock:
                za, zb = pipe.encode(a), pipe.encode(b)
                ts = torch.tensor([float(position), *np.linspace(0, 1, self.frames)], dtype=za.dtype)
                z = torch.lerp(za, zb, ts.view(-1, *[1] * (za.ndim - 1)).to(za.device))
                images = pipe.decode(z, output_type="pt").images.cpu()
            return display(images[0]), [display(x) for x in images[1:]]

        button.click(run, [first, second, t], [middle, path_view], concurrency_id=model.slug)
        t.release(run, [first, second, t], [middle, path_view], concurrency_id=model.slug)


@dataclass(frozen=True)
class LatentWalk(Panel):
    """A walk between the latents of two seeds (spherical interpolation), each frame drawn with the same other noise
    (seeded by the first seed), so that only the latent moves."""

    title: str = "Latent walk"
    frames: int = 8

    def build(self, model) -> None:
        import gradio as gr

        pipe, family = model.pipe, model.family
        with gr.Row():
            with gr.Column(scale=1):
                seed_a = gr.Number(value=1, precision=0, label="seed of the start")
                seed_b = gr.Number(value=2, precision=0, label="seed of the end")
                frames = gr.Slider(2, 16, value=self.frames, step=1, label="frames")
                button = gr.Button("Walk", variant="primary", elem_id=f"{model.slug}-walk")
            with gr.Column(scale=3):
                walk = gr.Gallery(
                    format="png",
                    label="walk",
                    columns=self.frames,
                    height=GALLERY_HEIGHT,
                    elem_id=f"{model.slug}-walk-frames",
                )
                info = gr.Markdown(elem_id=f"{model.slug}-walk-info")

        @user_errors
        def run(a, b, k, progress=gr.Progress()):  # noqa: B008
            import torch

            from ..pipelines.gan import slerp  # White 2016, as the GAN pipeline's own latent walk

            k = int(k)
            with model.lock:
                start = time.perf_counter()
                za, zb = pipe.prepare_latents(1, generator(a)), pipe.prepare_latents(1, generator(b))
                path = slerp(torch.linspace(0, 1, k), za.flatten().double(), zb.flatten().double())  # (k, D)
                images = []
                for i, z in enumerate(path.to(za.dtype).view(k, *za.shape[1:])):
                    progress(i / k, desc="frames")
                    images.append(pipe(latents=z[None], generator=generator(a), output_type="pt").images[0].cpu())
                seconds = time.perf_counter() - start
            return [display(x) for x in images], timing(k, seconds, "frame") + f"; NFE {family.nfe_for(pipe)} each"

        button.click(run, [seed_a, seed_b, frames], [walk, info], concurrency_id=model.slug)


@dataclass(frozen=True)
class Likelihood(Panel):
    """Bits per dimension of an image (a test image or an upload) under the model: its exact likelihood (a flow)."""

    title: str = "Likelihood"

    def build(self, model) -> None:
        import gradio as gr

        pipe = model.pipe
        with gr.Row():
            image = image_input(label="image", elem_id=f"{model.slug}-bpd-input")
            with gr.Column():
                seed = gr.Number(value=0, precision=0, label="seed of the dequantization noise")
                button = gr.Button("Bits per dimension", variant="primary", elem_id=f"{model.slug}-bpd")
                seen = gr.Image(format="png", label="as the model sees it", elem_id=f"{model.slug}-bpd-seen")
                result = gr.Markdown(elem_id=f"{model.slug}-bpd-result")
        examples = image_examples(model)
        if examples:
            gr.Examples(examples, inputs=image, label="test images")

        @user_errors
        def run(path, seed_value):
            x = as_model_image(open_image(path), pipe)
            with model.lock:
                bpd = float(pipe.bits_per_dim(x, generator=generator(seed_value))[0])
            c, side = model_image_size(pipe)
            return display(x[0]), f"**{bpd:.3f} bits per dimension** ({c} x {side} x {side} = {c * side * side} dims)"

        button.click(run, [image, seed], [seen, result], concurrency_id=model.slug)


@dataclass(frozen=True)
class TextToImage(Panel):
    """A prompt (and a negative prompt) to images: guidance, steps, sampler and seed; the time per image."""

    title: str = "Text to image"
    defaults: dict = field(default_factory=lambda: {"scheduler": "dpmsolver++", "steps": 20, "guidance_scale": 4.0})
    batch: int = 4

    def build(self, model) -> None:
        import gradio as gr

        pipe = model.pipe
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="prompt", value="a photo of a shoe", lines=2, elem_id=f"{model.slug}-prompt")
                negative = gr.Textbox(label="negative prompt", value="", elem_id=f"{model.slug}-negative")
                with gr.Row():
                    guidance = gr.Number(value=self.defaults["guidance_scale"], label="guidance scale")
                    steps = gr.Number(value=self.defaults["steps"], precision=0, label="steps", minimum=1, maximum=200)
                with gr.Row():
                    scheduler = gr.Dropdown(list(SAMPLERS), value=self.defaults["scheduler"], label="sampler")
                    count = gr.Number(value=self.batch, precision=0, label="images", minimum=1, maximum=MAX_BATCH)
                    seed = seed_box()
                button = gr.Button("Generate", variant="primary", elem_id=f"{model.slug}-generate")
            with gr.Column(scale=3):
                gallery = gr.Gallery(
                    format="png", label="images", columns=4, height=GALLERY_HEIGHT, elem_id=f"{model.slug}-t2i-images"
                )
                info = gr.Markdown(elem_id=f"{model.slug}-t2i-info")

        @user_errors
        def run(text, negative_text, scale, k, sampler, n, seed_value, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
            check_prompt(pipe, text, "prompt")
            check_prompt(pipe, negative_text, "negative prompt")
            n, g = batch_count(n), generator(seed_value)
            if k is None or not 1 <= int(k) <= 200:
                raise UserInputError(f"steps must be 1 to 200, got {k}")
            with model.lock:
                use_sampler(pipe, sampler)
                pipe.set_progress_bar_config(disable=False, leave=False)
                start = time.perf_counter()
                out = pipe(
                    [text] * n,
                    negative_prompt=[negative_text] * n if negative_text else None,
                    guidance_scale=float(scale),
                    num_inference_steps=int(k),
                    generator=g,
                    output_type="pt",
                ).images.cpu()
                seconds = time.perf_counter() - start
            return [display(x) for x in out], timing(n, seconds, "image") + f" ({sampler}, {int(k)} steps)"

        inputs = [prompt, negative, guidance, steps, scheduler, count, seed]
        button.click(run, inputs, [gallery, info], concurrency_id=model.slug)


def check_prompt(pipe, text: str, what: str) -> None:
    """Refuse a prompt the text encoder cannot read whole (the pipeline would cut it silently)."""
    if text is None:
        raise UserInputError(f"no {what}")
    if len(text) > MAX_PROMPT_CHARS:
        raise UserInputError(
            f"the {what} is {len(text):,} characters long; write at most {MAX_PROMPT_CHARS:,} (the text encoder reads "
            f"{pipe.tokenizer.model_max_length} tokens)"
        )
    tokens = len(pipe.tokenizer(text).input_ids)
    if tokens > pipe.tokenizer.model_max_length:
        raise UserInputError(
            f"the {what} is {tokens} tokens long; the text encoder reads {pipe.tokenizer.model_max_length}: shorten it"
        )


@dataclass(frozen=True)
class AudioDenoise(Panel):
    """A noisy clip (uploaded or recorded) -> the denoised clip, both playable, with their spectrograms."""

    title: str = "Denoise"

    def build(self, model) -> None:
        import gradio as gr

        pipe = model.pipe
        with gr.Row():
            with gr.Column():
                noisy = gr.Audio(
                    sources=["upload", "microphone"], type="filepath", label="noisy clip", elem_id=f"{model.slug}-noisy"
                )
                button = gr.Button("Denoise", variant="primary", elem_id=f"{model.slug}-denoise")
            with gr.Column():
                clean = gr.Audio(type="filepath", label="denoised", elem_id=f"{model.slug}-denoised")
                info = gr.Markdown(elem_id=f"{model.slug}-denoise-info")
        spectrograms = gr.Image(
            format="png", label="spectrograms: noisy (top), denoised", elem_id=f"{model.slug}-spectrograms"
        )
        examples = audio_examples(model)
        if examples:
            gr.Examples(examples, inputs=noisy, label="held-out noisy clips")

        @user_errors
        def run(path):
            import soundfile as sf

            x, rate = read_audio(path)
            with model.lock:
                start = time.perf_counter()
                y = pipe(x, rate).audio  # (T,) or (T, C), the input's layout
                seconds = time.perf_counter() - start
            out = Path(tempfile.mkdtemp(dir=examples_folder())) / "denoised.wav"
            sf.write(out, y, rate, subtype="PCM_16")
            return str(out), spectrogram_picture(x, y, rate), f"{len(x) / rate:.2f} s at {rate} Hz in {seconds:.2f} s"

        button.click(run, [noisy], [clean, spectrograms, info], concurrency_id=model.slug)


def read_audio(path: str | None) -> tuple[np.ndarray, int]:
    """An uploaded or recorded clip as float32 `(T,)` or `(T, C)` and its rate, refused with a readable message when
    missing, empty, unreadable or longer than `MAX_AUDIO_SECONDS`."""
    import soundfile as sf

    if not path:
        raise UserInputError("no audio: upload a clip, record one, or pick an example")
    name = Path(path).name
    if Path(path).stat().st_size == 0:
        raise UserInputError(f"{name} is empty (0 bytes): upload a wav, flac or ogg file")
    try:
        info = sf.info(path)
    except Exception:  # noqa: BLE001 - soundfile's errors are libsndfile's
        raise UserInputError(f"{name} is not an audio file soundfile can read (wav, flac, ogg)") from None
    if info.frames == 0:
        raise UserInputError(f"{name} holds no samples")
    if info.duration > MAX_AUDIO_SECONDS:
        raise UserInputError(f"{name} is {info.duration:.0f} s long; upload at most {MAX_AUDIO_SECONDS:.0f} s")
    x, rate = sf.read(path, dtype="float32", always_2d=False)
    return x, rate


def spectrogram_picture(noisy: np.ndarray, clean: np.ndarray, rate: int):
    """The two clips' spectrograms, one above the other, as a PIL image."""
    import torch

    waves = [torch.from_numpy(np.asarray(w, dtype=np.float32).reshape(len(w), -1).T.copy()) for w in (noisy, clean)]
    images = spectrogram_images(torch.stack(waves), rate)  # (2, 3, F, frames)
    grid = image_grid(images, ncols=1)
    return grid.resize((max(grid.width, 640), grid.height))  # a short clip's few frames stretched to be seen


def audio_examples(model, n: int = 3) -> list[str]:
    """Wav files of the first `n` held-out clips of the model's dataset mixed with its training noise (seeded), `[]`
    without data."""
    data = test_data(model)
    if data is None or "audio_values" not in data.arrays:
        return []
    import soundfile as sf
    import torch

    folder = examples_folder() / model.name.replace("/", "-")
    folder.mkdir(parents=True, exist_ok=True)
    rate = model.pipe.denoiser.config.sampling_rate
    clean = torch.from_numpy(np.asarray(data.arrays["audio_values"][:n]).astype(np.float32) / INT16_SCALE)  # (n, C, T)
    mix = parse_noise_mix(model.train_config.get("noise") or DEFAULT_NOISE)
    noisy, _ = mix(clean, rate, torch.Generator().manual_seed(0))
    paths = []
    for i, wave in enumerate(noisy.clamp(-1, 1).numpy()):
        path = folder / f"noisy_{i}.wav"
        sf.write(path, wave.T, rate, subtype="PCM_16")
        paths.append(str(path))
    return paths


@dataclass(frozen=True)
class Classify(Panel):
    """An input (an image, or a point-set file) -> the model's top classes."""

    title: str = "Classify"
    inputs: str = "images"  # or "points"
    top: int = 5

    def build(self, model) -> None:
        import gradio as gr

        pipe = model.pipe
        with gr.Row():
            if self.inputs == "points":
                upload = gr.File(
                    label="point set or mesh (.ply, .off, .obj, .stl, .npy, .xyz)",
                    type="filepath",
                    elem_id=f"{model.slug}-classify-points",
                )
            else:
                upload = image_input(label="image", elem_id=f"{model.slug}-classify-input")
            with gr.Column():
                button = gr.Button("Classify", variant="primary", elem_id=f"{model.slug}-classify")
                label = gr.Label(num_top_classes=self.top, label="classes", elem_id=f"{model.slug}-classes")
        examples = image_examples(model) if self.inputs == "images" else []
        if examples:
            gr.Examples(examples, inputs=upload, label="test images")

        @user_errors
        def run(path):
            if self.inputs == "points":
                x = read_points(path, 2048)
            else:
                x = as_model_image(open_image(path), pipe)
            with model.lock:
                out = pipe(x)
            probs = out.probs[0].float().cpu().numpy()
            names = pipe.classifier.config.class_names or [str(i) for i in range(len(probs))]
            return {names[i]: float(p) for i, p in enumerate(probs)}

        button.click(run, [upload], [label], concurrency_id=model.slug)


def read_points(path: str | None, num_points: int) -> np.ndarray:
    """An uploaded point or mesh file as `(1, num_points, 3)`, refused with a readable message when unreadable."""
    if not path:
        raise UserInputError("no file: upload a point set or a mesh")
    try:
        return read_point_file(path, num_points)[None]
    except UserInputError:
        raise
    except Exception as err:  # noqa: BLE001 - the parsers' errors, said in one line
        raise UserInputError(f"{Path(path).name} could not be read as points or a mesh: {err}") from None


@dataclass(frozen=True)
class TextImageMatch(Panel):
    """An image and some texts (one per line) -> how well each text matches the image (a CLIP's softmax over its
    similarities, as zero-shot classification does)."""

    title: str = "Match texts"

    def build(self, model) -> None:
        import gradio as gr

        pipe = model.pipe
        with gr.Row():
            image = image_input(label="image", elem_id=f"{model.slug}-clip-input")
            with gr.Column():
                texts = gr.Textbox(label="texts, one per line", lines=4, value="a photo of a shoe\na photo of a shirt")
                button = gr.Button("Match", variant="primary", elem_id=f"{model.slug}-match")
                label = gr.Label(label="match", elem_id=f"{model.slug}-match-result")

        @user_errors
        def run(path, text):
            import torch

            lines = [t.strip() for t in (text or "").splitlines() if t.strip()]
            if not lines:
                raise UserInputError("write at least one text, one per line")
            if any(len(t) > MAX_PROMPT_CHARS for t in lines):
                raise UserInputError(f"write texts of at most {MAX_PROMPT_CHARS:,} characters")
            img = open_image(path)
            with model.lock:
                sims = pipe([img] * len(lines), lines).similarity.float().cpu()
            probs = torch.softmax(100 * sims, 0).numpy()
            return {t: float(p) for t, p in zip(lines, probs, strict=True)}

        button.click(run, [image, texts], [label], concurrency_id=model.slug)
