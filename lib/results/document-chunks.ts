/**
 * An Inseq attribution document as a sequence of byte chunks, for writing files of any size without building
 * the whole JSON text: the document around the tensors (tokens, info, keys) is serialized with a placeholder
 * per tensor, and each tensor's base64 safetensors string is produced chunk by chunk in its place
 * (`tensorValueChunks`). The concatenated chunks are byte-identical to `serializeOutputDocument(data, options)`;
 * at most one chunk of tensor values (`TENSOR_CHUNK_VALUES`) and the text around the tensors are held at once.
 */
import { randomBytes } from "node:crypto";

import { tensorValueChunks, type ScoresPrecision } from "./inseq-codecs.js";
import { serializeOutputDocument } from "./inseq-json.js";
import type { OutputData } from "./types.js";

interface TensorRef {
  shape: readonly number[];
  data: Float32Array;
}

/** The document's chunks (ASCII bytes: Python's json.dumps escapes every non-ASCII character). */
export function* outputDocumentChunks(data: OutputData, options: { scoresPrecision?: ScoresPrecision } = {}): Generator<Buffer> {
  const precision = options.scoresPrecision ?? "float32";
  const tensors: TensorRef[] = [];
  const nonce = randomBytes(8).toString("hex");
  // "\u0000" is written escaped (`\\u0000`), so no token text can end up equal to a placeholder by accident.
  const text = serializeOutputDocument(data, {
    scoresPrecision: precision,
    tensorValue: (t) => `\u0000${nonce}:${tensors.push(t) - 1}`,
  });
  const placeholder = new RegExp(`"\\\\u0000${nonce}:(\\d+)"`, "g");
  let last = 0;
  for (const m of text.matchAll(placeholder)) {
    yield Buffer.from(text.slice(last, m.index) + '"', "latin1");
    yield* tensorValueChunks(tensors[Number(m[1])]!, precision);
    yield Buffer.from('"', "latin1");
    last = m.index! + m[0].length;
  }
  yield Buffer.from(text.slice(last), "latin1");
}
