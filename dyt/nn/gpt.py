"""A small GPT, nanoGPT-shaped, in two styles, with the norm chosen per position.

- ``gpt2``: LayerNorm, GELU MLP, learned positions, biases.
- ``llama``: RMSNorm, SwiGLU MLP, rotary positions, no biases.

``mlp`` overrides the style's MLP (``gelu`` or ``swiglu``, the same parameter count either way), so the
MLP's part in a result can be tested alone (e.g. a LLaMA-style model with a GELU MLP).

Three norm positions: before attention (``attn``), before the MLP (``mlp``) and
after the last block (``final``). With ``norm="dyt"`` every one is a DyT with
its own alpha init, built directly (no swap afterwards). ``embed_scale`` adds
the paper's learnable scalar after the token embedding, initialised to
sqrt(n_embd): with GPT-2's N(0, 0.02) embeddings, DyT's tanh otherwise sees
inputs far smaller than LayerNorm would rescale them to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dyt.nn.norms import create_norm, has_alpha


@dataclass
class GPTConfig:
    vocab_size: int = 256
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    style: str = "gpt2"  # gpt2 | llama
    norm: str = "ln"  # a name of dyt.nn.norms: ln | rmsnorm | dyt or a DyT variant (derf, dyisru, hardtanh, ...)
    alpha_attn: float = 0.5
    alpha_mlp: float = 0.5
    alpha_final: float = 0.5
    embed_scale: bool = False
    fused: bool = True  # DyT: the fused op where it applies (False: the reference formula, for debugging)
    mlp: str = "auto"  # auto (the style's: gelu for gpt2, swiglu for llama) | gelu | swiglu

    @property
    def bias(self) -> bool:
        return self.style == "gpt2"

    @property
    def swiglu(self) -> bool:
        if self.mlp not in ("auto", "gelu", "swiglu"):
            raise ValueError(f"unknown GPT mlp {self.mlp!r}: choose auto, gelu or swiglu")
        return self.style == "llama" if self.mlp == "auto" else self.mlp == "swiglu"


def make_norm(cfg: GPTConfig, alpha_init: float) -> nn.Module:
    """The norm of one position: ``dyt.nn.norms.create_norm`` (LayerNorm, RMSNorm, DyT or a variant)."""
    extra = {"fused": cfg.fused} if has_alpha(cfg.norm) else {}
    return create_norm(cfg.norm, cfg.n_embd, bias=cfg.bias, alpha_init=alpha_init, **extra)


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels of ``x`` (B, H, T, D) by position-dependent angles."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be a multiple of n_head"
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.proj.residual_out = True

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        if rope is not None:
            q, k = rotary(q, *rope), rotary(k, *rope)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.swiglu = cfg.swiglu
        hidden = int(8 * cfg.n_embd / 3 / 16 + 0.999) * 16 if self.swiglu else 4 * cfg.n_embd  # same params either way
        self.fc = nn.Linear(cfg.n_embd, 2 * hidden if self.swiglu else hidden, bias=cfg.bias)
        self.proj = nn.Linear(hidden, cfg.n_embd, bias=cfg.bias)
        self.proj.residual_out = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        if self.swiglu:
            gate, up = h.chunk(2, dim=-1)
            return self.proj(F.silu(gate) * up)
        return self.proj(F.gelu(h))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.norm_attn = make_norm(cfg, cfg.alpha_attn)
        self.attn = CausalSelfAttention(cfg)
        self.norm_mlp = make_norm(cfg, cfg.alpha_mlp)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, rope):
        x = x + self.drop(self.attn(self.norm_attn(x), rope))
        return x + self.drop(self.mlp(self.norm_mlp(x)))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        if cfg.style not in ("gpt2", "llama"):
            raise ValueError(f"unknown GPT style {cfg.style!r}: choose gpt2 or llama")
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.style == "gpt2" else None
        self.embed_scale = nn.Parameter(torch.tensor(math.sqrt(cfg.n_embd))) if cfg.embed_scale else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm_final = make_norm(cfg, cfg.alpha_final)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        if cfg.style == "llama":
            head_dim = cfg.n_embd // cfg.n_head
            inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
            angles = torch.outer(torch.arange(cfg.block_size).float(), inv_freq)  # (T, D/2)
            self.register_buffer("rope_cos", angles.cos(), persistent=False)
            self.register_buffer("rope_sin", angles.sin(), persistent=False)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        """GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer)."""
        if isinstance(module, nn.Linear):
            std = 0.02 / math.sqrt(2 * self.cfg.n_layer) if getattr(module, "residual_out", False) else 0.02
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 0.0, 0.02)

    def no_weight_decay(self) -> set[str]:
        return set()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) -> next-token logits (B, T, vocab)."""
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens is longer than block_size {self.cfg.block_size}")
        x = self.tok_emb(idx)  # (B, T, C)
        if self.embed_scale is not None:
            x = x * self.embed_scale
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(T, device=idx.device))
        x = self.drop(x)
        rope = (self.rope_cos[:T], self.rope_sin[:T]) if self.pos_emb is None else None
        for block in self.blocks:
            x = block(x, rope)
        return self.head(self.norm_final(x))

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 0.8, top_k: int | None = 40,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        for _ in range(max_new_tokens):
            logits = self(idx[:, -self.cfg.block_size:])[:, -1, :] / temperature
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
        return idx
