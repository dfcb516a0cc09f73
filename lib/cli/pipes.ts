/**
 * Closed pipes (`inseq show big.json | head -1`, a progress bar whose terminal went away): the reader is gone, so
 * the rest of that stream's output is dropped quietly, as Unix tools do, and the command carries on to its own
 * exit status (0 when it succeeds), instead of dying with an EPIPE stack. The work still finishes: `inseq
 * attribute -o out.json | head -3` still saves out.json.
 */

/** Error codes that mean "nobody reads this stream any more". */
const CLOSED = new Set(["EPIPE", "ERR_STREAM_DESTROYED"]);

/** Installs the closed-pipe handling on a process's stdout and stderr (the CLI entry calls it once). */
export function dropOutputOnClosedPipes(streams: NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (!CLOSED.has(err.code ?? "")) throw err;
      // Later writes succeed without output (a destroyed stream would report every one of them again).
      stream.write = ((_chunk: unknown, ...rest: unknown[]) => {
        const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
        if (cb) process.nextTick(cb);
        return true;
      }) as typeof stream.write;
    });
  }
}
