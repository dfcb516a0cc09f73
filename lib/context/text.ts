/**
 * The text and token helpers of attributeContext (Inseq's `attribute_context_helpers`): templates, separators, and
 * tokens with the special ones filtered out, over either side of the model (source / target tokenizer).
 */
import { invalidOption } from "../core/errors.js";
import type { TextTokenizer } from "../tokenizers/tokenizer.js";

/** Python's `str.format(current=..., context=...)` on a template with only these two fields ({{ and }} are braces). */
export function formatTemplate(template: string, current: string, context?: string | null): string {
  return template.replace(/\{\{|\}\}|\{(current|context)\}/g, (m, name: string | undefined) => {
    if (m === "{{") return "{";
    if (m === "}}") return "}";
    if (name === "context") {
      if (context === undefined || context === null) throw invalidOption("template", "no {context} field when no context is given", template);
      return context;
    }
    return current;
  });
}

/** `s1 + sep + s2` unless s1 already ends or s2 already starts with `sep` (Inseq's `concat_with_sep`). */
export function concatWithSep(s1: string, s2: string, sep: string): string {
  return !s1.endsWith(sep) && !s2.startsWith(sep) ? s1 + sep + s2 : s1 + s2;
}

/** One side of a model: its tokenizer and the token strings Inseq counts as special. */
export interface TokenSide {
  tokenizer: TextTokenizer;
  /** Every special token string (BOS, EOS, UNK, pad and the tokenizer's added special tokens). */
  special: ReadonlySet<string>;
}

export function tokenSide(tokenizer: TextTokenizer): TokenSide {
  const special = new Set<string>();
  for (const t of [tokenizer.bosToken, tokenizer.eosToken, tokenizer.unkToken, tokenizer.padToken]) if (t) special.add(t);
  for (const id of tokenizer.specialTokenIds) {
    const t = tokenizer.idToToken(id);
    if (t !== null) special.add(t);
  }
  return { tokenizer, special };
}

/** Tokens of `text` with the tokenizer's special tokens added (Inseq's `convert_string_to_tokens(skip_special_tokens=False)`). */
export async function tokensOf(side: TokenSide, text: string): Promise<string[]> {
  return (await side.tokenizer.encode(text)).tokens;
}

/** Tokens of `text` without special tokens, except those in `keep` (Inseq's `get_filtered_tokens`). */
export async function filteredTokens(side: TokenSide, text: string, keep: readonly string[]): Promise<string[]> {
  return (await tokensOf(side, text)).filter((t) => !side.special.has(t) || keep.includes(t));
}

/** The text of a token list (Inseq's `convert_tokens_to_string`); `skipSpecialTokens` drops special tokens first. */
export async function tokensToString(side: TokenSide, tokens: readonly string[], skipSpecialTokens = false): Promise<string> {
  const kept = skipSpecialTokens ? tokens.filter((t) => !side.special.has(t)) : tokens;
  const ids = kept.map((t) => {
    const id = side.tokenizer.tokenToId(t);
    if (id === null) throw invalidOption("token", "a token of the vocabulary", t);
    return id;
  });
  return ids.length === 0 ? "" : side.tokenizer.decode(ids, { skipSpecialTokens: false });
}

/** The text of generated ids with special tokens dropped except those in `keep` (Inseq's `generate_with_special_tokens`). */
export async function keptText(side: TokenSide, ids: readonly number[], keep: readonly string[]): Promise<string> {
  const tokens = ids.map((id) => side.tokenizer.idToToken(id) ?? "").filter((t) => t !== "" && (!side.special.has(t) || keep.includes(t)));
  return tokensToString(side, tokens);
}

/** Python's `str.rstrip(" ")` / `str.lstrip(" ")` (spaces only). */
export const rstripSpaces = (s: string): string => s.replace(/ +$/, "");
export const lstripSpaces = (s: string): string => s.replace(/^ +/, "");
