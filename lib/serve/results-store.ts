/**
 * Finished results of `inseq serve`, kept in memory for download under a random id: bounded by count and by
 * bytes, the oldest dropped first (a later GET of a dropped id is ERR_NOT_FOUND).
 */
import { randomUUID } from "node:crypto";

import { ErrorCode, InseqError } from "../core/errors.js";

export type ResultKind = "attribution" | "context";

export interface StoredResult {
  id: string;
  kind: ResultKind;
  /** The document's JSON text. */
  json: string;
  bytes: number;
  createdAt: number;
}

export class ResultsStore {
  readonly #items = new Map<string, StoredResult>();
  #bytes = 0;
  constructor(readonly maxCount: number, readonly maxBytes: number) {}

  /** Stores `json` and returns its id; evicts the oldest results until both bounds hold (a document larger than maxBytes is kept alone). */
  put(kind: ResultKind, json: string): StoredResult {
    const item: StoredResult = { id: randomUUID(), kind, json, bytes: Buffer.byteLength(json), createdAt: Date.now() };
    this.#items.set(item.id, item);
    this.#bytes += item.bytes;
    for (const [id, old] of this.#items) {
      if (this.#items.size <= this.maxCount && this.#bytes <= this.maxBytes) break;
      if (id === item.id) break;
      this.#items.delete(id);
      this.#bytes -= old.bytes;
    }
    return item;
  }

  get(id: string): StoredResult {
    const item = this.#items.get(id);
    if (!item) throw new InseqError(ErrorCode.NOT_FOUND, `Expected the id of a stored result for id but received ${JSON.stringify(id)} (unknown, or dropped to keep the store within its bounds)`);
    return item;
  }

  get size(): number {
    return this.#items.size;
  }

  get bytes(): number {
    return this.#bytes;
  }
}
