"""Transformer architectures in plain PyTorch, written after the transformers library's eager
implementations (v4.3x: modeling_gpt2, modeling_bert, modeling_llama, modeling_mistral,
modeling_t5, modeling_vit), for machines where transformers is not installed (this project's
CPU machine has only Debian's PyTorch 1.13). They keep what matters to an exporter with symbolic
dims: shapes read from tensors (`x.size()[:-1] + (heads, dim)` views), position ids from arange,
causal and padding masks built from the sequence length, buffers sliced to it (GPT-2's causal
bias, BERT's position ids, LLaMA's rotary cache), grouped-query heads repeated by expand and
reshape, Mistral's sliding window by triu/tril, T5's relative-position buckets by log and where,
ViT's class token expanded to the batch. Weights are random (seeded by the caller).

They are not the library's code: scripts/real_models_dynamic.py exports the library's models
where transformers is installed; these run with `--source modules` (TorchScript exporter).

Each builder returns (module, sample inputs, input names, output names), as scripts/real_models.py's.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from real_models import ids, image, padded_mask

MIN = torch.finfo(torch.float32).min
TINY = dict(hidden=32, heads=4, layers=2, vocab=100, positions=64, inner=64)
# GPT-2 small's sizes (124M parameters), for `--size full` (bench/dynamic_sweep.ts's model).
FULL = dict(hidden=768, heads=12, layers=12, vocab=50257, positions=1024, inner=3072)


class Conv1D(nn.Module):
    """GPT-2's transposed linear: addmm over the flattened rows, then the shape back."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.1)
        self.bias = nn.Parameter(torch.randn(nf) * 0.1)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        e, p = c["hidden"], c["positions"]
        self.heads, self.dim = c["heads"], e // c["heads"]
        self.register_buffer("bias", torch.tril(torch.ones((p, p), dtype=torch.bool)).view(1, 1, p, p), persistent=False)
        self.ln_1, self.ln_2 = nn.LayerNorm(e), nn.LayerNorm(e)
        self.c_attn, self.c_proj = Conv1D(3 * e, e), Conv1D(e, e)
        self.c_fc, self.mlp_proj = Conv1D(c["inner"], e), Conv1D(e, c["inner"])
        self.e = e

    def split(self, t):
        return t.view(t.size()[:-1] + (self.heads, self.dim)).permute(0, 2, 1, 3)

    def attn(self, h, mask):
        q, k, v = self.c_attn(h).split(self.e, dim=2)
        q, k, v = self.split(q), self.split(k), self.split(v)
        w = torch.matmul(q, k.transpose(-1, -2)) / torch.full([], v.size(-1) ** 0.5, dtype=q.dtype)
        ql, kl = q.size(-2), k.size(-2)
        causal = self.bias[:, :, kl - ql:kl, :kl]
        w = torch.where(causal, w, torch.full([], MIN, dtype=w.dtype)) + mask
        o = torch.matmul(F.softmax(w, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return self.c_proj(o.view(o.size()[:-2] + (self.e,)))

    def forward(self, h, mask):
        h = h + self.attn(self.ln_1(h), mask)
        return h + self.mlp_proj(gelu_new(self.c_fc(self.ln_2(h))))


class GPT2(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(c["vocab"], c["hidden"]), nn.Embedding(c["positions"], c["hidden"])
        self.blocks = nn.ModuleList(GPT2Block(c) for _ in range(c["layers"]))
        self.ln_f = nn.LayerNorm(c["hidden"])

    def forward(self, input_ids, attention_mask):
        shape = input_ids.size()
        input_ids = input_ids.view(-1, shape[-1])
        pos = torch.arange(0, shape[-1], dtype=torch.long).unsqueeze(0)
        mask = attention_mask.view(input_ids.shape[0], -1)[:, None, None, :].to(torch.float32)
        mask = (1.0 - mask) * MIN
        h = self.wte(input_ids) + self.wpe(pos)
        for b in self.blocks:
            h = b(h, mask)
        return F.linear(self.ln_f(h), self.wte.weight)  # tied head


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        e = c["hidden"]
        self.heads, self.dim, self.e = c["heads"], e // c["heads"], e
        self.q, self.k, self.v, self.o = (nn.Linear(e, e) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(e, eps=1e-12), nn.LayerNorm(e, eps=1e-12)
        self.up, self.down = nn.Linear(e, c["inner"]), nn.Linear(c["inner"], e)

    def scores(self, x):
        return x.view(x.size()[:-1] + (self.heads, self.dim)).permute(0, 2, 1, 3)

    def forward(self, h, mask):
        q, k, v = self.scores(self.q(h)), self.scores(self.k(h)), self.scores(self.v(h))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dim) + mask
        ctx = torch.matmul(F.softmax(s, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        ctx = ctx.view(ctx.size()[:-2] + (self.e,))
        h = self.ln1(self.o(ctx) + h)
        return self.ln2(self.down(F.gelu(self.up(h))) + h)


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        e = c["hidden"]
        self.word, self.pos, self.token_type = nn.Embedding(c["vocab"], e), nn.Embedding(c["positions"], e), nn.Embedding(2, e)
        self.register_buffer("position_ids", torch.arange(c["positions"]).expand((1, -1)), persistent=False)
        self.ln = nn.LayerNorm(e, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(c) for _ in range(c["layers"]))
        self.pooler = nn.Linear(e, e)

    def forward(self, input_ids, attention_mask, token_type_ids):
        seq = input_ids.size()[1]
        pos = self.position_ids[:, 0:seq]
        h = self.ln(self.word(input_ids) + self.token_type(token_type_ids) + self.pos(pos))
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * MIN
        for layer in self.layers:
            h = layer(h, mask)
        return h, torch.tanh(self.pooler(h[:, 0]))


class RMSNorm(nn.Module):
    def __init__(self, e, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.1 * torch.randn(e))
        self.eps = eps

    def forward(self, h):
        var = h.to(torch.float32).pow(2).mean(-1, keepdim=True)
        return self.weight * (h * torch.rsqrt(var + self.eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(h, n_rep):
    b, kvh, s, d = h.shape
    if n_rep == 1:
        return h
    return h[:, :, None, :, :].expand(b, kvh, n_rep, s, d).reshape(b, kvh * n_rep, s, d)


class LlamaLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        e = c["hidden"]
        self.heads, self.kv, self.dim, self.e = c["heads"], c["kv_heads"], e // c["heads"], e
        self.q = nn.Linear(e, e, bias=c["qkv_bias"])
        self.k = nn.Linear(e, self.kv * self.dim, bias=c["qkv_bias"])
        self.v = nn.Linear(e, self.kv * self.dim, bias=c["qkv_bias"])
        self.o = nn.Linear(e, e, bias=False)
        self.gate, self.up = nn.Linear(e, c["inner"], bias=False), nn.Linear(e, c["inner"], bias=False)
        self.down = nn.Linear(c["inner"], e, bias=False)
        self.n1, self.n2 = RMSNorm(e), RMSNorm(e)

    def forward(self, h, mask, cos, sin):
        b, s, _ = h.size()
        x = self.n1(h)
        q = self.q(x).view(b, s, self.heads, self.dim).transpose(1, 2)
        k = self.k(x).view(b, s, self.kv, self.dim).transpose(1, 2)
        v = self.v(x).view(b, s, self.kv, self.dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, self.heads // self.kv), repeat_kv(v, self.heads // self.kv)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.dim) + mask
        w = F.softmax(w, dim=-1, dtype=torch.float32)
        o = torch.matmul(w, v).transpose(1, 2).contiguous().reshape(b, s, self.e)
        h = h + self.o(o)
        x = self.n2(h)
        return h + self.down(F.silu(self.gate(x)) * self.up(x))


class Llama(nn.Module):
    """LLaMA (and Qwen2 with qkv biases); Mistral with a sliding window."""

    def __init__(self, c):
        super().__init__()
        e, d = c["hidden"], c["hidden"] // c["heads"]
        self.embed = nn.Embedding(c["vocab"], e)
        self.layers = nn.ModuleList(LlamaLayer(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(e)
        self.head = nn.Linear(e, c["vocab"], bias=False)
        self.window = c.get("window")
        inv_freq = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
        t = torch.arange(c["positions"], dtype=inv_freq.dtype)
        emb = torch.cat((torch.outer(t, inv_freq),) * 2, dim=-1)
        self.register_buffer("cos_cached", emb.cos(), persistent=False)
        self.register_buffer("sin_cached", emb.sin(), persistent=False)

    def causal(self, b, tgt):
        if self.window is None:
            mask = torch.full((tgt, tgt), MIN)
            cond = torch.arange(mask.size(-1))
            mask.masked_fill_(cond < (cond + 1).view(mask.size(-1), 1), 0)
        else:
            ones = torch.full((tgt, tgt), fill_value=1)
            band = torch.triu(torch.tril(ones, diagonal=0), diagonal=-self.window)
            mask = torch.log(band).to(torch.float32)  # log(0) = -inf outside the band
        return mask[None, None, :, :].expand(b, 1, tgt, tgt)

    def forward(self, input_ids, attention_mask):
        b, s = input_ids.shape
        pos = torch.arange(0, s, dtype=torch.long).unsqueeze(0).view(-1, s)
        cos, sin = self.cos_cached[:s], self.sin_cached[:s]
        cos, sin = cos[pos].unsqueeze(1), sin[pos].unsqueeze(1)
        pad = attention_mask[:, None, None, :].expand(b, 1, s, s).to(torch.float32)
        inverted = 1.0 - pad
        mask = inverted.masked_fill(inverted.to(torch.bool), MIN) + self.causal(b, s)
        h = self.embed(input_ids)
        for layer in self.layers:
            h = layer(h, mask, cos, sin)
        return self.head(self.norm(h))


def bucket(rel, num_buckets, max_distance):
    """T5's bidirectional relative-position bucket."""
    num_buckets //= 2
    out = (rel > 0).to(torch.long) * num_buckets
    rel = torch.abs(rel)
    max_exact = num_buckets // 2
    small = rel < max_exact
    large = max_exact + (torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return out + torch.where(small, rel, large)


class T5Layer(nn.Module):
    def __init__(self, c, has_bias):
        super().__init__()
        e = c["hidden"]
        self.heads, self.dim, self.e = c["heads"], e // c["heads"], e
        self.q, self.k, self.v, self.o = (nn.Linear(e, e, bias=False) for _ in range(4))
        self.wi, self.wo = nn.Linear(e, c["inner"], bias=False), nn.Linear(c["inner"], e, bias=False)
        self.n1, self.n2 = RMSNorm(e), RMSNorm(e)
        self.buckets, self.max_distance = 8, 16
        self.rel = nn.Embedding(self.buckets, self.heads) if has_bias else None

    def bias(self, q_len, k_len):
        ctx = torch.arange(q_len, dtype=torch.long)[:, None]
        mem = torch.arange(k_len, dtype=torch.long)[None, :]
        values = self.rel(bucket(mem - ctx, self.buckets, self.max_distance))
        return values.permute([2, 0, 1]).unsqueeze(0)

    def forward(self, h, mask, pos_bias):
        b, s = h.shape[:2]
        x = self.n1(h)
        shape = lambda t: t.view(b, -1, self.heads, self.dim).transpose(1, 2)  # noqa: E731
        q, k, v = shape(self.q(x)), shape(self.k(x)), shape(self.v(x))
        if pos_bias is None:
            pos_bias = self.bias(s, s) + mask
        w = F.softmax(torch.matmul(q, k.transpose(3, 2)) + pos_bias, dim=-1)
        o = torch.matmul(w, v).transpose(1, 2).contiguous().view(b, -1, self.e)
        h = h + self.o(o)
        return h + self.wo(F.relu(self.wi(self.n2(h)))), pos_bias


class T5Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed = nn.Embedding(c["vocab"], c["hidden"])
        self.layers = nn.ModuleList(T5Layer(c, i == 0) for i in range(c["layers"]))
        self.norm = RMSNorm(c["hidden"])

    def forward(self, input_ids, attention_mask):
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * MIN
        h, bias = self.embed(input_ids), None
        for layer in self.layers:
            h, bias = layer(h, mask, bias)
        return self.norm(h)


class ViTLayer(BertLayer):
    """ViT's pre-norm block: BERT's attention and MLP with the norms before them, no mask."""

    def forward(self, h):
        x = self.ln1(h)
        q, k, v = self.scores(self.q(x)), self.scores(self.k(x)), self.scores(self.v(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dim)
        ctx = torch.matmul(F.softmax(s, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        h = h + self.o(ctx.view(ctx.size()[:-2] + (self.e,)))
        return h + self.down(F.gelu(self.up(self.ln2(h))))


class ViT(nn.Module):
    def __init__(self, c, size=32, patch=8):
        super().__init__()
        e = c["hidden"]
        self.patch = nn.Conv2d(3, e, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, e) * 0.1)
        self.pos = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, e) * 0.1)
        self.layers = nn.ModuleList(ViTLayer(c) for _ in range(c["layers"]))
        self.norm = nn.LayerNorm(e, eps=1e-12)

    def forward(self, pixel_values):
        b = pixel_values.shape[0]
        x = self.patch(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls.expand(b, -1, -1), x), dim=1) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


def text(model, with_types=False, batch=2, seq=12):
    args = [ids(batch, seq, TINY["vocab"], 1), padded_mask(batch, seq)]
    names = ["input_ids", "attention_mask"]
    if with_types:
        tt = torch.zeros(batch, seq, dtype=torch.int64)
        tt[:, seq // 2:] = 1
        args.append(tt)
        names.append("token_type_ids")
    return model, tuple(args), names


def gpt2_like(size):
    m, a, n = text(GPT2(TINY if size == "tiny" else FULL))
    return m, a, n, ["logits"]


def bert_like(size):
    m, a, n = text(Bert(TINY), with_types=True)
    return m, a, n, ["last_hidden_state", "pooler_output"]


def llama_like(size):
    m, a, n = text(Llama(dict(TINY, kv_heads=2, qkv_bias=False)))
    return m, a, n, ["logits"]


def qwen2_like(size):
    m, a, n = text(Llama(dict(TINY, kv_heads=1, qkv_bias=True)))
    return m, a, n, ["logits"]


def mistral_like(size):
    m, a, n = text(Llama(dict(TINY, kv_heads=2, qkv_bias=False, window=4)))
    return m, a, n, ["logits"]


def t5_encoder_like(size):
    m, a, n = text(T5Encoder(TINY))
    return m, a, n, ["last_hidden_state"]


def vit_like(size):
    return ViT(TINY), (image(2, 32, 1),), ["pixel_values"], ["last_hidden_state"]


MODULES = {f.__name__: f for f in (gpt2_like, bert_like, llama_like, qwen2_like, mistral_like, t5_encoder_like, vit_like)}
