"""PinnerFormer-style user sequence encoder: a causal transformer over timed actions.

From "PinnerFormer: Sequence Modeling for User Representation at Pinterest"
(Pancha et al., KDD 2022, https://arxiv.org/abs/2205.04507); time features as in
PinnerFormer and TransAct (Xia et al., KDD 2023, https://arxiv.org/abs/2306.00248).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, GraphValidationError, ShapeError
from graphrep.models.layer_at import encoder_layer_at

HOUR, DAY, WEEK = 3600, 86400, 604800
DEFAULT_TIME_SCALES = (HOUR, DAY, WEEK, 30 * DAY)


def fourier_time_features(seconds: Tensor, periods: Tensor, num_harmonics: int) -> Tensor:
    """Fourier series features of integer times: ``[..., 2 * S * H]`` for ``S`` periods.

    .. math::
        \\phi(x) = \\big[\\sin(2\\pi h x / P_s),\\; \\cos(2\\pi h x / P_s)\\big]_{
        s = 1..S,\\; h = 1..H}

    The phase :math:`(h x \\bmod P_s) / P_s` is computed in exact ``int64``
    arithmetic, so epoch-second timestamps (~1.7e9) lose no precision.

    Args:
        seconds: ``int64`` times or durations in seconds, any shape.
        periods: ``int64`` periods :math:`P_s` in seconds, shape ``[S]``.
        num_harmonics: :math:`H`, harmonics per period.
    """
    rem = torch.remainder(seconds.long()[..., None], periods)  # [..., S]
    h = torch.arange(1, num_harmonics + 1, device=seconds.device)
    phase = torch.remainder(rem[..., None] * h, periods[:, None])  # [..., S, H]
    angle = (phase.double() / periods[:, None].double()).float() * (2 * math.pi)
    return torch.cat([angle.sin(), angle.cos()], dim=-1).flatten(-2)


def _check(x: object, name: str, shape: tuple[int, ...], kind: str) -> Tensor:
    """Check ``x`` is a tensor of ``shape`` whose dtype is ``kind`` ("float"|"int"|"bool")."""
    if not isinstance(x, Tensor):
        raise ShapeError(f"SequenceEncoder: {name} must be a torch tensor, got {type(x).__name__}")
    dt = x.dtype
    ok = {
        "float": dt.is_floating_point,
        "int": not (dt.is_floating_point or dt.is_complex or dt == torch.bool),
        "bool": dt == torch.bool,
    }[kind]
    if not ok:
        want = {"float": "a floating", "int": "an integer (torch.long)", "bool": "a torch.bool"}
        raise ShapeError(f"SequenceEncoder: {name} must be {want[kind]} tensor, got {dt}")
    if tuple(x.shape) != shape:
        raise ShapeError(f"SequenceEncoder: {name} must have shape {shape}, got {tuple(x.shape)}")
    return x


def _pos_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"SequenceEncoder: {name} must be an int >= 1, got {value!r}")
    return value


def _last_real(mask: Tensor, owner: str) -> Tensor:
    """``[B]`` index of each row's last real action (True) in ``mask [B, M]``.

    Raises:
        ShapeError: ``mask`` is not bool.
        GraphValidationError: a row has no real action.
    """
    if mask.dtype != torch.bool:
        raise ShapeError(f"{owner}: mask must be bool, got {mask.dtype}")
    has = mask.any(dim=1)
    if not bool(has.all()):
        rows = (~has).nonzero().flatten()[:5].tolist()
        raise GraphValidationError(
            f"{owner}: {int((~has).sum())} rows have no real action (e.g. rows {rows}); drop "
            "users without history first"
        )
    return mask.shape[1] - 1 - mask.flip(1).to(torch.uint8).argmax(dim=1)


class SequenceEncoder(nn.Module):
    """Causal pre-norm transformer over a user's last ``M`` actions (PinnerFormer).

    Each action :math:`i` (item :math:`v_i`, action type :math:`a_i`, surface
    :math:`s_i`, time :math:`t_i`) becomes the token

    .. math::
        x_i = e(v_i) + E_a[a_i] + E_s[s_i]
        + W_t\\big[\\phi(t_i) \\,\\|\\, \\psi(T - t_i) \\,\\|\\, \\psi(t_i - t_{i^-})\\big]
        + E_{pos}[r_i],

    where :math:`e(v_i)` is the item embedding computed by the entity encoders
    (passed in, so gradients flow back into them), :math:`\\phi` the Fourier
    features of :func:`fourier_time_features` over ``time_scales`` (hour of day,
    day of week, ...), :math:`\\psi(\\Delta) = [\\phi(\\Delta), \\log(1 + \\Delta / 1h)]`,
    :math:`T` the *query time*, :math:`i^-` the previous real action (the gap of a
    user's first action is 0) and :math:`r_i` the number of real actions before
    :math:`i`. A stack of pre-norm transformer layers with causal attention
    (position :math:`i` attends to real positions :math:`j \\le i`), a final
    LayerNorm, a per-position MLP and L2 normalisation give
    :math:`z_i \\in \\mathbb{R}^D`, the user's embedding right after action :math:`i`
    (the dense all-action loss trains every :math:`z_i`); the user embedding is
    :math:`z` at the last real action (:meth:`user_embedding`).

    **Time since the latest action and causality.** PinnerFormer feeds the time
    from each action to the latest one. To keep the model provably causal this
    is taken relative to an explicit ``query_time`` :math:`T` per user (the time at
    which the embedding is requested: the training cut or "now" at inference),
    never to later actions. Hence *for a fixed* ``query_time``, the outputs at
    positions :math:`\\le i` depend only on the inputs at positions :math:`\\le i`.
    With ``query_time=None`` it defaults to the user's latest real timestamp (the
    PinnerFormer convention), which is then a function of the whole sequence.

    **Padding.** ``mask`` marks real actions; any pattern is accepted. Left padding
    (real actions at the end, the last one at ``M - 1``) is the convention of the
    sequence sampler. Positional indices count real actions, so the same
    actions left- or right-padded give the same outputs. Padded positions attend
    only to themselves (never a fully masked attention row, so no NaN), are never
    attended to by real positions, and their outputs are set to zero; their
    inputs (even NaN embeddings or out-of-range ids) are ignored.

    Args:
        dim: embedding size :math:`D` (item embeddings must have it).
        num_layers: transformer layers.
        num_heads: attention heads (must divide ``dim``).
        max_len: largest sequence length ``M``.
        num_actions: action-type vocabulary size.
        num_surfaces: surface vocabulary size.
        num_time_freqs: harmonics :math:`H` per period in the Fourier time features.
        dropout: dropout in the transformer layers.
        time_scales: periods :math:`P_s` in seconds (default hour, day, week, 30 days).
        ffn_mult: feed-forward width as a multiple of ``dim``.
    """

    periods: Tensor

    def __init__(
        self,
        dim: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        max_len: int = 64,
        num_actions: int = 8,
        num_surfaces: int = 4,
        num_time_freqs: int = 4,
        dropout: float = 0.0,
        time_scales: Sequence[int] = DEFAULT_TIME_SCALES,
        ffn_mult: int = 4,
    ) -> None:
        super().__init__()
        for name, value in (
            ("dim", dim), ("num_layers", num_layers), ("num_heads", num_heads),
            ("max_len", max_len), ("num_actions", num_actions), ("num_surfaces", num_surfaces),
            ("num_time_freqs", num_time_freqs), ("ffn_mult", ffn_mult),
        ):  # fmt: skip
            _pos_int(value, name)
        if dim % num_heads:
            raise ConfigError(f"SequenceEncoder: num_heads={num_heads} must divide dim={dim}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, int | float)
            or not 0 <= dropout < 1
        ):
            raise ConfigError(f"SequenceEncoder: dropout must be in [0, 1), got {dropout!r}")
        scales = tuple(time_scales)
        if not scales or any(
            isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in scales
        ):
            raise ConfigError(
                f"SequenceEncoder: time_scales must be positive integer periods in seconds, "
                f"got {time_scales!r}"
            )
        self.dim = dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.max_len = max_len
        self.num_actions = num_actions
        self.num_surfaces = num_surfaces
        self.num_time_freqs = num_time_freqs
        self.dropout = float(dropout)
        self.time_scales = scales
        self.register_buffer("periods", torch.tensor(scales, dtype=torch.long), persistent=False)

        self.action_emb = nn.Embedding(num_actions, dim)
        self.surface_emb = nn.Embedding(num_surfaces, dim)
        self.pos_emb = nn.Embedding(max_len, dim)
        self.time_proj = nn.Linear(self.num_time_features, dim)
        layer = nn.TransformerEncoderLayer(
            dim, num_heads, dim_feedforward=ffn_mult * dim, dropout=dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )  # fmt: skip
        self.transformer = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False
        )
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.reset_parameters()

    @property
    def num_time_features(self) -> int:
        """Width of the concatenated time features fed to the time projection."""
        per = 2 * len(self.time_scales) * self.num_time_freqs
        return 3 * per + 2

    def reset_parameters(self) -> None:
        """Re-initialise every parameter.

        Embeddings get :math:`\\mathcal{N}(0, 0.02^2)` and the time projection
        :math:`\\mathcal{N}(0, 1 / (2 D F))` (``F`` time features), so that at
        initialisation neither outweighs the unit-norm item embedding in a token;
        the transformer and MLP get PyTorch's defaults.
        """
        for emb in (self.action_emb, self.surface_emb, self.pos_emb):
            nn.init.normal_(emb.weight, std=0.02)
        modules = list(self.modules())
        for m in modules:
            if isinstance(m, nn.Linear | nn.LayerNorm):
                m.reset_parameters()
        for m in modules:  # after the Linear pass: attention zeroes its output-projection bias
            if isinstance(m, nn.MultiheadAttention):
                m._reset_parameters()
        nn.init.normal_(self.time_proj.weight, std=(2 * self.dim * self.num_time_features) ** -0.5)
        nn.init.zeros_(self.time_proj.bias)

    def time_features(
        self, timestamp: Tensor, mask: Tensor, query_time: Tensor | None = None
    ) -> Tensor:
        """Time features ``[B, M, num_time_features]`` (zero at padded positions).

        Raises:
            GraphValidationError: real timestamps decrease along a row, or a row's
                ``query_time`` is before one of its real actions.
        """
        b, m = mask.shape
        t = torch.where(mask, timestamp.long(), 0)
        idx = torch.arange(m, device=t.device).expand(b, m)
        last_real = torch.where(mask, idx, -1).cummax(dim=1).values  # latest real index <= i
        prev = torch.cat([last_real.new_full((b, 1), -1), last_real[:, :-1]], dim=1)
        t_prev = torch.where(prev >= 0, t.gather(1, prev.clamp_min(0)), t)
        gap = torch.where(mask, t - t_prev, 0)
        if bool((gap < 0).any()):
            row = int((gap < 0).any(1).nonzero()[0, 0])
            raise GraphValidationError(
                f"SequenceEncoder: timestamps must be non-decreasing over the real actions of "
                f"each row (sorted by time); row {row} is not"
            )
        if query_time is None:
            low = torch.iinfo(torch.long).min
            query = torch.where(mask, t, low).amax(dim=1).clamp_min(0) if m else t.new_zeros(b)
        else:
            query = query_time.long().to(t.device)
        since = torch.where(mask, query[:, None] - t, 0)
        if bool((since < 0).any()):
            row = int((since < 0).any(1).nonzero()[0, 0])
            raise GraphValidationError(
                f"SequenceEncoder: query_time[{row}]={int(query[row])} is before the row's latest "
                f"real action ({int(t[row][mask[row]].max())}); actions after the query time "
                "would leak the future"
            )
        hours = float(HOUR)
        feats = torch.cat(
            [
                fourier_time_features(t, self.periods, self.num_time_freqs),
                fourier_time_features(since, self.periods, self.num_time_freqs),
                torch.log1p(since.double() / hours).float()[..., None],
                fourier_time_features(gap, self.periods, self.num_time_freqs),
                torch.log1p(gap.double() / hours).float()[..., None],
            ],
            dim=-1,
        )
        return feats * mask[..., None]

    def forward(
        self,
        item_emb: Tensor,
        action: Tensor,
        surface: Tensor,
        timestamp: Tensor,
        mask: Tensor,
        query_time: Tensor | None = None,
    ) -> Tensor:
        """Encode a batch of action sequences.

        Args:
            item_emb: ``[B, M, D]`` item embeddings from the entity encoders.
            action: ``[B, M]`` action-type ids in ``[0, num_actions)``.
            surface: ``[B, M]`` surface ids in ``[0, num_surfaces)``.
            timestamp: ``[B, M]`` integer times in seconds, non-decreasing over real actions.
            mask: ``[B, M]`` bool, True for real actions.
            query_time: ``[B]`` integer time at which each user is embedded
                (``>=`` their real timestamps); default: each row's latest real time.

        Returns:
            ``[B, M, D]`` L2-normalised embeddings after each action (zero where padded).
        """
        tokens, blocked = self._inputs(item_emb, action, surface, timestamp, mask, query_time)
        h = self.transformer(tokens, mask=blocked)
        out = F.normalize(self.mlp(h), dim=-1)
        return out * mask[..., None]

    def _inputs(self, item_emb: Tensor, action: Tensor, surface: Tensor, timestamp: Tensor,
                mask: Tensor, query_time: Tensor | None) -> tuple[Tensor, Tensor]:
        """Validated :meth:`forward` inputs as tokens ``[B, M, D]`` and the attention mask
        ``[B * heads, M, M]`` (True: not attended)."""
        if not isinstance(item_emb, Tensor) or item_emb.dim() != 3:
            got = tuple(item_emb.shape) if isinstance(item_emb, Tensor) else type(item_emb).__name__
            raise ShapeError(f"SequenceEncoder: item_emb must be [B, M, {self.dim}], got {got}")
        b, m, _ = item_emb.shape
        _check(item_emb, "item_emb", (b, m, self.dim), "float")
        mask = _check(mask, "mask", (b, m), "bool")
        action = _check(action, "action", (b, m), "int")
        surface = _check(surface, "surface", (b, m), "int")
        timestamp = _check(timestamp, "timestamp", (b, m), "int")
        if query_time is not None:
            _check(query_time, "query_time", (b,), "int")
        if m > self.max_len:
            raise ShapeError(f"SequenceEncoder: sequence length {m} exceeds max_len={self.max_len}")
        action = torch.where(mask, action.long(), 0)
        surface = torch.where(mask, surface.long(), 0)
        for ids, name, n in ((action, "action", self.num_actions),
                             (surface, "surface", self.num_surfaces)):  # fmt: skip
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n):
                raise GraphValidationError(
                    f"SequenceEncoder: {name} ids at real positions must be in [0, {n}), got "
                    f"range [{int(ids.min())}, {int(ids.max())}]"
                )
        position = (mask.long().cumsum(dim=1) - 1).clamp_min(0)
        tokens = (
            torch.where(mask[..., None], item_emb, 0.0)
            + self.action_emb(action)
            + self.surface_emb(surface)
            + self.time_proj(self.time_features(timestamp, mask, query_time))
            + self.pos_emb(position)
        )
        causal = torch.ones(m, m, dtype=torch.bool, device=mask.device).tril()
        eye = torch.eye(m, dtype=torch.bool, device=mask.device)
        allowed = causal[None] & (mask[:, None, :] | eye[None])  # [B, M(query), M(key)]
        return tokens, (~allowed).repeat_interleave(self.num_heads, dim=0)  # [B * heads, M, M]

    @staticmethod
    def user_embedding(outputs: Tensor, mask: Tensor) -> Tensor:
        """The output at each row's last real action: ``[B, M, D]`` -> ``[B, D]``.

        Raises:
            GraphValidationError: a row has no real action.
        """
        if outputs.dim() != 3 or tuple(mask.shape) != tuple(outputs.shape[:2]):
            raise ShapeError(
                f"SequenceEncoder.user_embedding: outputs must be [B, M, D] and mask [B, M], "
                f"got {tuple(outputs.shape)} and {tuple(mask.shape)}"
            )
        last = _last_real(mask, "SequenceEncoder.user_embedding")
        return outputs[torch.arange(outputs.shape[0], device=outputs.device), last]

    def encode_users(
        self,
        item_emb: Tensor,
        action: Tensor,
        surface: Tensor,
        timestamp: Tensor,
        mask: Tensor,
        query_time: Tensor | None = None,
    ) -> Tensor:
        """``[B, D]`` user embeddings: :meth:`forward` then :meth:`user_embedding`, with the
        last layer evaluated at each row's last real action only
        (:func:`~graphrep.models.layer_at.encoder_layer_at`).

        Raises:
            GraphValidationError: a row has no real action.
        """
        tokens, blocked = self._inputs(item_emb, action, surface, timestamp, mask, query_time)
        last = _last_real(mask, "SequenceEncoder.encode_users")
        *first, top = self.transformer.layers
        for layer in first:
            tokens = layer(tokens, src_mask=blocked)
        b, m = mask.shape
        rows = blocked.view(b, self.num_heads, m, m)[torch.arange(b, device=mask.device), :, last]
        h = encoder_layer_at(top, tokens, last, rows.reshape(b * self.num_heads, 1, m))
        if self.transformer.norm is not None:
            h = self.transformer.norm(h)
        return F.normalize(self.mlp(h), dim=-1)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_layers={self.num_layers}, num_heads={self.num_heads}, "
            f"max_len={self.max_len}, time_scales={self.time_scales}, "
            f"num_time_freqs={self.num_time_freqs}"
        )
