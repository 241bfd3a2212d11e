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
"""

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from hf_genzoo.errors import UserInputError


@dataclass
class PointCloudDenoiserOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(B, N, 3)`): the predicted noise (or v) of each point.
    """

    sample: torch.Tensor


class ContextBlock(nn.Module):
    """One residual block: a per-point MLP, modulated by the embedding and told the set's pooled context."""

    def __init__(self, dim: int, embed_dim: int, mlp_ratio: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.context = nn.Linear(2 * dim, dim)
        self.film = nn.Linear(embed_dim, 2 * dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.SiLU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        g = self.context(torch.cat([h.amax(1), h.mean(1)], dim=-1))  # (B, D): the same for every point
        scale, shift = self.film(emb).chunk(2, dim=-1)  # (B, D) each
        y = self.norm(h) * (1 + scale[:, None]) + (shift + g)[:, None]  # (B, N, D)
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
    ):
        super().__init__()
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
        self.input = nn.Linear(3, hidden_dim)
        self.blocks = nn.ModuleList(ContextBlock(hidden_dim, embed_dim, mlp_ratio) for _ in range(num_blocks))
        self.out_norm = nn.LayerNorm(hidden_dim)
        self.output = nn.Linear(hidden_dim, 3)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    @property
    def null_class(self) -> int | None:
        """The class index that means "no class" (`None` for an unconditional model)."""
        return self.config.num_classes

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        class_labels: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> PointCloudDenoiserOutput | tuple:
        r"""
        Args:
            sample (`torch.Tensor` of shape `(B, N, 3)`): the noisy point sets x_t.
            timestep (`torch.Tensor` of shape `(B,)` or a number): t of each set.
            class_labels (`torch.Tensor` of shape `(B,)`, *optional*): class ids of a conditional model;
                `num_classes` (or `None` for all) means "no class".
            return_dict (`bool`, *optional*, defaults to `True`): a `PointCloudDenoiserOutput` rather than a tuple.
        """
        if sample.ndim != 3 or sample.shape[-1] != 3 or sample.shape[1] < 1:
            raise UserInputError(f"point sets must be (B, N, 3) with N >= 1; got shape {tuple(sample.shape)}")
        b = len(sample)
        t = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(b)  # (B,)
        emb = self.time_embedding(self.time_proj(t).to(sample.dtype))  # (B, E)
        if self.class_embedding is not None:
            if class_labels is None:
                class_labels = torch.full((b,), self.null_class, device=sample.device, dtype=torch.long)
            emb = emb + self.class_embedding(class_labels.to(sample.device).long().reshape(-1).expand(b))
        elif class_labels is not None:
            raise UserInputError("this PointCloudDenoiser is unconditional (num_classes=None); pass no class_labels")
        h = self.input(sample)  # (B, N, D)
        for block in self.blocks:
            h = block(h, emb)
        out = self.output(self.out_norm(h))  # (B, N, 3)
        return PointCloudDenoiserOutput(sample=out) if return_dict else (out,)
