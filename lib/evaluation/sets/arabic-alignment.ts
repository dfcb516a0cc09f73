/**
 * Ground truth for Arabic -> Latin transliteration: which source letter each generated Latin letter
 * transliterates. A monotonic alignment (dynamic programming) over a table of the usual renderings of each Arabic
 * letter; Latin vowels with no Arabic letter (short vowels are not written) stay unaligned. Used by
 * `transliterationSet` and by the tests of the ct2 transliteration model.
 */

const TABLE: Record<string, string[]> = {
  "ا": ["a", "e", ""], "آ": ["a"], "أ": ["a", "o", "e"], "إ": ["i", "e"], "ب": ["b"], "ت": ["t"], "ث": ["th", "t", "s"],
  "ج": ["j", "g", "dj"], "ح": ["h"], "خ": ["kh", "h"], "د": ["d"], "ذ": ["dh", "z", "d"], "ر": ["r", "rr"], "ز": ["z"], "س": ["s", "ss"],
  "ش": ["ch", "sh"], "ص": ["s"], "ض": ["d"], "ط": ["t"], "ظ": ["z"], "ع": ["a", "e", "i", "o", ""], "غ": ["gh", "g"], "ف": ["f"],
  "ق": ["q", "k"], "ك": ["k", "c"], "ک": ["k", "c"], "ل": ["l", "ll"], "م": ["m", "mm"], "ن": ["n", "nn"], "ه": ["h", "e", "a"], "ة": ["a", "e", "ah"],
  "و": ["o", "ou", "u", "w", "ow"], "ي": ["i", "y", "e", "ie"], "ی": ["i", "y"], "ى": ["a", "i", "y"], "ئ": ["e", "i"], "ؤ": ["o", "u"], "ء": [""],
};
const VOWELS = new Set(["a", "e", "i", "o", "u", "y"]);

/**
 * For each target letter, the index of the source letter it renders, or null (an inserted vowel, or no match).
 * A source letter rendered by two Latin letters ("kh") has both point at it.
 *
 * @example
 * alignTransliteration(["م", "ح", "م", "د"], ["m", "o", "h", "a", "m", "e", "d"]);  // [0, null, 1, null, 2, null, 3]
 */
export function alignTransliteration(source: readonly string[], target: readonly string[]): Array<number | null> {
  const n = source.length, m = target.length;
  const INF = 1e9;
  // cost[i][j]: best cost aligning source[:i] with target[:j]; back pointers for the path.
  const cost = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(INF));
  const back = Array.from({ length: n + 1 }, () => new Array<[number, number, boolean] | null>(m + 1).fill(null));
  cost[0]![0] = 0;
  for (let i = 0; i <= n; i++)
    for (let j = 0; j <= m; j++) {
      const c = cost[i]![j]!;
      if (c >= INF) continue;
      const relax = (i2: number, j2: number, add: number, aligned: boolean) => {
        if (c + add < cost[i2]![j2]!) {
          cost[i2]![j2] = c + add;
          back[i2]![j2] = [i, j, aligned];
        }
      };
      if (i < n) {
        for (const r of TABLE[source[i]!] ?? []) {
          if (target.slice(j, j + r.length).join("") === r) relax(i + 1, j + r.length, 0, r.length > 0);
        }
        relax(i + 1, j, 1.5, false);  // a source letter rendered by nothing
        if (j < m) relax(i + 1, j + 1, 2, false);  // an unexpected rendering
      }
      if (j < m) relax(i, j + 1, VOWELS.has(target[j]!) ? 1 : 2, false);  // an inserted (short) vowel
    }
  const out = new Array<number | null>(m).fill(null);
  let i = n, j = m;
  while (i > 0 || j > 0) {
    const b = back[i]![j];
    if (!b) break;
    const [pi, pj, aligned] = b;
    if (aligned) for (let k = pj; k < j; k++) out[k] = pi;
    i = pi;
    j = pj;
  }
  return out;
}

/** Arabic spellings of common names and cities (space-separated letters, the ct2 model's input format). */
export const ARABIC_NAMES: readonly string[] = [
  "آ ت ز م و ن", "آ ت ش ي س و ن", "م ح م د", "س ل ا م", "ب ا ر ي س",
  "أ ح م د", "ع ل ي", "ح س ن", "ك ر ي م", "ي و س ف", "م ر ي م", "س ا ر ة", "خ ا ل د", "ف ا ط م ة", "ع م ر",
  "ن و ر", "ل ي ل ى", "س ل ي م", "ج م ا ل", "ر ش ي د", "ب ا س م", "ه ش ا م", "ط ا ر ق", "ز ي ن ب", "د ا و د",
  "ش ر ي ف", "ف ر ي د", "ن ب ي ل", "ج ل ا ل", "س م ي ر", "ك م ا ل", "ر ا م ي", "و ل ي د", "م ن ى", "ت و ف ي ق",
  "ب د ر", "غ س ا ن", "ق ا س م", "ص ل ا ح", "إ ب ر ا ه ي م", "م ص ط ف ى", "ي ا س ي ن", "ح ل ي م", "ن ا د ي ة", "ر ي م",
  "ل ن د ن", "ب ر ل ي ن", "م ا د ر ي د", "ت و ن س", "د ب ي",
];
