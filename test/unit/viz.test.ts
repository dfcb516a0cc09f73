/**
 * Renderers without a browser: terminal snapshots (test/fixtures/viz/*.txt; `npx vitest run -u` rewrites them),
 * colour detection and fallbacks, column paging, and the structure of the interactive HTML page.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { InseqError } from "../../lib/core/errors.js";
import { FeatureAttributionOutput, FeatureAttributionSequenceOutput } from "../../lib/results/attribution.js";
import { createTensor } from "../../lib/results/tensor.js";
import { ansi16Style, cellStyle, detectTerminalColor, displayWidth, renderTerminal } from "../../lib/viz/terminal.js";
import { renderHtml } from "../../lib/viz/html.js";
import { bandOutput, toks, twoSequenceOutput, wideOutput } from "../fixtures/viz/outputs.js";

const ESC = "\x1b";
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");
/** Escape codes as visible text, so the snapshot files stay readable. */
const visible = (s: string) => s.replace(/\x1b/g, "\\e");

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("terminal snapshots", () => {
  it("plain text (no colour) for a fixed two-sequence output", async () => {
    const text = twoSequenceOutput().show({ color: "none" });
    expect(text).not.toContain(ESC);
    await expect(text).toMatchFileSnapshot("../fixtures/viz/terminal-plain.txt");
  });

  it("paged to 60 columns", async () => {
    await expect(wideOutput().show({ color: "none", width: 60 })).toMatchFileSnapshot("../fixtures/viz/terminal-paged-60.txt");
  });

  it("truecolor and 16-colour escapes", async () => {
    await expect(visible(twoSequenceOutput().show({ color: "truecolor" }))).toMatchFileSnapshot("../fixtures/viz/terminal-truecolor.txt");
    await expect(visible(twoSequenceOutput().show({ color: "16" }))).toMatchFileSnapshot("../fixtures/viz/terminal-16.txt");
  });
});

describe("detectTerminalColor", () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  it.each([
    // [stream, env, platform, expected]
    [tty, { COLORTERM: "truecolor", TERM: "xterm-256color" }, "linux", "truecolor"],
    [tty, { COLORTERM: "24bit" }, "linux", "truecolor"],
    [tty, { TERM: "xterm-kitty" }, "linux", "truecolor"],
    [tty, { TERM: "xterm-direct" }, "linux", "truecolor"],
    [tty, { TERM_PROGRAM: "iTerm.app", TERM: "xterm-256color" }, "darwin", "truecolor"],
    [tty, { WT_SESSION: "abc" }, "win32", "truecolor"],
    [tty, {}, "win32", "truecolor"],
    [tty, { TERM: "xterm-256color" }, "linux", "256"],
    [tty, { TERM: "screen-256color" }, "linux", "256"],
    [tty, { TERM_PROGRAM: "Apple_Terminal", TERM: "xterm" }, "darwin", "256"],
    [tty, { TERM: "xterm" }, "linux", "16"],
    [tty, { TERM: "linux" }, "linux", "16"],
    [tty, { TERM: "vt100" }, "linux", "16"],
    [tty, { TERM: "screen" }, "linux", "16"],
    [tty, { TERM: "ansi" }, "linux", "16"],
    [tty, { TERM: "some-unknown-term" }, "linux", "16"],
    [tty, { TERM: "xterm", COLORTERM: "yes" }, "linux", "16"],
    [tty, { TERM: "dumb" }, "linux", "none"],
    [tty, {}, "linux", "none"],
    [tty, { NO_COLOR: "1", COLORTERM: "truecolor" }, "linux", "none"],
    [tty, { NO_COLOR: "", TERM: "xterm-256color" }, "linux", "256"], // empty NO_COLOR is unset
    [pipe, { COLORTERM: "truecolor", TERM: "xterm-256color" }, "linux", "none"],
    [pipe, { FORCE_COLOR: "3" }, "linux", "truecolor"],
    [pipe, { FORCE_COLOR: "2" }, "linux", "256"],
    [pipe, { FORCE_COLOR: "1" }, "linux", "16"],
    [pipe, { FORCE_COLOR: "" }, "linux", "16"],
    [tty, { FORCE_COLOR: "0", COLORTERM: "truecolor" }, "linux", "none"],
    [tty, { FORCE_COLOR: "3", NO_COLOR: "1" }, "linux", "none"],
  ] as const)("%o %o on %s -> %s", (stream, env, platform, expected) => {
    expect(detectTerminalColor(stream, env, platform)).toBe(expected);
  });
});

describe("colour fallbacks", () => {
  const out = twoSequenceOutput();
  /** Background escape of the cell showing `value` in the row of `label` (first match). */
  const cellEscape = (text: string, label: string, value: string) => {
    const line = text.split("\n").find((l) => stripAnsi(l).includes(` ${label} `))!;
    const m = new RegExp(`\\x1b\\[([0-9;]+)m\\s*${value.replace(".", "\\.")}\\s`).exec(line);
    return m?.[1];
  };

  it("each mode uses only its own escape codes", () => {
    const tc = out.show({ color: "truecolor" });
    const c256 = out.show({ color: "256" });
    const c16 = out.show({ color: "16" });
    expect(tc).toMatch(/\x1b\[48;2;\d+;\d+;\d+;38;2;\d+;\d+;\d+m/);
    expect(tc).not.toMatch(/\x1b\[48;5;/);
    expect(c256).toMatch(/\x1b\[48;5;\d+;38;5;\d+m/);
    expect(c256).not.toMatch(/\x1b\[48;2;/);
    const codes16 = new Set([...c16.matchAll(/\x1b\[([0-9;]+)m/g)].map((m) => m[1]));
    expect([...codes16].sort()).toEqual(["0", "1", "91", "94", "101;30", "104;30", "41;97", "44;97"].filter((c) => codes16.has(c)).sort());
    expect(codes16.has("41;97") && codes16.has("44;97")).toBe(true);
    // Same text once the escapes are gone.
    expect(stripAnsi(tc)).toBe(out.show({ color: "none" }));
    expect(stripAnsi(c256)).toBe(out.show({ color: "none" }));
    expect(stripAnsi(c16)).toBe(out.show({ color: "none" }));
  });

  it("positive cells are red and negative cells blue in every mode", () => {
    // Sequence 1 (decoder-only): "The" has 0.50 (positive), "▁cat" has -0.50 (negative), max |score| 0.70.
    const tc = out.show({ color: "truecolor" });
    const rgb = (esc: string) => esc.split(";").slice(2, 5).map(Number);
    const [pr, , pb] = rgb(cellEscape(tc, "The", "0.50")!);
    const [nr, , nb] = rgb(cellEscape(tc, "▁cat", "-0.50")!);
    expect(pr! > pb!).toBe(true);
    expect(nb! > nr!).toBe(true);
    const c256 = out.show({ color: "256" });
    const cube = (esc: string) => {
      const i = Number(esc.split(";")[2]) - 16;
      return [Math.floor(i / 36), Math.floor(i / 6) % 6, i % 6];
    };
    expect(cube(cellEscape(c256, "The", "0.50")!)[0]! > cube(cellEscape(c256, "The", "0.50")!)[2]!).toBe(true);
    expect(cube(cellEscape(c256, "▁cat", "-0.50")!)[2]! > cube(cellEscape(c256, "▁cat", "-0.50")!)[0]!).toBe(true);
    const c16 = out.show({ color: "16" });
    expect(cellEscape(c16, "The", "0.50")).toMatch(/^(41|101);/);
    expect(cellEscape(c16, "▁cat", "-0.50")).toMatch(/^(44|104);/);
  });

  it("16 colours: coloured text near zero, bright then full colour backgrounds with magnitude", () => {
    expect(ansi16Style(0.5)).toBe("");
    expect(ansi16Style(0.55)).toBe("\x1b[91m");
    expect(ansi16Style(0.45)).toBe("\x1b[94m");
    expect(ansi16Style(0.7)).toBe("\x1b[101;30m");
    expect(ansi16Style(1)).toBe("\x1b[41;97m");
    expect(ansi16Style(0.3)).toBe("\x1b[104;30m");
    expect(ansi16Style(0)).toBe("\x1b[44;97m");
  });

  it('color "auto" follows NO_COLOR / FORCE_COLOR', () => {
    vi.stubEnv("NO_COLOR", "1");
    expect(out.show({ color: "auto" })).toBe(out.show({ color: "none" }));
    vi.stubEnv("NO_COLOR", "");
    vi.stubEnv("FORCE_COLOR", "3");
    expect(out.show({ color: "auto" })).toBe(out.show({ color: "truecolor" }));
    vi.stubEnv("FORCE_COLOR", "1");
    expect(out.show({ color: "auto" })).toBe(out.show({ color: "16" }));
  });

  it("rejects unknown modes", () => {
    expect(() => renderTerminal(out.aggregate(), { color: "blue" as never })).toThrow(InseqError);
    expect(() => renderTerminal(out.aggregate(), { width: 0 })).toThrow(/width/);
  });
});

describe("colour ramps", () => {
  /** xterm's RGB for a 256-colour index (16 ANSI colours, 6x6x6 cube, 24 greys). */
  const xterm = (i: number): [number, number, number] => {
    if (i >= 232) return [8 + 10 * (i - 232), 8 + 10 * (i - 232), 8 + 10 * (i - 232)] as [number, number, number];
    if (i < 16) return [NaN, NaN, NaN];
    const level = (k: number) => [0, 95, 135, 175, 215, 255][k]!;
    const c = i - 16;
    return [level(Math.floor(c / 36)), level(Math.floor(c / 6) % 6), level(c % 6)];
  };
  const luminance = ([r, g, b]: number[]) => 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  /** Scale positions walking out from 0 (t = 0.5) to full magnitude on one side. */
  const walk = (side: -1 | 1) => Array.from({ length: 101 }, (_, k) => 0.5 + (side * k) / 200);
  const param = (style: string, key: string) => {
    const m = new RegExp(`(?:\\[|;)${key};5;(\\d+)`).exec(style);
    return m ? Number(m[1]) : null;
  };

  it.each([[-1, "blue"], [1, "red"]] as const)("256 colours, %s side: one hue, darker with magnitude, never white or grey", (side, hue) => {
    let last = Infinity;
    for (const t of walk(side)) {
      const m = Math.abs(t - 0.5) * 2;
      const style = cellStyle(t, "256");
      const bg = param(style, "48");
      if (m < 0.2) {
        // Near zero: no background (a white cell glares on dark themes); the text carries the hue.
        expect(bg, `t=${t}`).toBeNull();
        if (m > 0) {
          const [r, g, b] = xterm(param(style, "38")!);
          expect(hue === "blue" ? b! > r! : r! > b! && r! > g!, `text colour at t=${t}: ${style}`).toBe(true);
        }
        continue;
      }
      expect(bg, `t=${t}`).not.toBeNull();
      expect(bg! >= 16 && bg! < 232, `cube colour at t=${t}: ${bg}`).toBe(true);
      const rgb = xterm(bg!);
      const [r, g, b] = rgb;
      expect(hue === "blue" ? b! > r! && b! > g! : r! > b! && r! > g!, `${hue} at t=${t}: ${bg} = ${rgb}`).toBe(true);
      expect(luminance(rgb), `monotonic at t=${t}`).toBeLessThanOrEqual(last);
      last = luminance(rgb);
    }
    expect(last).toBeLessThan(100);  // the far end is a dark, saturated colour
  });

  it.each([[-1, ["94", "104;30", "44;97"]], [1, ["91", "101;30", "41;97"]]] as const)(
    "16 colours, side %i: coloured text near zero, then bright and full backgrounds, in order",
    (side, ramp) => {
      let rank = 0;
      expect(cellStyle(0.5, "16")).toBe("");
      for (const t of walk(side).slice(1)) {
        const code = /^\x1b\[([0-9;]+)m$/.exec(cellStyle(t, "16"))?.[1];
        const k = ramp.indexOf(code as never);
        expect(k, `t=${t}: ${code}`).toBeGreaterThanOrEqual(rank);
        rank = k;
      }
      expect(rank).toBe(2);
    },
  );

  it("truecolor: no near-white background near zero, the text is coloured instead", () => {
    for (const side of [-1, 1] as const) {
      for (const t of walk(side).slice(1, 20)) {
        const style = cellStyle(t, "truecolor");
        expect(style, `t=${t}`).not.toContain("48;2;");
        const [r, , b] = /^\x1b\[38;2;(\d+);(\d+);(\d+)m$/.exec(style)!.slice(1).map(Number);
        expect(side < 0 ? b! > r! : r! > b!, `t=${t}: ${style}`).toBe(true);
      }
    }
    expect(cellStyle(0.5, "truecolor")).toBe("");
    expect(cellStyle(1, "truecolor")).toBe("\x1b[48;2;178;24;43;38;2;255;255;255m");
  });
});

describe("paging to the terminal width", () => {
  const wide = wideOutput(12);
  const unpaged = wide.show({ color: "none" });
  /** Cell texts of the row labelled `label` in every table of `text`, joined across pages. */
  const rowValues = (text: string, label: string) =>
    text
      .split("\n")
      .filter((l) => l.startsWith("│") && l.includes(` ${label} `))
      .flatMap((l) => l.split("│").slice(3, -1).map((c) => c.trim()));
  const headerIndices = (text: string) =>
    text
      .split("\n")
      .filter((l) => /^┃\s+┃\s+┃\s+\d/.test(l))
      .flatMap((l) => l.split("┃").slice(3, -1).map((c) => Number(c.trim())));

  it("without a width, one table holds every column", () => {
    expect(unpaged).not.toContain("(columns");
    expect(headerIndices(unpaged)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it.each([40, 50, 60, 80, 100, 140])("width %i: every line fits, every column once, in order", (width) => {
    for (const color of ["none", "truecolor"] as const) {
      const text = wide.show({ color, width });
      const plain = stripAnsi(text);
      for (const line of plain.split("\n")) expect(displayWidth(line), line).toBeLessThanOrEqual(width);
      expect(headerIndices(plain)).toEqual(Array.from({ length: 12 }, (_, i) => i));
      for (const label of ["▁Once", "▁tok3", "probability"]) expect(rowValues(plain, label)).toEqual(rowValues(unpaged, label));
      const groups = [...plain.matchAll(/\(columns (\d+)–(\d+) of 12\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
      if (width < 140) expect(groups.length).toBeGreaterThan(1);
      groups.forEach(([a], k) => expect(a).toBe(k === 0 ? 0 : groups[k - 1]![1]! + 1));
    }
  });

  it("wider pages hold more columns", () => {
    const pages = (w: number) => (wide.show({ color: "none", width: w }).match(/Target Saliency Heatmap/g) ?? []).length;
    expect(pages(40)).toBeGreaterThan(pages(80));
    expect(pages(80)).toBeGreaterThanOrEqual(pages(140));
    expect(pages(400)).toBe(1);
  });

  it("a page too narrow for one column still shows each column (one per page)", () => {
    const text = wide.show({ color: "none", width: 10 });
    expect(headerIndices(text)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect((text.match(/Target Saliency Heatmap/g) ?? []).length).toBe(12);
  });
});

describe("HTML page", () => {
  const out = twoSequenceOutput();
  const html = out.show({ format: "html" });

  it("is self-contained: inline CSS and JS, no URL, no external resource", () => {
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/https?:\/\/|<link|\ssrc=|@import|url\(/);
    expect((html.match(/<script>/g) ?? []).length).toBe(1);
    expect((html.match(/<style>/g) ?? []).length).toBe(1);
  });

  it("has Inseq's heatmap tables, a token view per sequence, and both selectors", () => {
    expect(html).toContain('<option value="all">all sequences</option>');
    expect(html).toContain('<option value="0">0th instance: Ciao mondo</option>');
    expect(html).toContain('<option value="1">1st instance: The cat sat down</option>');
    expect(html).toContain('<select class="inseq-select-view"><option value="0">default aggregation</option><option value="1">raw scores (no aggregation)</option></select>');
    // 2 views x (seq 0: source + target, seq 1: target)
    expect((html.match(/class="inseq-heatmap"/g) ?? []).length).toBe(6);
    expect((html.match(/class="inseq-token-view"/g) ?? []).length).toBe(4);
    // one cell per (attributed, generated) pair: (3*3 + 4*3 + 4*2) per view
    expect((html.match(/<td class="inseq-cell/g) ?? []).length).toBe(2 * (9 + 12 + 8));
    expect(html).toMatch(/<div class="inseq-view" data-view="1" data-label="raw scores \(no aggregation\)" hidden>/);
    // the raw view shows the stored scores, the default view the L1-normalised ones
    expect(html).toContain('id="inseq-v1-0-source"');
    const raw = html.slice(html.indexOf('id="inseq-v1-0-source"'));
    expect(raw).toMatch(/<td class="inseq-cell" style="background:rgba\(178, 24, 43, [\d.]+\)">0\.600<\/td>/);
    expect(html.slice(0, html.indexOf('data-view="1"'))).toContain(">0.462</td>");
  });

  it("token data is JSON that cannot close its script element", () => {
    const seq = new FeatureAttributionSequenceOutput({
      kind: "coarse",
      source: toks("</script><script>alert(1)</script>", "\u2028"),
      target: toks("<s>", "x"),
      sourceAttributions: createTensor(["source", "generated"], [2, 1], [1, -1]),
      attrPosStart: 1,
    });
    const page = renderHtml(new FeatureAttributionOutput([seq]));
    expect(page).not.toContain("<script><script>");
    expect(page).not.toContain("</script><script>alert");
    expect(page).toContain("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    const json = /<script type="application\/json" class="inseq-token-data">(.*?)<\/script>/.exec(page)![1]!;
    expect(JSON.parse(json)).toEqual({ source: [[1], [-1]], target: null, stepScores: {}, tokens: ["x"] });
  });

  it("offers the raw view only when it is 2-D and differs; rawView: false and interactive: false turn things off", () => {
    expect(bandOutput().show({ format: "html" })).not.toContain('<select class="inseq-select-view"'); // coarse: aggregation is the identity
    expect(out.show({ format: "html", rawView: false })).not.toContain('<select class="inseq-select-view"');
    expect(out.show({ format: "html", aggregate: false })).not.toContain('<select class="inseq-select-view"');
    const granular3d = new FeatureAttributionOutput([
      new FeatureAttributionSequenceOutput({
        kind: "granular",
        source: toks("a"),
        target: toks("<s>", "b"),
        sourceAttributions: createTensor(["source", "generated", "hidden"], [1, 1, 2], [3, 4]),
        attrPosStart: 1,
      }),
    ]);
    expect(granular3d.show({ format: "html" })).not.toContain('<select class="inseq-select-view"');
    const staticPage = out.show({ format: "html", interactive: false });
    expect(staticPage).not.toContain("<script");
    expect(staticPage).not.toContain(`class="inseq-token-view"`);
    expect(staticPage).not.toContain('data-view="1"');
    expect((staticPage.match(/<td class="inseq-cell/g) ?? []).length).toBe(9 + 12 + 8);
  });

  it("aggregations: one view per aggregation function over the extra axes", () => {
    const granular3d = new FeatureAttributionOutput([
      new FeatureAttributionSequenceOutput({
        kind: "granular",
        source: toks("a", "b"),
        target: toks("<s>", "c"),
        sourceAttributions: createTensor(["source", "generated", "hidden"], [2, 1, 2], [3, -4, -1, 1]),
        attrPosStart: 1,
      }),
    ]);
    const page = granular3d.show({ format: "html", aggregations: ["sum", "absmax"] });
    expect(page).toContain(
      '<select class="inseq-select-view"><option value="0">default aggregation</option><option value="1">sum (+ normalisation)</option><option value="2">absmax (+ normalisation)</option></select>',
    );
    const view = (k: number) => page.slice(page.indexOf(`data-view="${k}"`), k < 2 ? page.indexOf(`data-view="${k + 1}"`) : undefined);
    const cells = (k: number) => [...view(k).matchAll(/<td class="inseq-cell"[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
    expect(cells(0)).toEqual(["0.780", "0.220"]); // vnorm: 5 and sqrt(2), over their sum 6.414
    expect(cells(1)).toEqual(["-1.000", "0.000"]); // sum: -1 and 0, over 1
    expect(cells(2)).toEqual(["-0.800", "-0.200"]); // absmax: -4 and -1, over 5
    expect(() => granular3d.show({ format: "html", aggregations: "sum" as never })).toThrow(/aggregations/);
  });

  it("user views are added to the selector and must have as many sequences", () => {
    const page = renderHtml(out.aggregate(), { label: "normalised", views: [{ label: "raw", output: out }] });
    expect(page).toContain('<option value="0">normalised</option><option value="1">raw</option>');
    expect(() => renderHtml(out.aggregate(), { views: [{ label: "one", output: out.sequenceAttributions[0]! }] })).toThrow(/2 sequences/);
  });

  it("fragments carry their style and script, for embedding", () => {
    const frag = out.show({ format: "html", fragment: true });
    expect(frag.startsWith('<div class="inseq-attributions">')).toBe(true);
    expect(frag).not.toContain("<!DOCTYPE");
    expect(frag).toContain("<style>");
    expect(frag).toContain("<script>");
  });
});
