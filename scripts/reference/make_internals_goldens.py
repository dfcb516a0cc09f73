#!/usr/bin/env python3
"""Float64 references for attention_rollout, attention_flow and alti_logit, written from the papers'
definitions on transformers' own float64 forward (output_attentions, forward hooks), independently of the C++
code (native/attribution/attention_graph.cc, alti.cc): numpy products for rollout, networkx max-flow for flow,
per-token loops for ALTI.

    /opt/inseq-py/venv/bin/python scripts/reference/make_internals_goldens.py

Writes test/fixtures/internals-golden/goldens.json: per case the token ids it used and, per method, rows[step][pos]
(the query of each generated step over every position of source ++ target; 0 where not causal).
"""

from __future__ import annotations

from functools import partial
import json
from pathlib import Path

import networkx as nx
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test" / "fixtures" / "internals-golden" / "goldens.json"

DECODER_CASES = [
    ("gpt2", "He was", "He was in the park with"),
    ("llama", "He was", "He was in the park with"),
    ("gpt_neox", "He was", "He was in the park"),
    ("gemma2", "He was", "He was in the park"),
    ("olmo2", "He was", "He was in the park"),
]
SEQ2SEQ_CASES = [(m, "So Ben too", "And that'") for m in ("bart", "mbart", "marian", "m2m_100", "t5", "t5-v1_1")]


def residual_attention(att: np.ndarray) -> np.ndarray:
    """Abnar & Zuidema: head average plus the identity, rows renormalised. att [heads, n, n]."""
    a = att.mean(0) + np.eye(att.shape[-1])
    return a / a.sum(-1, keepdims=True)


def rollout_rows(mats: list[np.ndarray], queries: list[int]) -> np.ndarray:
    joint = mats[0]
    for m in mats[1:]:
        joint = m @ joint
    return joint[queries]


def flow_rows(mats: list[np.ndarray], queries: list[int]) -> np.ndarray:
    """Max flow from each input node (layer 0) to each query's top node; mats[l][i, k]: capacity (l, k) -> (l+1, i)."""
    n = mats[0].shape[0]
    g = nx.DiGraph()
    for l, m in enumerate(mats):
        for i in range(n):
            for k in range(n):
                if m[i, k] > 0:
                    g.add_edge((l, k), (l + 1, i), capacity=float(m[i, k]))
    top = len(mats)
    out = np.zeros((len(queries), n))
    for qi, q in enumerate(queries):
        for j in range(n):
            if (0, j) in g and (top, q) in g and nx.has_path(g, (0, j), (top, q)):
                out[qi, j] = nx.maximum_flow_value(g, (0, j), (top, q))
    return out


def seq2seq_graph(enc: list[np.ndarray], self_att: list[np.ndarray], cross: list[np.ndarray]):
    """The encoder-decoder graph: encoder blocks over the source; per decoder block a self-attention node per target
    position and a cross node mixing it (0.5) with the encoder output (0.5 * A_cross)."""
    s, t = enc[0].shape[-1], self_att[0].shape[-1]
    g = nx.DiGraph()
    for l, a in enumerate(enc):
        m = residual_attention(a)
        for i in range(s):
            for k in range(s):
                g.add_edge(("enc", l, k), ("enc", l + 1, i), capacity=float(m[i, k]))
    top_enc = len(enc)
    for l, (sa, ca) in enumerate(zip(self_att, cross)):
        m = residual_attention(sa)
        c = ca.mean(0)
        for i in range(t):
            for k in range(i + 1):
                if m[i, k] > 0:
                    g.add_edge(("dec", l, k), ("self", l + 1, i), capacity=float(m[i, k]))
            g.add_edge(("self", l + 1, i), ("dec", l + 1, i), capacity=0.5)
            for k in range(s):
                g.add_edge(("enc", top_enc, k), ("dec", l + 1, i), capacity=0.5 * float(c[i, k]))
    return g


def seq2seq_rollout(enc, self_att, cross, queries):
    s, t = enc[0].shape[-1], self_att[0].shape[-1]
    e = np.eye(s)
    for a in enc:
        e = residual_attention(a) @ e
    d = np.concatenate([np.zeros((t, s)), np.eye(t)], 1)  # [t, s + t] the decoder states over source ++ target
    enc_out = np.concatenate([e, np.zeros((s, t))], 1)    # [s, s + t]
    for sa, ca in zip(self_att, cross):
        d = residual_attention(sa) @ d
        d = 0.5 * d + 0.5 * (ca.mean(0) @ enc_out)
    return d[queries]


def seq2seq_flow(enc, self_att, cross, queries):
    s, t = enc[0].shape[-1], self_att[0].shape[-1]
    g = seq2seq_graph(enc, self_att, cross)
    top = len(self_att)
    inputs = [("enc", 0, k) for k in range(s)] + [("dec", 0, k) for k in range(t)]
    out = np.zeros((len(queries), s + t))
    for qi, q in enumerate(queries):
        sink = ("dec", top, q)
        for j, u in enumerate(inputs):
            if u in g and nx.has_path(g, u, sink):
                out[qi, j] = nx.maximum_flow_value(g, u, sink)
    return out


def alti_logit_rows(blocks, final_x, gamma, eps, rms, unembed, targets, contrast, queries):
    """blocks: per layer dict(x [n,h], A [H,n,n], U [H,n,h] (values through each head's output projection, post
    norm scale applied per query via 'post' [n,h] or None), o [n,h] the attention output added to x)."""
    n = final_x.shape[0]
    R = np.eye(n)
    acc = np.zeros((len(queries), n))
    for b in blocks:
        x, A, U, o, post = b["x"], b["A"], b["U"], b["o"], b["post"]
        C = np.zeros((n, n))
        dlog = np.zeros((len(queries), n))
        for i in range(n):
            y = x[i] + o[i]
            c = np.zeros(n)
            for j in range(i + 1):
                T = sum(A[h, i, j] * U[h, j] for h in range(A.shape[0]))
                if post is not None:
                    T = T * post[i]
                if i in queries:
                    qi = queries.index(i)
                    u = unembed[targets[qi]] - (unembed[contrast[qi]] if contrast is not None else 0)
                    w = gamma * u
                    if not rms:
                        w = w - w.mean()
                    dlog[qi, j] = T @ w
                Tr = T + (x[i] if j == i else 0)
                c[j] = max(0.0, np.abs(y).sum() - np.abs(y - Tr).sum())
            C[i] = c / c.sum() if c.sum() > 0 else c
        acc += dlog @ R
        R = C @ R
    xf = final_x[queries]
    var = (xf**2).mean(-1) if rms else xf.var(-1)
    return acc / np.sqrt(var + eps)[:, None]


def centre(v):
    return v - v.mean(-1, keepdims=True)


def alti_sub(x, A, U, y, ln, merged, causal):
    """One attention sub-block of an encoder-decoder, per query i: T_ij = sum_h A[h,i,j] U[h,j]; the residual x_i is
    merged into T_ii (self-attention) or is a key of its own, column 0 (cross-attention). ln = (gamma, sigma[q]) of a
    LayerNorm after the residual sum (post-LN), linearised at the query: T' = gamma * centre(T) / sigma_i.
    Returns C [q, keys (+1)] (rows normalised) and T' [q, k, h] without the residual."""
    q, k = A.shape[1], A.shape[2]
    lin = (lambda v, i: v) if ln is None else (lambda v, i: ln[0] * centre(v) / ln[1][i])
    Ts = np.zeros((q, k, x.shape[1]))
    C = np.zeros((q, k if merged else k + 1))
    for i in range(q):
        terms = []
        for j in range(k):
            T = sum(A[h, i, j] * U[h, j] for h in range(A.shape[0]))
            Ts[i, j] = lin(T, i)
            terms.append(lin(T + (x[i] if merged and j == i else 0), i))
        if not merged:
            terms = [lin(x[i], i)] + terms
        c = np.zeros(len(terms))
        for j, Tr in enumerate(terms):
            if causal and j > i:
                continue
            c[j] = max(0.0, np.abs(y[i]).sum() - np.abs(y[i] - Tr).sum())
        C[i] = c / c.sum() if c.sum() > 0 else c
    return C, Ts


def capture_output(caps, key):
    """A forward hook that keeps a module's output (its first, if a tuple), batch row 0, as caps[key]."""
    def hook(mod, args, out):
        caps[key] = (out[0] if isinstance(out, tuple) else out)[0].detach().numpy()
    return hook


def capture_input(caps, key):
    """A forward pre-hook (with_kwargs=True) that keeps a module's hidden-states input, batch row 0, as caps[key]."""
    def hook(mod, args, kwargs):
        caps[key] = (args[0] if args else kwargs["hidden_states"])[0].detach().numpy()
    return hook


def seq2seq_alti_logit(model, src, tgt, queries, targets, contrast):
    """ALTI-logit of a BART-family encoder-decoder in float64 (see docs/attribution.md): source ++ target columns."""
    cfg = model.config
    pre = cfg.model_type in ("mbart", "m2m_100")
    enc_layers, dec_layers = model.model.encoder.layers, model.model.decoder.layers
    caps, hooks = {}, []

    put, put_in = partial(capture_output, caps), partial(capture_input, caps)

    for side, layers in (("enc", enc_layers), ("dec", dec_layers)):
        for l, layer in enumerate(layers):
            hooks.append(layer.register_forward_pre_hook(put_in((side, l, "x")), with_kwargs=True))
            hooks.append(layer.self_attn.v_proj.register_forward_hook(put((side, l, "v"))))
            hooks.append(layer.self_attn.register_forward_hook(put((side, l, "o"))))
            hooks.append(layer.self_attn_layer_norm.register_forward_pre_hook(put_in((side, l, "sa_in")), with_kwargs=True))
            hooks.append(layer.self_attn_layer_norm.register_forward_hook(put((side, l, "sa_out"))))
            hooks.append(layer.final_layer_norm.register_forward_pre_hook(put_in((side, l, "ff_in")), with_kwargs=True))
            if side == "dec":
                hooks.append(layer.encoder_attn.v_proj.register_forward_hook(put((side, l, "cv"))))
                hooks.append(layer.encoder_attn.register_forward_hook(put((side, l, "co"))))
                hooks.append(layer.encoder_attn_layer_norm.register_forward_pre_hook(put_in((side, l, "ca_in")), with_kwargs=True))
                hooks.append(layer.encoder_attn_layer_norm.register_forward_hook(put((side, l, "ca_out"))))
    if pre:
        hooks.append(model.model.decoder.layer_norm.register_forward_pre_hook(put_in(("final",)), with_kwargs=True))
    with torch.no_grad():
        out = model(input_ids=torch.tensor([src]), decoder_input_ids=torch.tensor([tgt]), output_attentions=True)
    for h in hooks:
        h.remove()
    enc_out = out.encoder_last_hidden_state[0].numpy()
    s, t = len(src), len(tgt)
    n = s + t

    def U_of(v, attn):
        H = attn.num_heads if hasattr(attn, "num_heads") else cfg.encoder_attention_heads
        hd = v.shape[1] // H
        W = attn.out_proj.weight.detach().numpy()  # [out, in]
        return np.stack([v[:, h * hd:(h + 1) * hd] @ W[:, h * hd:(h + 1) * hd].T for h in range(H)])

    def ln_at(norm, z):  # (gamma, sigma per row) of a LayerNorm at its input z
        return norm.weight.detach().numpy(), np.sqrt(z.var(-1) + norm.eps)

    def self_sub(side, l, layer, attentions, keep_t):  # one self-attention sub-block: (C, Ts, its output)
        x, o = caps[(side, l, "x")], caps[(side, l, "o")]
        A = attentions[l][0].numpy()
        U = U_of(caps[(side, l, "v")], layer.self_attn)
        if pre:
            C, Ts = alti_sub(x, A, U, x + o, None, True, keep_t)
            return C, Ts, x + o
        y = caps[(side, l, "sa_out")]
        C, Ts = alti_sub(x, A, U, y, ln_at(layer.self_attn_layer_norm, x + o), True, keep_t)
        return C, Ts, y

    R_enc = np.concatenate([np.eye(s), np.zeros((s, t))], 1)  # [s, n]
    for l, layer in enumerate(enc_layers):
        C, _, _ = self_sub("enc", l, layer, out.encoder_attentions, False)
        R_enc = C @ R_enc
    # each query's direction at the decoder output, then pulled back through the post-LNs (post-LN models)
    lm = model.get_output_embeddings().weight.detach().numpy()
    u = lm[targets] - (lm[contrast] if contrast is not None else 0)  # [S, h]
    if pre:
        fn = model.model.decoder.layer_norm
        g = centre(fn.weight.detach().numpy() * u) / ln_at(fn, caps[("final",)][queries])[1][:, None]
    else:
        g = u
    def pull_back(norm, key, g):  # a post-LN linearised at the queries' inputs, applied to their directions
        gam, sig = ln_at(norm, caps[key])
        return centre(gam * g) / sig[queries][:, None]

    L = len(dec_layers)
    g_self, g_cross = [None] * L, [None] * L
    for l in reversed(range(L)):
        layer = dec_layers[l]
        if not pre:  # the FFN's post-LN, then this layer's sub-blocks' outputs
            g = pull_back(layer.final_layer_norm, ("dec", l, "ff_in"), g)
        g_cross[l] = g
        if not pre:
            g = pull_back(layer.encoder_attn_layer_norm, ("dec", l, "ca_in"), g)
        g_self[l] = g
        if not pre:
            g = pull_back(layer.self_attn_layer_norm, ("dec", l, "sa_in"), g)
    R_dec = np.concatenate([np.zeros((t, s)), np.eye(t)], 1)  # [t, n]
    acc = np.zeros((len(queries), n))
    for l, layer in enumerate(dec_layers):
        C, Ts, xc = self_sub("dec", l, layer, out.decoder_attentions, True)
        acc += np.einsum("qkh,qh->qk", Ts[queries], g_self[l]) @ R_dec
        R_dec = C @ R_dec
        co = caps[("dec", l, "co")]
        A = out.cross_attentions[l][0].numpy()
        U = U_of(caps[("dec", l, "cv")], layer.encoder_attn)
        if pre:
            C, Ts = alti_sub(xc, A, U, xc + co, None, False, False)
        else:
            C, Ts = alti_sub(xc, A, U, caps[("dec", l, "ca_out")], ln_at(layer.encoder_attn_layer_norm, xc + co), False, False)
        acc += np.einsum("qkh,qh->qk", Ts[queries], g_cross[l]) @ R_enc
        R_dec = C[:, :1] * R_dec + C[:, 1:] @ R_enc
    return acc


def t5_alti_logit(model, src, tgt, queries, targets, contrast):
    """ALTI-logit of T5 in float64: pre-RMSNorm blocks without biases (exact split), the relative position bias inside
    the weights, the decoder's final RMSNorm linearised at the query, d_model**-0.5 before a tied head."""
    cfg = model.config
    caps, hooks = {}, []

    put, put_in = partial(capture_output, caps), partial(capture_input, caps)

    for side, stack in (("enc", model.encoder), ("dec", model.decoder)):
        for l, block in enumerate(stack.block):
            hooks.append(block.layer[0].register_forward_pre_hook(put_in((side, l, "x")), with_kwargs=True))
            hooks.append(block.layer[0].SelfAttention.v.register_forward_hook(put((side, l, "v"))))
            hooks.append(block.layer[0].SelfAttention.register_forward_hook(put((side, l, "o"))))
            if side == "dec":
                hooks.append(block.layer[1].register_forward_pre_hook(put_in((side, l, "xc")), with_kwargs=True))
                hooks.append(block.layer[1].EncDecAttention.v.register_forward_hook(put((side, l, "cv"))))
                hooks.append(block.layer[1].EncDecAttention.register_forward_hook(put((side, l, "co"))))
    hooks.append(model.decoder.final_layer_norm.register_forward_pre_hook(put_in(("final",)), with_kwargs=True))
    with torch.no_grad():
        out = model(input_ids=torch.tensor([src]), decoder_input_ids=torch.tensor([tgt]), output_attentions=True)
    for h in hooks:
        h.remove()
    s, t = len(src), len(tgt)
    n = s + t
    H, dkv = cfg.num_heads, cfg.d_kv

    def U_of(v, attn):
        W = attn.o.weight.detach().numpy()  # [d, H * d_kv]
        return np.stack([v[:, h * dkv:(h + 1) * dkv] @ W[:, h * dkv:(h + 1) * dkv].T for h in range(H)])

    R_enc = np.concatenate([np.eye(s), np.zeros((s, t))], 1)
    for l, block in enumerate(model.encoder.block):
        x, o = caps[("enc", l, "x")], caps[("enc", l, "o")]
        C, _ = alti_sub(x, out.encoder_attentions[l][0].numpy(), U_of(caps[("enc", l, "v")], block.layer[0].SelfAttention), x + o, None, True, False)
        R_enc = C @ R_enc
    lm = model.get_output_embeddings().weight.detach().numpy()
    u = lm[targets] - (lm[contrast] if contrast is not None else 0)
    if getattr(cfg, "scale_decoder_outputs", cfg.tie_word_embeddings):
        u = u * cfg.d_model**-0.5
    xf = caps[("final",)][queries]
    g = model.decoder.final_layer_norm.weight.detach().numpy() * u / np.sqrt((xf**2).mean(-1) + cfg.layer_norm_epsilon)[:, None]
    R_dec = np.concatenate([np.zeros((t, s)), np.eye(t)], 1)
    acc = np.zeros((len(queries), n))
    for l, block in enumerate(model.decoder.block):
        x, o = caps[("dec", l, "x")], caps[("dec", l, "o")]
        C, Ts = alti_sub(x, out.decoder_attentions[l][0].numpy(), U_of(caps[("dec", l, "v")], block.layer[0].SelfAttention), x + o, None, True, True)
        acc += np.einsum("qkh,qh->qk", Ts[queries], g) @ R_dec
        R_dec = C @ R_dec
        xc, co = caps[("dec", l, "xc")], caps[("dec", l, "co")]
        assert np.allclose(xc, x + o)
        C, Ts = alti_sub(xc, out.cross_attentions[l][0].numpy(), U_of(caps[("dec", l, "cv")], block.layer[1].EncDecAttention), xc + co, None, False, False)
        acc += np.einsum("qkh,qh->qk", Ts[queries], g) @ R_enc
        R_dec = C[:, :1] * R_dec + C[:, 1:] @ R_enc
    return acc


def capture_blocks(name, model, ids):
    """A float64 forward with hooks: per block x, A, U, o, post."""
    cfg = model.config
    caps: dict[int, dict] = {}
    hooks = []
    if name == "gpt2":
        layers = model.transformer.h
        final_norm = model.transformer.ln_f
    elif name == "gpt_neox":
        layers = model.gpt_neox.layers
        final_norm = model.gpt_neox.final_layer_norm
    else:
        layers = model.model.layers
        final_norm = model.model.norm

    def pre(l):
        def f(mod, args, kwargs):
            caps.setdefault(l, {})["x"] = (args[0] if args else kwargs["hidden_states"])[0].detach().numpy()
        return f

    def store(l, key, index=None):
        def f(mod, args, out):
            caps.setdefault(l, {})[key] = (out[0] if index == 0 else out)[0].detach().numpy()
        return f

    for l, layer in enumerate(layers):
        hooks.append(layer.register_forward_pre_hook(pre(l), with_kwargs=True))
        if name == "gpt2":
            hooks.append(layer.attn.c_attn.register_forward_hook(store(l, "qkv")))
            hooks.append(layer.attn.register_forward_hook(store(l, "o", 0)))
        elif name == "gpt_neox":
            hooks.append(layer.attention.query_key_value.register_forward_hook(store(l, "qkv")))
            hooks.append(layer.attention.register_forward_hook(store(l, "o", 0)))
        else:
            hooks.append(layer.self_attn.v_proj.register_forward_hook(store(l, "v")))
            hooks.append(layer.self_attn.o_proj.register_forward_hook(store(l, "o_raw")))
            post = getattr(layer, "post_attention_layernorm", None)
            if name in ("gemma2", "olmo2"):
                hooks.append(post.register_forward_hook(store(l, "o")))
            else:
                hooks.append(layer.self_attn.register_forward_hook(store(l, "o", 0)))
    final = {}
    hooks.append(final_norm.register_forward_pre_hook(lambda m, a: final.__setitem__("x", a[0][0].detach().numpy())))
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True)
    for h in hooks:
        h.remove()
    H = cfg.num_attention_heads
    hidden = final["x"].shape[-1]
    blocks = []
    for l, layer in enumerate(layers):
        c = caps[l]
        A = out.attentions[l][0].numpy()
        n = A.shape[-1]
        if name == "gpt2":
            hd = hidden // H
            v = c["qkv"][:, 2 * hidden:]
            W = layer.attn.c_proj.weight.detach().numpy()  # [in, out]
            U = np.stack([v[:, h * hd:(h + 1) * hd] @ W[h * hd:(h + 1) * hd] for h in range(H)])
        elif name == "gpt_neox":
            hd = hidden // H
            v = c["qkv"].reshape(n, H, 3 * hd)[:, :, 2 * hd:]  # [n, H, hd]
            W = layer.attention.dense.weight.detach().numpy()  # [out, in]
            U = np.stack([v[:, h] @ W[:, h * hd:(h + 1) * hd].T for h in range(H)])
        else:
            hd = getattr(cfg, "head_dim", None) or hidden // H
            kv = cfg.num_key_value_heads
            v = c["v"].reshape(n, kv, hd)
            W = layer.self_attn.o_proj.weight.detach().numpy()  # [out, in]
            U = np.stack([v[:, h // (H // kv)] @ W[:, h * hd:(h + 1) * hd].T for h in range(H)])
        post = None
        if name in ("gemma2", "olmo2"):
            o_raw = c["o_raw"]
            w = layer.post_attention_layernorm.weight.detach().numpy()
            w = w + 1.0 if name == "gemma2" else w
            post = w[None, :] / np.sqrt((o_raw**2).mean(-1, keepdims=True) + cfg.rms_norm_eps)
        # The capture reconstructs the block's attention output: sum_j sum_h A[h, i, j] U[h, j] (+ bias, post norm).
        recon = np.einsum("hij,hjd->id", A, U)
        if post is not None:
            recon = recon * post
        bias = c["o"] - recon
        assert np.allclose(bias, bias[0:1], atol=1e-9) or post is not None, (name, l, np.abs(bias - bias[0:1]).max())
        if post is not None:
            assert np.allclose(recon, c["o"], atol=1e-9), (name, l)
        blocks.append({"x": c["x"], "A": A, "U": U, "o": c["o"], "post": post})
    gamma = final_norm.weight.detach().numpy()
    if name == "gemma2":
        gamma = gamma + 1.0
    eps = getattr(final_norm, "eps", None) or getattr(final_norm, "variance_epsilon")
    return out, blocks, final["x"], gamma, eps


def main():
    torch.set_num_threads(1)
    cases = []
    for name, prompt, text in DECODER_CASES:
        d = REPO / "test" / "fixtures" / "reference" / name
        tok = AutoTokenizer.from_pretrained(d)
        model = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager", dtype=torch.float64).eval()
        ids = tok(text)["input_ids"]
        start = len(tok(prompt)["input_ids"])
        queries = list(range(start - 1, len(ids) - 1))
        targets = ids[start:]
        out, blocks, final_x, gamma, eps = capture_blocks(name, model, ids)
        mats = [residual_attention(a[0].numpy()) for a in out.attentions]
        rms = name not in ("gpt2", "gpt_neox")
        unembed = model.get_output_embeddings().weight.detach().numpy()
        alti = alti_logit_rows(blocks, final_x, gamma, eps, rms, unembed, targets, None, queries)
        contrast_text = text.replace(" in ", " at ")  # same token count: step j's contrast token is contrast_ids[start + j]
        contrast_ids = tok(contrast_text)["input_ids"]
        assert len(contrast_ids) == len(ids)
        contrast = contrast_ids[start:]
        alti_c = alti_logit_rows(blocks, final_x, gamma, eps, rms, unembed, targets, contrast, queries)
        cases.append({
            "model": name, "kind": "decoder-only", "prompt": prompt, "text": text, "ids": ids, "start": start,
            "attention_rollout": rollout_rows(mats, queries).tolist(),
            "attention_flow": flow_rows(mats, queries).tolist(),
            "alti_logit": alti.tolist(),
            "alti_logit_contrast": {"contrast_text": contrast_text, "contrast_ids": contrast_ids, "rows": alti_c.tolist()},
        })
        print(name, "ok", len(ids), "tokens")
    for name, src_text, tgt_text in SEQ2SEQ_CASES:
        d = REPO / "test" / "fixtures" / "reference-seq2seq" / name
        tok = AutoTokenizer.from_pretrained(d)
        model = AutoModelForSeq2SeqLM.from_pretrained(d, attn_implementation="eager", dtype=torch.float64).eval()
        src = tok(src_text)["input_ids"]
        tgt = [model.config.decoder_start_token_id] + tok(text_target=tgt_text)["input_ids"]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([src]), decoder_input_ids=torch.tensor([tgt]), output_attentions=True)
        enc = [a[0].numpy() for a in out.encoder_attentions]
        sa = [a[0].numpy() for a in out.decoder_attentions]
        ca = [a[0].numpy() for a in out.cross_attentions]
        queries = list(range(0, len(tgt) - 1))  # decoder positions predicting target tokens 1..
        targets = tgt[1:]
        contrast_text = tgt_text.replace("that", "the")  # same token count: step j's contrast is contrast_tgt[j + 1]
        contrast_tgt = [model.config.decoder_start_token_id] + tok(text_target=contrast_text)["input_ids"]
        assert len(contrast_tgt) == len(tgt)
        alti_fn = t5_alti_logit if name.startswith("t5") else seq2seq_alti_logit
        alti = alti_fn(model, src, tgt, queries, targets, None)
        alti_c = alti_fn(model, src, tgt, queries, targets, contrast_tgt[1:])
        cases.append({
            "model": name, "kind": "encoder-decoder", "source_text": src_text, "target_text": tgt_text, "source_ids": src, "target_ids": tgt,
            "attention_rollout": seq2seq_rollout(enc, sa, ca, queries).tolist(),
            "attention_flow": seq2seq_flow(enc, sa, ca, queries).tolist(),
            "alti_logit": alti.tolist(),
            "alti_logit_contrast": {"contrast_text": contrast_text, "contrast_target_ids": contrast_tgt, "rows": alti_c.tolist()},
        })
        print(name, "ok", len(src), len(tgt))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"note": "float64 references; see scripts/reference/make_internals_goldens.py", "cases": cases}) + "\n")


if __name__ == "__main__":
    main()
