/**
 * The Redis behind the job queue: `--queue redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS).
 * The password never appears in a message or a log line: `redactUrl` masks it in the URL and `redact` removes it
 * from any text (a driver's error message included).
 */
import { Redis, type RedisOptions } from "ioredis";

import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";

export interface QueueConnection {
  /** ioredis options (host, port, db, username, password, tls). */
  options: RedisOptions;
  /** The URL with its password masked, for messages. */
  display: string;
  /** Removes the password from a text (error messages from the driver or Redis). */
  redact: (text: string) => string;
}

const EXPECTED = "a redis://[user:password@]host[:port][/db] or rediss:// URL";

/** The URL with its password replaced by "***". */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, "$1***@");
}

/**
 * Parses and checks a queue URL; ERR_INVALID_OPTION (with the password masked) when it is not one. A URL without
 * a password takes `env.INSEQ_QUEUE_PASSWORD` when set, so the password need not be on a command line (where
 * `ps` shows it).
 */
export function parseQueueUrl(url: string, option = "--queue", env: NodeJS.ProcessEnv = process.env): QueueConnection {
  const masked = typeof url === "string" ? redactUrl(url) : url;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalidOption(option, EXPECTED, masked);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw invalidOption(option, EXPECTED, masked);
  if (u.hostname === "") throw invalidOption(option, `${EXPECTED} (with a host)`, masked);
  const port = u.port === "" ? 6379 : Number(u.port);
  const dbPath = u.pathname.replace(/^\//, "");
  const db = dbPath === "" ? 0 : Number(dbPath);
  if (!/^\d*$/.test(dbPath) || !Number.isInteger(db) || db < 0) throw invalidOption(option, `${EXPECTED} (the db a number)`, masked);
  if (u.search !== "" || u.hash !== "") throw invalidOption(option, `${EXPECTED} (no query or fragment)`, masked);
  const fromEnv = env.INSEQ_QUEUE_PASSWORD !== undefined && env.INSEQ_QUEUE_PASSWORD !== "" ? env.INSEQ_QUEUE_PASSWORD : undefined;
  const password = u.password === "" ? fromEnv : decodeURIComponent(u.password);
  const username = u.username === "" ? undefined : decodeURIComponent(u.username);
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const options: RedisOptions = {
    host, port, db,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(u.protocol === "rediss:" ? { tls: { servername: host } } : {}),
  };
  const secrets = [password, u.password, fromEnv].filter((s): s is string => s !== undefined && s.length > 0);
  const redact = (text: string) => secrets.reduce((t, s) => t.split(s).join("***"), redactUrl(text));
  return { options, display: redact(url), redact };
}

/** Time to wait for Redis to answer before ERR_QUEUE (ms). */
export const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A client for BullMQ (maxRetriesPerRequest null, as its blocking commands need), after checking that Redis
 * answers PING: an unreachable Redis or refused credentials fail at once with ERR_QUEUE, not after a retry loop.
 */
export async function connectQueue(conn: QueueConnection): Promise<Redis> {
  const probe = new Redis({ ...conn.options, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // The first error event says why (refused credentials: WRONGPASS). Disconnecting right then ends the connection
  // at once (later, ioredis would wait its disconnectTimeout, 2 s, before the process can exit).
  let first: Error | undefined;
  probe.on("error", (err: Error) => {
    first ??= err;
    probe.disconnect();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once("ready", resolve);
      probe.once("end", () => reject(first ?? new Error("the connection closed")));
    });
    await probe.ping();
  } catch (err) {
    const why = (first ?? (err as Error)).message || String(err);
    throw new InseqError(ErrorCode.QUEUE, `Cannot reach Redis at ${conn.display}: ${conn.redact(why)}`);
  } finally {
    if (probe.status !== "end") probe.disconnect();
  }
  const client = new Redis({ ...conn.options, maxRetriesPerRequest: null });
  client.on("error", () => undefined); // ioredis reconnects by itself; BullMQ reports failed commands
  return client;
}
