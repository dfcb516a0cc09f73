/**
 * `inseq/default-model`: what a user of the bundled default model (`loadModel("default")`) needs of the grammar
 * it was trained on: the grammar itself (lexicon, templates, generating an example), checking and parsing a
 * sentence (`checkSentence`, `analyzeSentence`: is a generation grammatical, and which words decide its
 * dependent words), and the held-out evaluation set with its ground truth (`loadEvalSet`). Pure TypeScript: it
 * loads neither the addon nor a tokenizer.
 *
 * The corpus generator, the tokenizer builder and the trainer that made `models/default/` are development tools
 * (tools/default-model/, scripts/train-default-model.mjs) and are not part of the package.
 *
 * @example
 * import { loadModel } from "inseq";
 * import { checkSentence } from "inseq/default-model";
 * const model = await loadModel("default");
 * const [text] = await model.generate("mary went to", { maxNewTokens: 12 });
 * checkSentence(text); // { grammatical: true, template: "pronoun_name" }
 */
export * from "./grammar.js";
export { evalSetPath, loadEvalSet } from "./eval-set.js";
