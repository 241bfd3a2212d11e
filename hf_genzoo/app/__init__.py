"""`genzoo app`: a Gradio app to look at, play with and compare trained models in the browser.

    genzoo app --model vae=runs/vae --model t2i=user/text2image
    genzoo app --models_dir genzoo-bench          # every saved pipeline under a folder, + its trilemma table

Each model gets a tab; which panels it holds comes from its family's record (`Family.app`, see
`hf_genzoo.app.panels`), so the app names no family. A model that cannot be loaded shows why in its tab while the
others work. A folder with the trilemma benchmark's results (`trilemma.json` or `trilemma.md`, `trilemma.png`) adds
a Compare tab. From Python:

    from hf_genzoo.app import build_app
    build_app({"vae": "runs/vae"}).launch()
"""

import json
import re
import time
from pathlib import Path

from .models import AppModel, collect_models, load_app_model, slug

__all__ = ["AppModel", "build_app", "collect_models", "find_trilemma", "load_models"]

THEME_CSS = ".gradio-container {max-width: 1400px !important}"


def load_models(models: dict[str, str], device: str | None = None, log=print) -> list[AppModel]:
    """Load every `name -> source`; a failure is kept in its `AppModel.error`, not raised."""
    loaded = []
    for name, source in models.items():
        start = time.perf_counter()
        model = load_app_model(name, source, device)
        what = model.family.name if model.ok else f"NOT LOADED: {model.error}"
        log(f"genzoo app: {name} <- {source}: {what} ({time.perf_counter() - start:.1f} s)")
        loaded.append(model)
    return loaded


def find_trilemma(folder: str | Path | None) -> dict | None:
    """The trilemma results in `folder` (`genzoo bench`'s `trilemma.json`, the benchmark's `trilemma.md`, the plot
    `trilemma.png`), looked for in the folder and one level below; `None` when there are none."""
    if folder is None or not Path(folder).is_dir():
        return None
    root = Path(folder)
    for where in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        found = {k: where / f"trilemma.{k}" for k in ("json", "md", "png") if (where / f"trilemma.{k}").exists()}
        if "json" in found or "md" in found:
            return found
    return None


def _header(model: AppModel) -> str:
    if not model.ok:
        return f"### {model.name}\nfrom `{model.source}`"
    family, cfg = model.family, model.train_config
    trained = f"; trained on `{cfg['dataset']}`" if cfg.get("dataset") else ""
    return (
        f"### {model.name}\n`{family.name}` ({type(model.pipe).__name__}, {model.parameters / 1e6:.2f} M "
        f"parameters) from `{model.source}`{trained}"
    )


def _model_body(model: AppModel) -> None:
    """A model's part of its family's tab: what it is, then its family's panels (or why it could not be loaded)."""
    import gradio as gr

    gr.Markdown(_header(model))
    if not model.ok:
        gr.Markdown(f"**This model could not be loaded.** {model.error}", elem_id=f"{model.slug}-error")
        return
    panels = model.family.panels
    if not panels:
        gr.Markdown(f"The `{model.family.name}` family has no panels in the app yet.")
    for panel in panels:
        if len(panels) > 1:
            gr.Markdown(f"#### {panel.title}")
        panel.build(model)


def _compare_tab(found: dict) -> None:
    import gradio as gr

    gr.Markdown("### Compare: quality, coverage and speed on one dataset (the trilemma benchmark)")
    if "json" in found:
        saved = json.loads(found["json"].read_text())
        rows = saved.get("rows", [])
        columns = list(dict.fromkeys(k for r in rows for k in r))
        gr.Dataframe(
            [[r.get(c) for c in columns] for r in rows], headers=columns, label=str(found["json"]), elem_id="trilemma"
        )
    else:  # the benchmark's table; its own image link (relative to the repo) gives way to the plot below
        text = re.sub(r"^!\[[^\]]*\]\([^)]*\)\s*$", "", found["md"].read_text(), flags=re.M)
        gr.Markdown(text, elem_id="trilemma")
    if "png" in found:
        gr.Image(str(found["png"]), label="FD_local against time per image", elem_id="trilemma-plot")


def build_app(
    models: dict[str, str] | list[AppModel],
    compare_dir: str | Path | None = None,
    device: str | None = None,
    title: str = "hf_genzoo",
):
    """The app (a `gradio.Blocks`) over `models` (tab name -> local folder or Hub repo id, or models loaded already);
    `compare_dir` is where the trilemma results are looked for. Call `.launch()` on it."""
    import gradio as gr

    loaded = load_models(models, device) if isinstance(models, dict) else models
    trilemma = find_trilemma(compare_dir)
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {title}\nTrained generative models, one tab each: sample them, feed them your own inputs, compare "
            "them. Every random output has a seed; the same seed gives the same result."
        )
        groups: dict[str, list[AppModel]] = {}
        for model in loaded:  # a tab per family; its models side by side in it
            groups.setdefault(model.family.name if model.family else f"{model.name} (not loaded)", []).append(model)
        for label, members in groups.items():
            with gr.Tab(label, elem_id=f"family-{slug(label)}"):
                if len(members) == 1:
                    _model_body(members[0])
                    continue
                with gr.Tabs():
                    for model in members:
                        with gr.Tab(model.name, elem_id=f"tab-{model.slug}"):
                            _model_body(model)
        if trilemma:
            with gr.Tab("Compare", elem_id="tab-compare"):
                _compare_tab(trilemma)
    return demo.queue(default_concurrency_limit=1)  # one request at a time per panel (a Space's `launch()` too)


def launch(demo, host: str = "127.0.0.1", port: int = 7860, **kwargs):
    """Serve the app; returns at once (`prevent_thread_lock`), the caller keeps the process alive."""
    return demo.launch(
        server_name=host,
        server_port=port,
        show_error=True,
        max_file_size="100mb",
        prevent_thread_lock=True,
        ssr_mode=False,
        css=THEME_CSS,
        **kwargs,
    )
