// Prompt and forced text of exact token counts for the long-context benchmark. bench/inseq_long_context.py
// implements the same steps with transformers' fast tokenizer (the same tokenizer.json through the same Rust
// tokenizers library), so both sides attribute the same tokens; each run prints the SHA-1 of its two texts and
// bench/long-context.mjs checks that they match.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

import { shared } from "./checkpoints.mjs";

export const CORPUS_FILE = path.join(shared, "tinystories-sample", "tinystories_sample.txt");

/**
 * The TinyStories sample without its "<|endoftext|>" separators (GPT-2's EOS, also its UNK and BOS: left in,
 * they would be special tokens with their own baseline and EOS handling on each side), stories joined by "\n".
 */
export function corpusText() {
  return readFileSync(CORPUS_FILE, "utf8").split("<|endoftext|>").map((s) => s.trim()).filter((s) => s.length > 0).join("\n");
}

/**
 * { prompt, forced, start }: `prompt` encodes to exactly `n` tokens and `forced` (= prompt + continuation, as
 * Inseq wants generated_texts for decoder-only models) to exactly `n + gen`, with the prompt's ids as its
 * prefix, so `gen` steps are attributed. The corpus is repeated until it has enough tokens and encoded once;
 * the texts are decodings of the id windows [s, s + n) and [s, s + n + gen), taking the first s (from 0) where
 * re-encoding gives those windows back (a cut inside a word or a UTF-8 character can merge or split tokens).
 * `encode(text)` -> ids (no special tokens), `decode(ids)` -> text.
 */
export async function exactTexts(encode, decode, n, gen) {
  const base = corpusText();
  let corpus = base;
  let ids = await encode(corpus);
  const copies = Math.ceil((n + gen + 256) / ids.length);
  if (copies > 1) {
    corpus = Array(copies).fill(base).join("\n");
    ids = await encode(corpus);
  }
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  for (let s = 0; s < 256 && s + n + gen <= ids.length; s++) {
    const [p, f] = [ids.slice(s, s + n), ids.slice(s, s + n + gen)];
    const [prompt, forced] = [await decode(p), await decode(f)];
    if (prompt.includes("\uFFFD") || forced.includes("\uFFFD") || !forced.startsWith(prompt)) continue;
    if (same(await encode(prompt), p) && same(await encode(forced), f)) return { prompt, forced, start: s };
  }
  throw new Error(`no window of ${n} + ${gen} tokens re-encodes exactly`);
}

/** First 12 hex digits of the SHA-1 of prompt + "\0" + forced (compared across implementations). */
export function textsHash({ prompt, forced }) {
  return createHash("sha1").update(prompt + "\0" + forced, "utf8").digest("hex").slice(0, 12);
}
