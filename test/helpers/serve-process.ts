/**
 * A real `inseq serve` process on loopback for the server tests: spawned from dist/ with `--port 0`, its URL
 * read from the "inseq serve listening" log line, its stdout/stderr kept for assertions on the logs.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI = path.join(REPO_ROOT, "dist", "cli", "index.js");

export interface ServeProcess {
  url: string;
  pid: number;
  proc: ChildProcessWithoutNullStreams;
  /** Everything the process wrote so far (stdout then stderr). */
  output(): string;
  /** The JSON log lines written so far. */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the first log line (already written or to come) that `match` accepts. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown> & { receivedAt: number }>;
  stop(): Promise<void>;
}

function parseLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a partial line: read again later
    }
  }
  return out;
}

export async function startServe(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const proc = spawn(process.execPath, [CLI, "serve", "--port", "0", ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, OMP_NUM_THREADS: "1", ...env },
  });
  let stdout = "";
  let stderr = "";
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  proc.stdout.setEncoding("utf8").on("data", (d: string) => ((stdout += d), wake()));
  proc.stderr.setEncoding("utf8").on("data", (d: string) => ((stderr += d), wake()));
  let exited = false;
  proc.on("exit", () => ((exited = true), wake()));

  const self: ServeProcess = {
    url: "",
    pid: proc.pid!,
    proc,
    output: () => stdout + stderr,
    logs: () => parseLines(stdout),
    waitForLog(match, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line in ${timeoutMs} ms; output:\n${stdout}${stderr}`)), timeoutMs);
        const check = () => {
          const hit = parseLines(stdout).find(match);
          if (hit) {
            clearTimeout(timer);
            resolve({ ...hit, receivedAt: performance.now() });
          } else if (exited) {
            clearTimeout(timer);
            reject(new Error(`inseq serve exited; output:\n${stdout}${stderr}`));
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
    async stop() {
      if (exited) return;
      const done = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await done;
      clearTimeout(timer);
    },
  };
  const listening = await self.waitForLog((l) => l.msg === "inseq serve listening" && typeof l.url === "string", 60_000);
  self.url = listening.url as string;
  return self;
}

/** POST a JSON body; resolves to the status, headers and parsed body. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** The events of a server-sent event stream, in order. */
export function parseEvents(text: string): Array<{ event: string; data: any }> {
  return text.split("\n\n").filter((b) => b.trim() !== "").map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
    const data = /^data: (.*)$/m.exec(block)?.[1];
    return { event, data: data === undefined ? null : JSON.parse(data) };
  });
}
