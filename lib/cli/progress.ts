/** A one-line progress bar on stderr (only when stderr is a TTY, unless forced); rate and ETA included. */
export class ProgressBar {
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #start = Date.now();
  #lastDraw = 0;
  #drawn = false;

  constructor(label: string, options: { enabled?: boolean } = {}) {
    this.#label = label;
    this.#enabled = options.enabled ?? Boolean(process.stderr.isTTY);
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
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 && total > done ? `${Math.ceil((total - done) / rate)}s` : "0s";
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    process.stderr.write(`\r${this.#label} ${bar} ${done}/${total} ${rate.toFixed(1)} ${unit}/s eta ${eta}${extra ? " " + extra : ""}\x1b[K`);
    this.#drawn = true;
  }

  done(): void {
    if (this.#drawn) process.stderr.write("\n");
    this.#drawn = false;
  }
}
