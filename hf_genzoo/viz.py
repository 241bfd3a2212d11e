"""Pictures: image grids, and the PCA embedding plot with each point drawn as its own thumbnail."""

import math
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
from diffusers.utils import make_image_grid, numpy_to_pil


def image_grid(images: torch.Tensor, ncols: int | None = None, padding: int = 2, min_tile: int = 48) -> PIL.Image.Image:
    """Images `(N, C, H, W)` in [0, 1] -> one PIL image, `ncols` per row; or rows `(R, N, C, H, W)`, one row each
    (e.g. originals over reconstructions). Tiny images are enlarged (nearest) to about `min_tile` pixels; tiles are
    framed in white, `padding` pixels apart. diffusers' `numpy_to_pil` and `make_image_grid` do the rest."""
    if images.ndim == 5:
        ncols = images.shape[1]
        images = images.flatten(0, 1)
    x = images.detach().float().clamp(0, 1).cpu()  # (N, C, H, W)
    n, _, h, w = x.shape
    scale = max(1, math.ceil(min_tile / max(h, w)))
    tiles = [
        PIL.ImageOps.expand(
            tile.convert("RGB").resize((w * scale, h * scale), PIL.Image.Resampling.NEAREST),
            border=padding // 2,
            fill="white",
        )
        for tile in numpy_to_pil(x.permute(0, 2, 3, 1).numpy())
    ]
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    tiles += [PIL.Image.new("RGB", tiles[0].size, "white")] * (nrows * ncols - n)  # an incomplete last row
    return PIL.ImageOps.expand(
        make_image_grid(tiles, rows=nrows, cols=ncols), border=padding - padding // 2, fill="white"
    )


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
        handles = [
            plt.Line2D([], [], marker="s", ls="", color=cmap(i % cmap.N), label=names[i]) for i in np.unique(labels)
        ]
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


def spectrogram_images(
    waves: torch.Tensor, sampling_rate: int, n_fft: int = 512, floor_db: float = -80.0, height: int = 128
) -> torch.Tensor:
    """Waveforms `(N, C, T)` in [-1, 1] -> their spectrograms as images `(N, 3, F, frames)` in [0, 1]: the magnitude of
    the channels' mean in dB (0 dB: a full-scale sine) over [`floor_db`, 0], the low frequencies at the bottom, in
    matplotlib's magma colours, resized to `height` rows (linear frequency axis up to `sampling_rate / 2`)."""
    from matplotlib import colormaps

    x = waves.detach().float().mean(1)  # (N, T)
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=n_fft // 4, window=window, return_complex=True).abs()  # (N, F, frames)
    db = 20 * torch.log10(spec / (window.sum() / 2) + 1e-10)
    level = ((db - floor_db) / -floor_db).clamp(0, 1).flip(1)  # (N, F, frames), row 0 the highest frequency
    level = torch.nn.functional.interpolate(level[:, None], size=(height, level.shape[-1]), mode="bilinear")[:, 0]
    lut = torch.tensor(colormaps["magma"](np.linspace(0, 1, 256))[:, :3], dtype=torch.float32, device=x.device)
    return lut[(level * 255).round().long()].permute(0, 3, 1, 2)  # (N, 3, height, frames)


def _view_rotation(elev: float, azim: float) -> torch.Tensor:
    """The rotation that turns a scene by `azim` degrees about the vertical (z) axis, then tilts it by `elev` degrees
    towards the viewer (matplotlib's 3-D view angles); the viewer looks along +y, z up."""
    a, e = math.radians(azim), math.radians(elev)
    spin = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    tilt = torch.tensor([[1.0, 0.0, 0.0], [0.0, math.cos(e), math.sin(e)], [0.0, -math.sin(e), math.cos(e)]])
    return tilt @ spin


def point_cloud_images(
    points: torch.Tensor, size: int = 96, elev: float = 20.0, azim: float = -60.0, extent: float = 1.0
) -> torch.Tensor:
    """Point sets `(B, N, 3)` drawn as images `(B, 3, size, size)` in [0, 1]: each point a 2-pixel dot seen from
    (`elev`, `azim`) in an orthographic view of the cube [-extent, extent]^3 (the unit ball of the data), nearer
    points darker, on white. Fast (no matplotlib), for training pictures and sample grids."""
    pts = torch.as_tensor(points).detach().float().cpu()  # (B, N, 3)
    view = pts @ _view_rotation(elev, azim).T  # (B, N, 3): x right, y depth (away), z up
    scale = (size - 2) / (2 * extent)
    col = ((view[..., 0] + extent) * scale).round().long().clamp(0, size - 2)  # (B, N)
    row = ((extent - view[..., 2]) * scale).round().long().clamp(0, size - 2)
    shade = (0.15 + 0.55 * (view[..., 1] / extent + 1) / 2).clamp(0.1, 0.8)  # near 0.15 (dark) .. far 0.7
    b = len(pts)
    image = torch.ones(b, size * size)
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):
        index = (row + dr) * size + (col + dc)  # (B, N)
        image.scatter_reduce_(1, index, shade, reduce="amin")
    grey = image.view(b, 1, size, size)
    tint = torch.tensor([0.55, 0.75, 1.0]).view(1, 3, 1, 1)  # blue-grey dots
    return torch.where(grey < 1, grey * tint, torch.ones(1, 3, 1, 1))  # (B, 3, size, size)


POINT_VIEWS = ((20.0, -60.0), (20.0, 30.0), (90.0, -90.0))  # two oblique views and the view from above


def point_cloud_figure(
    points: np.ndarray | torch.Tensor,
    path: str | Path,
    titles: list[str] | None = None,
    views: tuple = POINT_VIEWS,
    max_points: int = 2048,
) -> Path:
    """Point sets `(B, N, 3)` as a PNG of matplotlib 3-D scatter plots: a row per set, a column per view
    (elevation, azimuth) in `views`, axes fixed to the unit cube so that sizes compare; `titles` (one per set) head
    the rows. At most `max_points` points of each set are drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = np.asarray(points.detach().cpu() if torch.is_tensor(points) else points, dtype=np.float32)[:, :max_points]
    rows, cols = len(pts), len(views)
    fig = plt.figure(figsize=(2.6 * cols, 2.6 * rows))
    for i, cloud in enumerate(pts):
        for j, (elev, azim) in enumerate(views):
            ax = fig.add_subplot(rows, cols, i * cols + j + 1, projection="3d")
            ax.scatter(cloud[:, 0], cloud[:, 1], cloud[:, 2], s=1.5, c=cloud[:, 2], cmap="viridis", linewidths=0)
            ax.view_init(elev=elev, azim=azim)
            ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), xticks=[], yticks=[], zticks=[])
            ax.set_box_aspect((1, 1, 1))
            if j == 0 and titles is not None:
                ax.set_title(titles[i], fontsize=9, loc="left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
