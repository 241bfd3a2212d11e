"""Pictures: image grids, and the PCA embedding plot with each point drawn as its own thumbnail."""

import math
from pathlib import Path

import numpy as np
import PIL.Image
import torch


def image_grid(images: torch.Tensor, ncols: int | None = None, padding: int = 2, min_tile: int = 48) -> PIL.Image.Image:
    """Images `(N, C, H, W)` in [0, 1] -> one PIL image, `ncols` per row; or rows `(R, N, C, H, W)`,
    one row each (e.g. originals over reconstructions). Tiny images are enlarged (nearest) to `min_tile`."""
    if images.ndim == 5:
        ncols = images.shape[1]
        images = images.flatten(0, 1)
    x = images.detach().float().clamp(0, 1).cpu()  # (N, C, H, W)
    n, c, h, w = x.shape
    if c == 1:
        x = x.expand(-1, 3, -1, -1)
    scale = max(1, math.ceil(min_tile / max(h, w)))
    if scale > 1:
        x = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        h, w = h * scale, w * scale
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = torch.ones(3, nrows * (h + padding) + padding, ncols * (w + padding) + padding)
    for i in range(n):
        r, col = divmod(i, ncols)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = x[i]
    return PIL.Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def save_grid(images: torch.Tensor, path: str | Path, **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(images, **kw).save(path)
    return path


def embedding_plot(
    codes: np.ndarray,
    images: np.ndarray,
    path: str | Path,
    labels: np.ndarray | None = None,
    label_names: list[str] | None = None,
    max_thumbnails: int = 400,
    title: str = "PCA of the codes",
    seed: int = 0,
) -> tuple[Path, np.ndarray]:
    """Project `codes` `(N, D)` to 2-D with PCA and draw each point as its thumbnail (`images`:
    `(N, C, H, W)` uint8 or float in [0, 1]), framed in its label's colour. Returns the path and the
    explained variance ratio of the two components."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    from sklearn.decomposition import PCA

    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    k = min(2, codes.shape[1])
    pca = PCA(n_components=k, random_state=seed).fit(codes)
    xy = pca.transform(codes)
    if k == 1:
        xy = np.concatenate([xy, np.zeros_like(xy)], 1)
    imgs = np.asarray(images)
    imgs = imgs.astype(np.float32) / 255.0 if imgs.dtype == np.uint8 else imgs.astype(np.float32)
    imgs = imgs.transpose(0, 2, 3, 1)  # (N, H, W, C)
    cmap = plt.get_cmap("tab10" if labels is None or labels.max() < 10 else "tab20")
    fig, ax = plt.subplots(figsize=(10, 10))
    colours = None if labels is None else [cmap(int(label) % cmap.N) for label in labels]
    ax.scatter(xy[:, 0], xy[:, 1], s=6, c=colours if colours else "grey", alpha=0.5)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(xy), size=min(max_thumbnails, len(xy)), replace=False)
    zoom = 24 / max(imgs.shape[1:3])  # each thumbnail about 24 points wide
    for i in chosen:
        img = imgs[i, :, :, 0] if imgs.shape[-1] == 1 else imgs[i]
        box = OffsetImage(img, zoom=zoom, cmap="gray" if img.ndim == 2 else None)
        edge = colours[i] if colours else "none"
        ax.add_artist(AnnotationBbox(box, xy[i], frameon=colours is not None, pad=0.1, bboxprops={"edgecolor": edge}))
    if labels is not None:
        names = label_names or [str(i) for i in range(int(labels.max()) + 1)]
        handles = [plt.Line2D([], [], marker="s", ls="", color=cmap(i % cmap.N), label=names[i]) for i in np.unique(labels)]
        ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.8)
    ratio = pca.explained_variance_ratio_
    ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({ratio[1]:.0%} of variance)" if k > 1 else "")
    ax.set_title(f"{title} ({len(xy)} points, {len(chosen)} thumbnails)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path, ratio
