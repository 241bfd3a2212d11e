"""Drive `genzoo app` in a real browser: Debian's chromium, headless, through playwright (which cannot download a
browser of its own here). Open a tab, press a panel's button, wait for the request to finish, and read back what
appeared: the images decoded, the audio file, the points of the 3-D view, the text. The browser tests
(`tests/test_app.py`) and the app's benchmark (`benchmarks/app.py`) both use it; `DRIVERS` knows, for each panel type
of `hf_genzoo.app.panels`, which button to press and what to read.
"""

import contextlib
import io
import os
import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

CHROMIUM = os.environ.get("GENZOO_CHROMIUM", "/usr/bin/chromium")
# What a root user needs to run chromium headless here, and no calls to Google's services (the network is closed)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The chromium binary, `None` when it is not installed (`apt-get install chromium`)."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 1000):
    """A fresh headless chromium page (1400 x 1000 by default); closed on exit."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no chromium: install Debian's package (apt-get install chromium)")
    with sync_playwright() as p:
        chrome = p.chromium.launch(executable_path=path, args=FLAGS, headless=True)
        try:
            page = chrome.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            chrome.close()


def wait_until_served(url: str, timeout: float = 120.0, process=None) -> float:
    """Poll `url` until it answers 200; returns the seconds waited. Raises if `process` (a `Popen`) ends first."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout:.0f} s")


def open_tab(page, label: str) -> None:
    """Click the tab titled `label` (in Gradio's overflow menu when the tab bar is full)."""
    tab = page.locator(f"button[role=tab]:text-is('{label}')")
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.locator("button[aria-label='More tabs']").first.click()
    page.locator(f".overflow-dropdown button:text-is('{label}')").first.click()


def open_model(page, model) -> None:
    """Open the tab of `model` (an `AppModel`): its family's tab, then its own when the family holds several."""
    open_tab(page, model.family.name)
    sub = page.locator(f"#tab-{model.slug}-button")
    if sub.count():
        sub.first.click()


def errors(page) -> list[str]:
    """The error messages shown in the page's toasts."""
    return [t.strip() for t in page.locator(".toast-body").all_inner_texts()]


def dismiss_errors(page) -> None:
    for close in page.locator(".toast-close").all():
        with contextlib.suppress(Exception):
            close.click(timeout=1000)
    page.wait_for_function("() => document.querySelectorAll('.toast-body').length === 0", timeout=10_000)


# Watches the status tracker of an output: `done` when it hides after showing work (a MutationObserver sees every
# change of its classes, so a request faster than a frame is not missed; a tracker still showing the previous
# request's error counts as showing work).
_WATCH = """(selector) => {
    const tracker = document.querySelector(selector);
    if (!tracker) return false;
    const hidden = () => tracker.classList.contains('hide');
    window.__genzoo = {busy: !hidden(), done: false};
    const seen = () => {
        if (!hidden()) window.__genzoo.busy = true;
        else if (window.__genzoo.busy) window.__genzoo.done = true;
    };
    new MutationObserver(seen).observe(tracker, {attributes: true, attributeFilter: ['class']});
    return true;
}"""
_OVER = "() => window.__genzoo.done || document.querySelectorAll('.toast-body').length > 0"


def press(page, button: str, output: str, timeout: float = 300.0) -> float:
    """Click `#button` and wait until the request it starts is over (the status tracker of `#output` hides again, or
    an error toast appears); returns the seconds from the click."""
    if not page.evaluate(_WATCH, f"#{output} [data-testid=status-tracker]"):
        raise RuntimeError(f"#{output} has no status tracker")
    start = time.perf_counter()
    page.locator(f"#{button}").click()
    page.wait_for_function(_OVER, timeout=timeout * 1000, polling="raf")
    return time.perf_counter() - start


def fetch(page, url: str) -> bytes:
    """The bytes the app serves at `url` (an image's src, a download link)."""
    response = page.request.get(url)
    if not response.ok:
        raise RuntimeError(f"GET {url}: {response.status}")
    return response.body()


def images(page, element: str) -> list:
    """The images shown in `#element` (an Image or a Gallery), decoded (PIL, RGB)."""
    import PIL.Image

    sources = [img.get_attribute("src") for img in page.locator(f"#{element} img").all()]
    return [PIL.Image.open(io.BytesIO(fetch(page, s))).convert("RGB") for s in sources if s]


def downloads(page, element: str) -> dict[str, bytes]:
    """The files linked in `#element` (a File or an Audio component), by name."""
    out = {}
    for link in page.locator(f"#{element} a[href]").all():
        href = link.get_attribute("href")
        if "/file=" in href:
            out[href.rsplit("/", 1)[-1]] = fetch(page, href)
    return out


def plot_points(page, element: str) -> list:
    """The points of each 3-D scatter trace of the plotly figure in `#element`: `[(N, 3) arrays]`."""
    import numpy as np

    page.wait_for_function(  # plotly.js loads when the first figure arrives, then draws it
        f"() => {{ const p = document.querySelector('#{element} .js-plotly-plot'); return !!p && !!p._fullData; }}"
    )
    traces = page.evaluate(
        f"""() => Array.from(document.querySelectorAll('#{element} .js-plotly-plot')).flatMap(
            p => p._fullData.filter(t => t.type === 'scatter3d').map(t => [Array.from(t.x), Array.from(t.y),
                                                                           Array.from(t.z)]))"""
    )
    return [np.asarray(t, dtype=np.float32).T for t in traces]


def text(page, element: str) -> str:
    """The text `#element` shows (a Markdown's own text, without its status tracker's)."""
    shown = page.locator(f"#{element} [data-testid=markdown]")
    return (shown if shown.count() else page.locator(f"#{element}")).first.inner_text()


def upload(page, element: str, path: str | os.PathLike) -> None:
    """Put a file into the upload component `#element` (cleared first when it holds one) and wait until the page holds
    it."""
    if not page.locator(f"#{element} input[type=file]").count():
        page.locator(f"#{element} button[aria-label='Clear']").first.click()
    page.locator(f"#{element} input[type=file]").first.set_input_files(str(path))
    page.wait_for_timeout(300)
    page.wait_for_load_state("networkidle")


# --- what to press and read, per panel type ------------------------------------------------------------------------


def _run(page, button: str, info: str, uploads=(), pictures=None, files=None) -> dict:
    """Upload `uploads` ((element, path) pairs), press `#button`, wait for `#info`; then what appeared: the seconds, the
    errors, the text of `#info`, the images of each `pictures` element and the files of each `files` element (by
    key; elements a tab does not have are left out)."""
    for element, path in uploads:
        upload(page, element, path)
    out = {"seconds": press(page, button, info), "errors": errors(page), "info": text(page, info)}
    for read, elements in ((images, pictures or {}), (downloads, files or {})):
        for key, element in elements.items():
            if page.locator(f"#{element}").count():
                out[key] = read(page, element)
    return out


def _samples(page, slug, panel, files):
    out = _run(
        page,
        f"{slug}-sample",
        f"{slug}-sample-info",
        pictures={"images": f"{slug}-samples"},
        files={"files": f"{slug}-files"},
    )
    if panel.views_3d:
        out["points"] = plot_points(page, f"{slug}-view3d")
    return out


def _reconstruction(page, slug, panel, files):
    pictures = {key: f"{slug}-ae-{key}" for key in ("seen", "noisy", "output", "pca")}
    return _run(page, f"{slug}-reconstruct", f"{slug}-ae-info", [(f"{slug}-ae-input", files["image"])], pictures)


def _interpolation(page, slug, panel, files):
    uploads = [(f"{slug}-interp-a", files["image"]), (f"{slug}-interp-b", files["other_image"])]
    pictures = {"output": f"{slug}-interp-output", "path": f"{slug}-interp-path"}
    return _run(page, f"{slug}-interpolate", f"{slug}-interp-path", uploads, pictures)


def _latent_walk(page, slug, panel, files):
    return _run(page, f"{slug}-walk", f"{slug}-walk-info", pictures={"images": f"{slug}-walk-frames"})


def _likelihood(page, slug, panel, files):
    return _run(page, f"{slug}-bpd", f"{slug}-bpd-result", [(f"{slug}-bpd-input", files["image"])])


def _text_to_image(page, slug, panel, files):
    if "prompt" in files:
        page.locator(f"#{slug}-prompt textarea").fill(files["prompt"])
    return _run(page, f"{slug}-generate", f"{slug}-t2i-info", pictures={"images": f"{slug}-t2i-images"})


def _audio(page, slug, panel, files):
    uploads = [(f"{slug}-noisy", files["audio"])]
    return _run(
        page,
        f"{slug}-denoise",
        f"{slug}-denoise-info",
        uploads,
        pictures={"spectrograms": f"{slug}-spectrograms"},
        files={"audio": f"{slug}-denoised"},
    )


def _classify(page, slug, panel, files):
    given = (
        (f"{slug}-classify-points", files["points"])
        if panel.inputs == "points"
        else (f"{slug}-classify-input", files["image"])
    )
    return _run(page, f"{slug}-classify", f"{slug}-classes", [given])


def _match(page, slug, panel, files):
    return _run(page, f"{slug}-match", f"{slug}-match-result", [(f"{slug}-clip-input", files["image"])])


# panel class name -> (page, model slug, panel, input files) -> what appeared
DRIVERS: dict[str, Callable] = {
    "Samples": _samples,
    "Reconstruction": _reconstruction,
    "Interpolation": _interpolation,
    "LatentWalk": _latent_walk,
    "Likelihood": _likelihood,
    "TextToImage": _text_to_image,
    "AudioDenoise": _audio,
    "Classify": _classify,
    "TextImageMatch": _match,
}


def exercise(page, model, panel, files: dict) -> dict:
    """Press `panel`'s button in `model`'s tab (open) with `files` as its inputs; what appeared (see `DRIVERS`)."""
    return DRIVERS[type(panel).__name__](page, model.slug, panel, files)
