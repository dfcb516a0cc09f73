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
SEQ2SEQ_CASES = [("bart", "So Ben too", "And that'")]


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
        cases.append({
            "model": name, "kind": "encoder-decoder", "source_text": src_text, "target_text": tgt_text, "source_ids": src, "target_ids": tgt,
            "attention_rollout": seq2seq_rollout(enc, sa, ca, queries).tolist(),
            "attention_flow": seq2seq_flow(enc, sa, ca, queries).tolist(),
        })
        print(name, "ok", len(src), len(tgt))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"note": "float64 references; see scripts/reference/make_internals_goldens.py", "cases": cases}) + "\n")


if __name__ == "__main__":
    main()
