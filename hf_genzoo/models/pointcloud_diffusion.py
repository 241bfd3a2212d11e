"""The denoising network of point-cloud diffusion: a permutation-equivariant network over a point set.

Diffusion on point clouds (Luo & Hu 2021, "Diffusion Probabilistic Models for 3D Point Cloud Generation",
arXiv:2103.01458; Zhou et al. 2021, PVD, arXiv:2104.03670) treats a shape as a set of N points x in R^{N x 3}
and runs DDPM on all 3N coordinates at once; only the network that predicts the noise must respect that x is a
*set*: permuting the input points must permute the predicted noise the same way (equivariance), and the number
of points must be free.

Why this network (a PointNet/DeepSets stack with pooled global context, Qi et al. 2017, arXiv:1612.00593; Zaheer
et al. 2017, arXiv:1703.06114) rather than a transformer over points: every layer is a per-point MLP plus a term
shared by all points (their max and mean over the set), so the cost is linear in N (a 2,048-point set is 2,048
rows of a matrix product, where self-attention would be 2,048^2 pairs), it is equivariant by construction, and it
takes any N: trained on 512-point sets, it samples 2,048-point ones. Each block:

    g     = W_g [max_n h_n ; mean_n h_n]                      the set's context, (B, D)
    s, b  = W_e e(t, y)                                       FiLM from the timestep (and class) embedding
    h_n  += MLP( LayerNorm(h_n) * (1 + s) + b + g )           per point, residual

with e(t, y) = TimestepEmbedding(sinusoid(t)) + class embedding (index `num_classes` = "no class", so that one
model samples with and without a class; classifier-free guidance, Ho & Salimans 2022). The output layer starts at
zero, so the untrained network predicts no noise.

That block sees each point alone and the set as a whole, nothing in between: a table's leg is a few dozen points
whose shape no pooled statistic describes. `local` adds, inside every block before its MLP, a branch that reads
each point's neighbourhood (y below is the block's modulated input):

- `"voxel"` (PVD's point-voxel convolution, Zhou et al. 2021, after Liu et al. 2019's PVCNN): y averaged into a
  coarse `voxel_resolution`^3 grid over the set's bounding cube, two 3x3x3 convolutions, read back at every point
  by trilinear interpolation: y_n += W_up trilinear(conv(conv(voxelize(W_down y))), x_n).
- `"knn"` (EdgeConv, Wang et al. 2019, with relative positions as the point transformer, Zhao et al. 2021): the
  `knn` nearest points m of each point n (found once per call, on the input coordinates x):
  y_n += W_up max_m SiLU(W_v y_m - W_v y_n + W_p (x_m - x_n)).

Both stay permutation-equivariant (an average into voxels and a max over neighbours do not see the order) and take
any N; `"none"` is the block above alone.

`shape_latent_dim` makes the network the decoder of a point-set autoencoder (Luo & Hu 2021's shape latent; LION,
Zeng et al. 2022, in two stages): a PointNet encoder reads the clean set x0 into a latent z (max-pooled, then
LayerNorm: every z has mean 0 and variance 1 over its entries), and z joins the timestep embedding,
e(t, y, z) = e(t, y) + W_z z, so every block is told the shape it is denoising towards. Training adds
N(0, `latent_noise`^2) to z, so the decoder tolerates the small errors of a latent drawn from a prior. To sample,
`ShapeLatentPrior` (a DDPM over z, fitted to the training sets' latents once the decoder is trained) draws z.
"""

import sys
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn
from torch.nn import functional as F

from hf_genzoo.errors import UserInputError


@dataclass
class PointCloudDenoiserOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(B, N, 3)`): the predicted noise (or v) of each point.
    """

    sample: torch.Tensor


LOCAL_FEATURES = ("none", "voxel", "knn")


@dataclass
class Geometry:
    """Where the points of one call are, computed once for every block: the voxel each point falls in and its
    position for `grid_sample` (`"voxel"`), or its nearest neighbours and the coordinates (`"knn"`)."""

    voxel: torch.Tensor | None = None  # (B, N) flat voxel index z * R^2 + y * R + x
    grid: torch.Tensor | None = None  # (B, N, 1, 1, 3) the points in [-1, 1]^3, (x, y, z) as grid_sample reads them
    neighbours: torch.Tensor | None = None  # (B, N, k) indices of the k nearest points (the point itself first)
    points: torch.Tensor | None = None  # (B, N, 3) the input coordinates


def voxel_geometry(x: torch.Tensor, resolution: int) -> Geometry:
    """Each set centred and scaled into the cube [-1, 1]^3 by its largest coordinate (as PVD normalizes before
    voxelizing: a noisy x_t spans more than the unit ball, and the grid should cover what is there)."""
    x = x.float()
    centred = x - x.mean(1, keepdim=True)
    cube = centred / centred.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-6)  # (B, N, 3) in [-1, 1]
    cell = ((cube + 1) / 2 * (resolution - 1)).round().long().clamp_(0, resolution - 1)  # (B, N, 3) as (x, y, z)
    voxel = (cell[..., 2] * resolution + cell[..., 1]) * resolution + cell[..., 0]
    return Geometry(voxel=voxel, grid=cube[:, :, None, None, :])


def knn_geometry(x: torch.Tensor, k: int) -> Geometry:
    x = x.float()
    k = min(k, x.shape[1])
    neighbours = torch.cdist(x, x).topk(k, dim=-1, largest=False).indices  # (B, N, k)
    return Geometry(neighbours=neighbours, points=x)


class VoxelBranch(nn.Module):
    """Point-voxel convolution: features averaged into a `resolution`^3 grid, two 3-D convolutions, read back at
    each point by trilinear interpolation."""

    def __init__(self, dim: int, channels: int, resolution: int):
        super().__init__()
        self.resolution = resolution
        self.down = nn.Linear(dim, channels)
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        self.convs = nn.Sequential(
            nn.Conv3d(channels, channels, 3, padding=1),
            nn.GroupNorm(groups, channels),
            nn.SiLU(),
            nn.Conv3d(channels, channels, 3, padding=1),
            nn.GroupNorm(groups, channels),
            nn.SiLU(),
        )
        self.up = nn.Linear(channels, dim)

    def forward(self, y: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        grid = voxelize(self.down(y), geometry.voxel, self.resolution)  # (B, C, R, R, R)
        return self.up(devoxelize(self.convs(grid), geometry.grid))  # (B, N, D)


def voxelize(f: torch.Tensor, voxel: torch.Tensor, resolution: int) -> torch.Tensor:
    """Point features `(B, N, C)` averaged over the points of each voxel (`voxel`: `(B, N)` flat indices), as a grid
    `(B, C, z, y, x)`; empty voxels are 0."""
    b, _, c = f.shape
    r, index = resolution, voxel[..., None]  # (B, N, 1)
    total = f.new_zeros(b, r**3, c).scatter_add_(1, index.expand(-1, -1, c), f)
    count = f.new_zeros(b, r**3, 1).scatter_add_(1, index, torch.ones_like(f[..., :1]))
    return (total / count.clamp_min(1)).view(b, r, r, r, c).permute(0, 4, 1, 2, 3)


def devoxelize(grid: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """The grid `(B, C, z, y, x)` read at `points` `(B, N, 1, 1, 3)` in [-1, 1]^3 (corner voxels' centres at +-1) by
    trilinear interpolation: `(B, N, C)`."""
    b, c = grid.shape[:2]
    sampled = F.grid_sample(grid, points.to(grid.dtype), mode="bilinear", align_corners=True)  # (B, C, N, 1, 1)
    return sampled.view(b, c, -1).transpose(1, 2)


class NeighbourBranch(nn.Module):
    """EdgeConv over the k nearest points with their offsets: max_m SiLU(W_v y_m - W_v y_n + W_p (x_m - x_n)),
    computed as max_m SiLU(u_m - u_n) with u = W_v y + W_p x (the offsets' term is linear): one gather a block."""

    def __init__(self, dim: int, channels: int):
        super().__init__()
        self.value = nn.Linear(dim, channels)
        self.position = nn.Linear(3, channels, bias=False)
        self.up = nn.Linear(channels, dim)

    def forward(self, y: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        u = self.value(y) + self.position(geometry.points.to(y.dtype))  # (B, N, C)
        b, n, c = u.shape
        rows = geometry.neighbours + n * torch.arange(b, device=u.device)[:, None, None]  # (B, N, k) into B * N
        near = u.reshape(b * n, c).index_select(0, rows.reshape(-1)).view(b, n, -1, c)  # (B, N, k, C)
        return self.up(F.silu(near - u[:, :, None]).max(2).values)


def time_and_class_embedding(model, sample: torch.Tensor, timestep, class_labels) -> torch.Tensor:
    """e(t, y) `(B, E)` of a `PointCloudDenoiser` or `ShapeLatentPrior` (its `time_proj`, `time_embedding`,
    `class_embedding` and `null_class`): the timestep's embedding plus the class's, "no class" for `None`."""
    b = len(sample)
    t = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(b)  # (B,)
    emb = model.time_embedding(model.time_proj(t).to(sample.dtype))
    if model.class_embedding is not None:
        if class_labels is None:
            class_labels = torch.full((b,), model.null_class, device=sample.device, dtype=torch.long)
        return emb + model.class_embedding(class_labels.to(sample.device).long().reshape(-1).expand(b))
    if class_labels is not None:
        raise UserInputError(f"this {type(model).__name__} is unconditional (num_classes=None); pass no class_labels")
    return emb


class ShapeEncoder(nn.Module):
    """PointNet (Qi et al. 2017) from a clean set `(B, N, 3)` to its shape latent `(B, latent_dim)`: a per-point MLP,
    a max over the points (any N, any order), an MLP, then LayerNorm without weights (z on a fixed scale)."""

    def __init__(self, latent_dim: int, width: int = 128):
        super().__init__()
        self.points = nn.Sequential(nn.Linear(3, width // 2), nn.SiLU(), nn.Linear(width // 2, width))
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width), nn.SiLU(), nn.Linear(2 * width, latent_dim))
        self.norm = nn.LayerNorm(latent_dim, elementwise_affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.head(self.points(x).amax(1)))


class ContextBlock(nn.Module):
    """One residual block: a per-point MLP, modulated by the embedding, told the set's pooled context and (with
    `local`) its neighbourhood."""

    def __init__(self, dim: int, embed_dim: int, mlp_ratio: int, local: nn.Module | None = None):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.context = nn.Linear(2 * dim, dim)
        self.film = nn.Linear(embed_dim, 2 * dim)
        self.local = local
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.SiLU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, h: torch.Tensor, emb: torch.Tensor, geometry: Geometry | None = None) -> torch.Tensor:
        g = self.context(torch.cat([h.amax(1), h.mean(1)], dim=-1))  # (B, D): the same for every point
        scale, shift = self.film(emb).chunk(2, dim=-1)  # (B, D) each
        y = self.norm(h) * (1 + scale[:, None]) + (shift + g)[:, None]  # (B, N, D)
        if self.local is not None:
            y = y + self.local(y, geometry)
        return h + self.mlp(y)


class PointCloudDenoiser(ModelMixin, ConfigMixin):
    r"""
    Predicts the noise of a noisy point set `(B, N, 3)` at timestep t, optionally for a class; see the module
    docstring for the architecture and why.

    Args:
        hidden_dim (`int`, *optional*, defaults to 128): width D of every point's features.
        num_blocks (`int`, *optional*, defaults to 4): context blocks.
        mlp_ratio (`int`, *optional*, defaults to 2): the per-point MLP's hidden width, in multiples of D.
        embed_dim (`int`, *optional*, defaults to 128): width of the timestep (and class) embedding.
        num_classes (`int`, *optional*): classes to condition on (index `num_classes` is "no class"); `None`: an
            unconditional model.
        label_names (`list[str]`, *optional*): the classes' names, for `class_label="mug"`.
        local (`str`, *optional*, defaults to `"none"`): the neighbourhood branch of every block, one of
            `LOCAL_FEATURES` (see the module docstring).
        local_channels (`int`, *optional*, defaults to 32): width of that branch.
        voxel_resolution (`int`, *optional*, defaults to 12): grid cells per side for `local="voxel"`.
        knn (`int`, *optional*, defaults to 8): neighbours per point for `local="knn"` (16 costs 1.7x as much).
        shape_latent_dim (`int`, *optional*): with a width, a `ShapeEncoder` and the latent in the embedding (see
            the module docstring): `forward` then needs `shape_points` (the clean sets) or `shape_latents`.
        latent_noise (`float`, *optional*, defaults to 0.1): standard deviation of the noise added to the latent in
            training (z has variance 1 per entry).
    """

    @register_to_config
    def __init__(
        self,
        *,
        hidden_dim: int = 128,
        num_blocks: int = 4,
        mlp_ratio: int = 2,
        embed_dim: int = 128,
        num_classes: int | None = None,
        label_names: list[str] | None = None,
        local: str = "none",
        local_channels: int = 32,
        voxel_resolution: int = 12,
        knn: int = 8,
        shape_latent_dim: int | None = None,
        latent_noise: float = 0.1,
    ):
        super().__init__()
        if (shape_latent_dim is not None and shape_latent_dim < 1) or latent_noise < 0:
            raise UserInputError(
                "PointCloudDenoiser: shape_latent_dim must be positive (or None) and latent_noise at least 0, got "
                f"{shape_latent_dim}, {latent_noise}"
            )
        if local not in LOCAL_FEATURES:
            raise UserInputError(f"PointCloudDenoiser: local is one of {LOCAL_FEATURES}, got {local!r}")
        if local_channels < 1 or voxel_resolution < 2 or knn < 1:
            raise UserInputError(
                "PointCloudDenoiser: local_channels and knn must be positive and voxel_resolution at least 2, got "
                f"{local_channels}, {knn}, {voxel_resolution}"
            )
        if hidden_dim < 1 or num_blocks < 1 or mlp_ratio < 1 or embed_dim < 2 or embed_dim % 2:
            raise UserInputError(
                "PointCloudDenoiser: hidden_dim, num_blocks and mlp_ratio must be positive and embed_dim even, got "
                f"{hidden_dim}, {num_blocks}, {mlp_ratio}, {embed_dim}"
            )
        if label_names is not None and num_classes != len(label_names):
            raise UserInputError(f"{len(label_names)} label_names for num_classes={num_classes}")
        self.time_proj = Timesteps(embed_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(embed_dim, embed_dim)
        self.class_embedding = None if num_classes is None else nn.Embedding(num_classes + 1, embed_dim)
        self.encoder = None if shape_latent_dim is None else ShapeEncoder(shape_latent_dim)
        self.latent_embedding = None if shape_latent_dim is None else nn.Linear(shape_latent_dim, embed_dim)
        self.input = nn.Linear(3, hidden_dim)
        branch = {
            "none": lambda: None,
            "voxel": lambda: VoxelBranch(hidden_dim, local_channels, voxel_resolution),
            "knn": lambda: NeighbourBranch(hidden_dim, local_channels),
        }[local]
        self.blocks = nn.ModuleList(ContextBlock(hidden_dim, embed_dim, mlp_ratio, branch()) for _ in range(num_blocks))
        self.out_norm = nn.LayerNorm(hidden_dim)
        self.output = nn.Linear(hidden_dim, 3)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    @property
    def null_class(self) -> int | None:
        """The class index that means "no class" (`None` for an unconditional model)."""
        return self.config.num_classes

    def encode(self, points: torch.Tensor) -> torch.Tensor:
        """The shape latents `(B, shape_latent_dim)` of clean point sets `(B, N, 3)` (unit-ball normalized)."""
        if self.encoder is None:
            raise UserInputError("this PointCloudDenoiser has no shape latent (shape_latent_dim=None)")
        if points.ndim != 3 or points.shape[-1] != 3 or points.shape[1] < 1:
            raise UserInputError(f"point sets must be (B, N, 3) with N >= 1; got shape {tuple(points.shape)}")
        return self.encoder(points)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        class_labels: torch.Tensor | None = None,
        shape_latents: torch.Tensor | None = None,
        shape_points: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> PointCloudDenoiserOutput | tuple:
        r"""
        Args:
            sample (`torch.Tensor` of shape `(B, N, 3)`): the noisy point sets x_t.
            timestep (`torch.Tensor` of shape `(B,)` or a number): t of each set.
            class_labels (`torch.Tensor` of shape `(B,)`, *optional*): class ids of a conditional model;
                `num_classes` (or `None` for all) means "no class".
            shape_latents (`torch.Tensor` of shape `(B, shape_latent_dim)`, *optional*): the shapes to denoise
                towards, for a model with a shape latent (from `encode` or a `ShapeLatentPrior`).
            shape_points (`torch.Tensor` of shape `(B, M, 3)`, *optional*): or the clean sets, encoded here (in
                training mode the latent gets its `latent_noise`).
            return_dict (`bool`, *optional*, defaults to `True`): a `PointCloudDenoiserOutput` rather than a tuple.
        """
        if sample.ndim != 3 or sample.shape[-1] != 3 or sample.shape[1] < 1:
            raise UserInputError(f"point sets must be (B, N, 3) with N >= 1; got shape {tuple(sample.shape)}")
        b = len(sample)
        emb = time_and_class_embedding(self, sample, timestep, class_labels)  # (B, E)
        if self.encoder is not None:
            emb = emb + self.latent_embedding(self._latents(shape_latents, shape_points, b).to(emb.dtype))
        elif shape_latents is not None or shape_points is not None:
            raise UserInputError("this PointCloudDenoiser has no shape latent (shape_latent_dim=None)")
        c = self.config
        geometry = {
            "none": lambda: None,
            "voxel": lambda: voxel_geometry(sample, c.voxel_resolution),
            "knn": lambda: knn_geometry(sample, c.knn),
        }[c.local]()
        h = self.input(sample)  # (B, N, D)
        for block in self.blocks:
            h = block(h, emb, geometry)
        out = self.output(self.out_norm(h))  # (B, N, 3)
        return PointCloudDenoiserOutput(sample=out) if return_dict else (out,)

    def _latents(self, shape_latents, shape_points, batch_size: int) -> torch.Tensor:
        if (shape_latents is None) == (shape_points is None):
            raise UserInputError(
                "this PointCloudDenoiser decodes a shape latent: pass shape_latents (B, "
                f"{self.config.shape_latent_dim}) or shape_points (B, N, 3), one of the two"
            )
        if shape_latents is None:
            z = self.encode(shape_points)
            if self.training and self.config.latent_noise > 0:
                z = z + self.config.latent_noise * torch.randn_like(z)
        else:
            z = shape_latents
        if tuple(z.shape) != (batch_size, self.config.shape_latent_dim):
            raise UserInputError(
                f"shape_latents must be ({batch_size}, {self.config.shape_latent_dim}); got {tuple(z.shape)}"
            )
        return z


class ShapeLatentPrior(ModelMixin, ConfigMixin):
    r"""
    The noise predictor of a DDPM over shape latents `(B, latent_dim)` (the second stage of a point model with
    `shape_latent_dim`): residual MLP blocks, each h += MLP(LayerNorm(h) * (1 + s) + b) with FiLM (s, b) from the
    timestep and class embedding (index `num_classes` = "no class", for classifier-free guidance); the output
    layer starts at zero.

    Args:
        latent_dim (`int`): the latent's width (the decoder's `shape_latent_dim`).
        hidden_dim (`int`, *optional*, defaults to 256): width of the blocks.
        num_blocks (`int`, *optional*, defaults to 3): residual blocks.
        embed_dim (`int`, *optional*, defaults to 128): width of the timestep (and class) embedding.
        num_classes (`int`, *optional*): classes to condition on; `None`: unconditional.
    """

    @register_to_config
    def __init__(
        self,
        latent_dim: int,
        hidden_dim: int = 256,
        num_blocks: int = 3,
        embed_dim: int = 128,
        num_classes: int | None = None,
    ):
        super().__init__()
        if min(latent_dim, hidden_dim, num_blocks) < 1 or embed_dim < 2 or embed_dim % 2:
            raise UserInputError(
                "ShapeLatentPrior: latent_dim, hidden_dim and num_blocks must be positive and embed_dim even, got "
                f"{latent_dim}, {hidden_dim}, {num_blocks}, {embed_dim}"
            )
        self.time_proj = Timesteps(embed_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(embed_dim, embed_dim)
        self.class_embedding = None if num_classes is None else nn.Embedding(num_classes + 1, embed_dim)
        self.input = nn.Linear(latent_dim, hidden_dim)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_dim, elementwise_affine=False) for _ in range(num_blocks))
        self.films = nn.ModuleList(nn.Linear(embed_dim, 2 * hidden_dim) for _ in range(num_blocks))
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden_dim, 2 * hidden_dim), nn.SiLU(), nn.Linear(2 * hidden_dim, hidden_dim))
            for _ in range(num_blocks)
        )
        self.out_norm = nn.LayerNorm(hidden_dim)
        self.output = nn.Linear(hidden_dim, latent_dim)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    @property
    def null_class(self) -> int | None:
        return self.config.num_classes

    def forward(
        self, sample: torch.Tensor, timestep, class_labels: torch.Tensor | None = None, return_dict: bool = True
    ) -> PointCloudDenoiserOutput | tuple:
        r"""
        Args:
            sample (`torch.Tensor` of shape `(B, latent_dim)`): noisy latents z_t.
            timestep (`torch.Tensor` of shape `(B,)` or a number): t of each latent.
            class_labels (`torch.Tensor` of shape `(B,)`, *optional*): class ids; `num_classes` or `None`: no class.
        """
        if sample.ndim != 2 or sample.shape[1] != self.config.latent_dim:
            raise UserInputError(f"latents must be (B, {self.config.latent_dim}); got shape {tuple(sample.shape)}")
        emb = time_and_class_embedding(self, sample, timestep, class_labels)  # (B, E)
        h = self.input(sample)  # (B, H)
        for norm, film, mlp in zip(self.norms, self.films, self.mlps, strict=True):
            scale, shift = film(emb).chunk(2, dim=-1)
            h = h + mlp(norm(h) * (1 + scale) + shift)
        out = self.output(self.out_norm(h))
        return PointCloudDenoiserOutput(sample=out) if return_dict else (out,)


# Pipelines saved before this module took its family's name list `hf_genzoo.models.point_denoiser` in their
# model_index.json, and diffusers loads a component only from a module already imported: this one answers to both.
sys.modules.setdefault(__name__.rsplit(".", 1)[0] + ".point_denoiser", sys.modules[__name__])
