/**
 * Python Inseq's attribution file format (`FeatureAttributionOutput.save` / `.load`, Inseq 0.7):
 *
 * ```json
 * {"__instance_type__": ["inseq.data.attribution", "FeatureAttributionOutput"],
 *  "attributes": {"info": {...}, "sequence_attributions": [
 *     {"__instance_type__": ["inseq.data.attribution", "GranularFeatureAttributionSequenceOutput"],
 *      "attributes": {"attr_pos_end": 7, "attr_pos_start": 2, "sequence_scores": {}, "source": [TokenWithId...],
 *                     "source_attributions": "<base64 safetensors>" | null, "step_scores": {"probability": "<b64>"},
 *                     "target": [...], "target_attributions": "<b64>" | null}}],
 *  "step_attributions": null}}
 * ```
 *
 * This module is the document: the envelope, the Python class names and the field mapping. Every tensor is a
 * base64 string of a safetensors file holding one tensor named `"attribution"` (F32 or F16; codecs in
 * `inseq-codecs.ts`). The JSON text is written like Python's `json.dumps(sort_keys=True, indent=4,
 * allow_nan=True)` (`python-json.ts`). Loading also accepts json-tricks `__ndarray__` encodings from older files.
 */
import { gunzipSync } from "node:zlib";
import { invalidOption } from "../core/errors.js";
import { encodeTensorValue, type ScoresPrecision } from "./inseq-codecs.js";
export type { ScoresPrecision };
import {
  ATTRIBUTION_MODULE,
  decodeOutputDocument as decodeDocument,
  inseqInfo,
  parseOutputDocument as parseDocument,
  PYTHON_SEQUENCE_CLASSES,
  TOKEN_MODULE,
} from "./inseq-json-read.js";
import { stringifyPythonJson } from "./python-json.js";
import type { OutputData, TokenWithId } from "./types.js";

export { ATTRIBUTION_MODULE, INFO_KWARGS_FIELDS, inseqInfo, PYTHON_SEQUENCE_CLASSES, snakeCase, TOKEN_MODULE } from "./inseq-json-read.js";

export interface EncodeOptions {
  scoresPrecision?: ScoresPrecision;
  /** The JSON value of each tensor; default `encodeTensorValue` (a streaming writer puts placeholders here). */
  tensorValue?: (t: { shape: readonly number[]; data: Float32Array }, precision: ScoresPrecision) => unknown;
}

function instance(module: string, name: string, attributes: Record<string, unknown>): Record<string, unknown> {
  return { __instance_type__: [module, name], attributes };
}

function sortedRecord<T>(rec: Record<string, T>, map: (v: T) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(rec).sort()) out[k] = map(rec[k]!);
  return out;
}

function encodeToken(t: TokenWithId): Record<string, unknown> {
  return instance(TOKEN_MODULE, "TokenWithId", { id: t.id, token: t.token });
}

/** Builds the JSON-ready document object (keys already in sorted order; tensors as base64 safetensors). */
export function encodeOutputDocument(data: OutputData, options: EncodeOptions = {}): Record<string, unknown> {
  const precision = options.scoresPrecision ?? "float32";
  if (precision !== "float32" && precision !== "float16") {
    throw invalidOption("scoresPrecision", '"float32" or "float16"', precision);
  }
  const encode = options.tensorValue ?? encodeTensorValue;
  const enc = (t: { shape: readonly number[]; data: Float32Array }) => encode(t, precision);
  const sequences = data.sequenceAttributions.map((seq) =>
    instance(ATTRIBUTION_MODULE, PYTHON_SEQUENCE_CLASSES[seq.kind] ?? PYTHON_SEQUENCE_CLASSES.base, {
      attr_pos_end: seq.attrPosEnd,
      attr_pos_start: seq.attrPosStart,
      sequence_scores: sortedRecord(seq.sequenceScores, enc),
      source: seq.source.map(encodeToken),
      source_attributions: seq.sourceAttributions ? enc(seq.sourceAttributions) : null,
      step_scores: sortedRecord(seq.stepScores, (v) => enc({ shape: [v.length], data: v })),
      target: seq.target.map(encodeToken),
      target_attributions: seq.targetAttributions ? enc(seq.targetAttributions) : null,
    }),
  );
  return instance(ATTRIBUTION_MODULE, "FeatureAttributionOutput", {
    info: inseqInfo(data.info),
    sequence_attributions: sequences,
    step_attributions: null,
  });
}

/** The document as Python Inseq writes it (sorted keys, indent 4, bare NaN). */
export function serializeOutputDocument(data: OutputData, options: EncodeOptions = {}): string {
  return stringifyPythonJson(encodeOutputDocument(data, options));
}

/**
 * Reads a parsed Inseq document (the `__instance_type__` envelope, or the bare attributes written with
 * `use_primitives=True`). Step attributions, if present, are ignored.
 */
export function decodeOutputDocument(doc: unknown, where = "document"): OutputData {
  return decodeDocument(doc, where, gunzipSync);
}

/** Parses Inseq JSON text (NaN literals allowed) into output data. */
export function parseOutputDocument(text: string, where = "document"): OutputData {
  return parseDocument(text, where, gunzipSync);
}
