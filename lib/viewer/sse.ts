/**
 * Server-sent events read from a `fetch()` body (EventSource cannot POST): the text/event-stream framing of the
 * WHATWG spec, enough for `inseq serve` (`event:` and `data:` lines, blank line ends an event, `:` comments and
 * other fields ignored, CRLF or LF). Yields each event with its data lines joined by "\n".
 */

export interface SseEvent {
  event: string;
  data: string;
}

/** Events of `body` as they arrive; ends with the stream (a last event without its blank line is still given). */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  const take = (): SseEvent | null => {
    const out = data.length > 0 || event ? { event: event || "message", data: data.join("\n") } : null;
    event = "";
    data = [];
    return out;
  };
  /** One field line (`field: value`; comments, blank lines and other fields change nothing). */
  const field = (line: string): void => {
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "event") event = value;
    else if (name === "data") data.push(value);
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        if (!done && nl === buffer.length - 1 && buffer[nl] === "\r") break; // may be half of a CRLF
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          const e = take();
          if (e) yield e;
        } else {
          field(line);
        }
      }
      if (done) break;
    }
    if (buffer.startsWith("data:")) field(buffer); // a final data line without its newline
    const last = take();
    if (last) yield last;
  } finally {
    reader.releaseLock();
  }
}
