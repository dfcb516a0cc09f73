"""Text helpers shared by the Python sides of the benchmarks (imported from the scripts' own directory)."""


def prefix_with_tokens(tok, text, n):
    """The shortest word prefix of `text` that `tok` encodes to exactly `n` tokens (ValueError when none does)."""
    words = text.split(" ")
    for k in range(1, len(words) + 1):
        cand = " ".join(words[:k])
        m = len(tok(cand).input_ids)
        if m == n:
            return cand
        if m > n:
            break
    raise ValueError(f"no {n}-token prefix")
