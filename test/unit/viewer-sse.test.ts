/** The viewer's server-sent events reader (lib/viewer/sse.ts) on streams cut at awkward places. */
import { describe, expect, it } from "vitest";
import { readSse, type SseEvent } from "../../lib/viewer/sse.js";

/** A byte stream delivering `text` in the given chunk sizes (the last chunk takes the rest). */
function stream(text: string, sizes: number[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const n of sizes) {
    if (at >= bytes.length) break;
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  if (at < bytes.length) chunks.push(bytes.subarray(at));
  return new ReadableStream({
    pull(controller) {
      const c = chunks.shift();
      if (c) controller.enqueue(c);
      else controller.close();
    },
  });
}

async function all(s: ReadableStream<Uint8Array>): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of readSse(s)) out.push(e);
  return out;
}

const TEXT =
  'event: queued\ndata: {"requestId":"r1","position":0}\n\n' +
  ": a comment\n" +
  'event: started\ndata: {"requestId":"r1"}\n\n' +
  'event: progress\ndata: {"done":1,"total":4}\n\n' +
  'event: result\ndata: {"id":"x",\ndata: "output":{"t":"é ✓"}}\n\n';

const EXPECTED: SseEvent[] = [
  { event: "queued", data: '{"requestId":"r1","position":0}' },
  { event: "started", data: '{"requestId":"r1"}' },
  { event: "progress", data: '{"done":1,"total":4}' },
  { event: "result", data: '{"id":"x",\n"output":{"t":"é ✓"}}' },
];

describe("readSse", () => {
  it("reads events in order, joining data lines, skipping comments", async () => {
    expect(await all(stream(TEXT, [TEXT.length]))).toEqual(EXPECTED);
  });

  it("gives the same events whatever the chunking (one byte at a time, cuts inside UTF-8 characters)", async () => {
    expect(await all(stream(TEXT, Array(400).fill(1)))).toEqual(EXPECTED);
    expect(await all(stream(TEXT, [7, 13, 2, 50, 3, 1, 1, 90]))).toEqual(EXPECTED);
  });

  it("accepts CRLF line ends, a CRLF cut between its two bytes, and a last event without its blank line", async () => {
    const crlf = TEXT.replace(/\n/g, "\r\n");
    const cut = crlf.indexOf('"x",\r\n') + 5; // between the \r and \n ending the first of two data lines
    expect(await all(stream(crlf, [cut, 1, 1, 1000]))).toEqual(EXPECTED);
    expect(await all(stream("event: error\ndata: {\"code\":\"ERR_LIMIT\"}", [5]))).toEqual([{ event: "error", data: '{"code":"ERR_LIMIT"}' }]);
  });

  it('names an event without an "event:" field "message"', async () => {
    expect(await all(stream("data: 1\n\ndata:2\n\n", [3]))).toEqual([
      { event: "message", data: "1" },
      { event: "message", data: "2" },
    ]);
  });
});
