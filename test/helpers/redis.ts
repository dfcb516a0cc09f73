/**
 * A throwaway Redis for the queue tests: Debian's redis-server on a free loopback port, no persistence, killed
 * by stop(). Missing redis-server skips the queue suites, except in CI (scripts/setup.sh --tests installs it).
 * INSEQ_REDIS_SERVER overrides the binary.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";

export const REDIS_SERVER = process.env.INSEQ_REDIS_SERVER ?? "/usr/bin/redis-server";
export const redisAvailable = existsSync(REDIS_SERVER);
if (!redisAvailable && process.env.CI) throw new Error(`redis-server not found at ${REDIS_SERVER}: scripts/setup.sh --tests installs Debian's redis-server`);

/** A loopback port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Sends PING over a raw socket: the first reply line, or null when nothing answers. */
function ping(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let got = "";
    const done = (reply: string | null) => {
      s.destroy();
      resolve(reply);
    };
    s.setTimeout(500, () => done(null));
    s.on("error", () => done(null));
    s.on("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => {
      got += d;
      if (got.includes("\r\n")) done(got.split("\r\n")[0]!);
    });
  });
}

export interface RedisServer {
  port: number;
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts redis-server (extra args appended, e.g. ["--requirepass", "pw"]) and waits until it answers PING. */
export async function startRedis(extra: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ["--port", String(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--daemonize", "no", ...extra], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${stderr}`);
    // +PONG, or -NOAUTH with --requirepass: a reply means it is up.
    const reply = await ping(port);
    if (reply === "+PONG" || reply?.startsWith("-NOAUTH")) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}
