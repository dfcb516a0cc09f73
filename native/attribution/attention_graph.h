// Attention rollout and attention flow (Abnar & Zuidema 2020) over the layered graph of a forward's attention
// weights, and ALTI-logit's contribution rollout (alti.cc) over the same kind of layers. N-API free, testable alone.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace inseq::attribution {

// The mixing layers of one sequence of n positions (decoder-only: the tokens; encoder-decoders: source ++ target),
// bottom to top: layer l maps the nodes below [n] to the nodes above [n], row i = how node i above mixes the
// nodes below (rows sum to 1). float64 on the model's device.
using MixingLayers = std::vector<at::Tensor>;  // each [n, n]

// Head-averaged attention with the residual identity, 0.5 * mean_heads(A) + 0.5 * I, rows renormalised.
at::Tensor residual_mixing(const at::Tensor& attention);  // [heads, n, n] -> [n, n] float64

// Decoder-only: one layer per block from its attention [heads, n, n].
MixingLayers decoder_mixing(const std::vector<at::Tensor>& attentions);
// Encoder-decoders over source ++ target (n = src + tgt), from the encoder attentions [heads, src, src] and the
// decoder's concatenated ones [heads, n, n] (rows src.. hold the cross weights in columns ..src and the self
// weights in columns src..): each encoder block mixes the source (the target passes through); each decoder block
// is two layers, its self-attention mixing the target (0.5 * A_self + 0.5 * I) and then its cross-attention
// (0.5 * the target node + 0.5 * A_cross over the encoder output, i.e. the source nodes after the last encoder
// layer, which pass through the decoder layers unchanged).
MixingLayers encoder_decoder_mixing(const std::vector<at::Tensor>& encoder_attentions, const std::vector<at::Tensor>& decoder_attentions,
                                    int64_t src);

// Attention rollout: the product of the layers, top to bottom, rows `queries` of it -> [Q, n] float64 (row q: how
// much of the top node queries[q] comes from each input position; sums to 1).
at::Tensor rollout(const MixingLayers& layers, const std::vector<int64_t>& queries);

// Attention flow: for each top node queries[q] and each input position j, the maximum flow from input node j to
// that top node in the layered graph whose edge (l-1, k) -> (l, i) has capacity layers[l][i, k] -> [Q, n] float64
// (0 where no path). Each (query, input) pair is one max-flow problem (Dinic), run in parallel over pairs (ATen's
// thread pool); a query's pairs share its graph, restricted to the nodes that can reach it.
at::Tensor flow(const MixingLayers& layers, const std::vector<int64_t>& queries);

}  // namespace inseq::attribution
