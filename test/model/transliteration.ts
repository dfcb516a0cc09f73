// Ground truth for the ct2 Arabic -> Latin transliteration model: the alignment and the names now live in the
// library (lib/evaluation/sets/arabic-alignment.ts, used by transliterationSet); re-exported for the model tests.
export { alignTransliteration, ARABIC_NAMES } from "../../lib/evaluation/sets/arabic-alignment.js";
