/** A one-line progress bar on stderr (only when stderr is a TTY, unless forced); rate and ETA included. */
export class ProgressBar {
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #bytes: boolean;
  readonly #start = Date.now();
  #lastDraw = 0;
  #drawn = false;
  /** Bytes mode: the count at the first update (a resumed download), left out of the rate. */
  #base: number | undefined;

  /** `bytes`: counts are bytes, shown as MB and MB/s (the `unit` of update() is then ignored). */
  constructor(label: string, options: { enabled?: boolean; bytes?: boolean } = {}) {
    this.#label = label;
    this.#enabled = options.enabled ?? Boolean(process.stderr.isTTY);
    this.#bytes = options.bytes ?? false;
  }

  update(done: number, total: number, unit = "it", extra = ""): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (now - this.#lastDraw < 80 && done < total) return;
    this.#lastDraw = now;
    const width = 24;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(frac * width);
    const secs = (now - this.#start) / 1000;
    if (this.#bytes) this.#base ??= done;
    const rate = secs > 0 ? (done - (this.#base ?? 0)) / secs : 0;
    const eta = rate > 0 && total > done ? `${Math.ceil((total - done) / rate)}s` : "0s";
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const counts = this.#bytes
      ? `${megabytes(done)}/${megabytes(total)} MB ${megabytes(rate)} MB/s`
      : `${done}/${total} ${rate.toFixed(1)} ${unit}/s`;
    process.stderr.write(`\r${this.#label} ${bar} ${counts} eta ${eta}${extra ? " " + extra : ""}\x1b[K`);
    this.#drawn = true;
  }

  done(): void {
    if (this.#drawn) process.stderr.write("\n");
    this.#drawn = false;
  }
}

/** Bytes as MB (10^6) with one decimal. */
export function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
