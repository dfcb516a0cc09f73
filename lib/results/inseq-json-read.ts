/**
 * Reading Python Inseq's attribution document (the format is described in `inseq-json.ts`, which writes it): the
 * envelope, the Python class names and the field mapping, from parsed JSON or text (NaN literals allowed) to
 * output data. Portable (no Node built-ins) so the browser viewer reads files with this same code; the Node
 * entry points in `inseq-json.ts` add gzip-compressed `__ndarray__` payloads.
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import { parsePythonJson } from "./python-json.js";
import { createTensor, type ScoreTensor } from "./tensor.js";
import { badFile, decodeTensorValue, type Gunzip } from "./tensor-decode.js";
import { defaultExtraDimNames, type OutputData, type SequenceOutputData, type SequenceOutputKind, type TokenWithId } from "./types.js";

// ---------------------------------------------------------------------------------------------------------------
// Python class names
// ---------------------------------------------------------------------------------------------------------------

export const ATTRIBUTION_MODULE = "inseq.data.attribution";
export const TOKEN_MODULE = "inseq.utils.typing";

/** Python class of each sequence-output kind (module `inseq.data.attribution`). */
export const PYTHON_SEQUENCE_CLASSES: Readonly<Record<SequenceOutputKind, string>> = Object.freeze({
  granular: "GranularFeatureAttributionSequenceOutput",
  coarse: "CoarseFeatureAttributionSequenceOutput",
  multidimensional: "MultiDimensionalFeatureAttributionSequenceOutput",
  base: "FeatureAttributionSequenceOutput",
});

export function kindFromClassName(name: string): SequenceOutputKind {
  for (const [kind, cls] of Object.entries(PYTHON_SEQUENCE_CLASSES)) if (cls === name) return kind as SequenceOutputKind;
  return "base";
}


// ---------------------------------------------------------------------------------------------------------------
// Document encode / decode
// ---------------------------------------------------------------------------------------------------------------

/** The `info` fields that hold keyword arguments: Python Inseq passes them back as `**kwargs`, so snake_case. */
export const INFO_KWARGS_FIELDS = ["attribution_args", "attributed_fn_args", "step_scores_args", "generation_args"] as const;

/** Our camelCase option name as Inseq's keyword (`nSteps` → `n_steps`); snake_case names are unchanged. */
export function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, (_, a: string, b: string) => `${a}_${b.toLowerCase()}`);
}

/**
 * `info` with the keys of its keyword-argument fields in snake_case (`{nSteps: 10}` → `{n_steps: 10}`). Saving
 * writes this form and loading returns it, whichever form the file holds (files written before 0.1 used ours).
 */
export function inseqInfo(info: Record<string, unknown>): Record<string, unknown> {
  const out = { ...info };
  for (const field of INFO_KWARGS_FIELDS) {
    const args = info[field];
    if (args === null || typeof args !== "object" || Array.isArray(args)) continue;
    out[field] = Object.fromEntries(Object.entries(args).map(([k, v]) => [snakeCase(k), v]));
  }
  return out;
}

function unwrap(value: unknown, where: string): { className: string | null; attrs: Record<string, unknown> } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw badFile(where, "an object", value);
  }
  const obj = value as Record<string, unknown>;
  const type = obj.__instance_type__;
  if (Array.isArray(type)) {
    const attrs = obj.attributes;
    if (attrs === null || typeof attrs !== "object") throw badFile(`${where}.attributes`, "an object", attrs);
    return { className: String(type[1]), attrs: attrs as Record<string, unknown> };
  }
  return { className: null, attrs: obj };
}

function decodeToken(value: unknown, where: string): TokenWithId {
  if (typeof value === "string") return { token: value, id: -1 };
  const { attrs } = unwrap(value, where);
  if (typeof attrs.token !== "string") throw badFile(`${where}.token`, "a string", attrs.token);
  const id = typeof attrs.id === "number" ? attrs.id : Number(attrs.id ?? -1);
  return { token: attrs.token, id: Number.isFinite(id) ? id : -1 };
}

function tensorFromValue(value: unknown, where: string, dims: (ndim: number) => string[], gunzip?: Gunzip): ScoreTensor | null {
  const t = decodeTensorValue(value, where, gunzip);
  if (!t) return null;
  return createTensor(dims(t.shape.length), t.shape, t.data);
}

function decodeSequence(value: unknown, where: string, gunzip?: Gunzip): SequenceOutputData {
  const { className, attrs } = unwrap(value, where);
  const kind = className ? kindFromClassName(className) : "base";
  if (!Array.isArray(attrs.source) || !Array.isArray(attrs.target)) {
    throw badFile(where, "a sequence attribution with source and target token lists", attrs);
  }
  const source = attrs.source.map((t, i) => decodeToken(t, `${where}.source[${i}]`));
  const target = attrs.target.map((t, i) => decodeToken(t, `${where}.target[${i}]`));
  let extra: string[] | undefined;
  const extraNames = (ndim: number) => {
    const names = extra && extra.length === ndim - 2 ? extra : defaultExtraDimNames(kind, ndim - 2);
    extra ??= names;
    return names;
  };
  const attrDims = (first: string) => (ndim: number) => ndim >= 2 ? [first, "generated", ...extraNames(ndim)] : [first].slice(0, ndim);
  const sourceAttributions = tensorFromValue(attrs.source_attributions, `${where}.source_attributions`, attrDims("source"), gunzip);
  const targetAttributions = tensorFromValue(attrs.target_attributions, `${where}.target_attributions`, attrDims("target"), gunzip);
  const stepScores: Record<string, Float32Array> = {};
  if (attrs.step_scores && typeof attrs.step_scores === "object") {
    for (const [name, v] of Object.entries(attrs.step_scores as Record<string, unknown>)) {
      const t = decodeTensorValue(v, `${where}.step_scores.${name}`, gunzip);
      if (t) stepScores[name] = t.data;
    }
  }
  const sequenceScores: Record<string, ScoreTensor> = {};
  if (attrs.sequence_scores && typeof attrs.sequence_scores === "object") {
    for (const [name, v] of Object.entries(attrs.sequence_scores as Record<string, unknown>)) {
      // encoder_* scores are (source, source, ...), decoder_* (target, target, ...), others cross (source, generated).
      const pair = name.startsWith("encoder")
        ? ["source", "source"]
        : name.startsWith("decoder")
          ? ["target", "target"]
          : ["source", "generated"];
      const t = tensorFromValue(v, `${where}.sequence_scores.${name}`, (ndim) =>
        ndim >= 2 ? [...pair, ...extraNames(ndim)] : pair.slice(0, ndim),
        gunzip,
      );
      if (t) sequenceScores[name] = t;
    }
  }
  const attrPosStart = typeof attrs.attr_pos_start === "number" ? attrs.attr_pos_start : 0;
  let attrPosEnd = typeof attrs.attr_pos_end === "number" ? attrs.attr_pos_end : target.length;
  if (attrPosEnd > target.length) attrPosEnd = target.length;
  const ref = sourceAttributions ?? targetAttributions;
  const extraDimNames = ref ? ref.dims.slice(2) : [];
  return {
    kind,
    source,
    target,
    sourceAttributions,
    targetAttributions,
    stepScores,
    sequenceScores,
    attrPosStart,
    attrPosEnd,
    extraDimNames,
  };
}

/**
 * Reads a parsed Inseq document (the `__instance_type__` envelope, or the bare attributes written with
 * `use_primitives=True`). Step attributions, if present, are ignored.
 */
export function decodeOutputDocument(doc: unknown, where = "document", gunzip?: Gunzip): OutputData {
  const { className, attrs } = unwrap(doc, where);
  if (className !== null && className !== "FeatureAttributionOutput") {
    throw badFile(where, "an Inseq FeatureAttributionOutput document", className);
  }
  const seqs = attrs.sequence_attributions;
  if (!Array.isArray(seqs)) {
    throw badFile(`${where}.sequence_attributions`, "a list of sequence attributions", seqs);
  }
  const info = attrs.info && typeof attrs.info === "object" && !Array.isArray(attrs.info) ? (attrs.info as Record<string, unknown>) : {};
  return {
    sequenceAttributions: seqs.map((s, i) => decodeSequence(s, `${where}.sequence_attributions[${i}]`, gunzip)),
    info: inseqInfo(info),
  };
}

/** Parses Inseq JSON text (NaN literals allowed) into output data. */
export function parseOutputDocument(text: string, where = "document", gunzip?: Gunzip): OutputData {
  let doc: unknown;
  try {
    doc = parsePythonJson(text);
  } catch (err) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected Inseq attribution JSON for ${where} but the text could not be parsed: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return decodeOutputDocument(doc, where, gunzip);
}
