// Runs a benchmark child under a memory cap, pinned to one core, with a time limit:
//   - a memory cgroup of its own when this process may create one: cgroup v2 (memory.max, memory.swap.max = 0)
//     or, on hybrid hosts whose memory controller is still v1 (this VM), v1 (memory.limit_in_bytes, and
//     memory.memsw.limit_in_bytes when swap accounting exists). The child joins it before it allocates: it is
//     started as `sh -c 'echo $$ > cgroup.procs && exec "$@"'`, so the process that runs the benchmark is
//     already inside. The kernel's OOM killer then kills it at the cap (memory.events / memory.oom_control
//     report the kill);
//   - always, a watchdog reading the child's VmRSS every 50 ms and killing it above the cap. It is the cap when
//     no cgroup can be made, and the second line of defence otherwise: a cgroup charges page-cache pages to the
//     group that first faulted them, so memory-mapped weights already cached by an earlier run are not charged to
//     this child, while RSS counts them.
// The result says which mechanism ended a run: "out of memory (cgroup v1)", "out of memory (RSS watchdog)", ...
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";

const read = (f) => { try { return readFileSync(f, "utf8"); } catch { return null; } };
const write = (f, v) => { try { writeFileSync(f, String(v)); return true; } catch { return false; } };

let seq = 0;

/**
 * A fresh cgroup with `limit` bytes for one child, or null when none can be made:
 * { kind: "cgroup v2" | "cgroup v1", dir, procs, oomKilled(): boolean, remove() }.
 */
export function makeCgroup(limit) {
  const own = read("/proc/self/cgroup") ?? "";
  const name = `inseq-bench-${process.pid}-${seq++}`;
  // cgroup v2: "0::/path", mounted at /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid).
  const v2path = own.match(/^0::(.*)$/m)?.[1];
  for (const mount of ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]) {
    if (v2path === undefined || !existsSync(path.join(mount, "cgroup.controllers"))) continue;
    const parent = path.join(mount, v2path);
    if (!(read(path.join(parent, "cgroup.controllers")) ?? "").split(/\s+/).includes("memory")) continue;
    write(path.join(parent, "cgroup.subtree_control"), "+memory");  // fails harmlessly when already on / not allowed
    const dir = path.join(parent, name);
    try { mkdirSync(dir); } catch { continue; }
    if (write(path.join(dir, "memory.max"), limit)) {
      write(path.join(dir, "memory.swap.max"), 0);
      const events = () => Number((read(path.join(dir, "memory.events")) ?? "").match(/^oom_kill (\d+)/m)?.[1] ?? 0);
      return { kind: "cgroup v2", dir, procs: path.join(dir, "cgroup.procs"), oomKilled: () => events() > 0, remove: () => rm(dir) };
    }
    rm(dir);
  }
  // cgroup v1 memory controller: "N:memory:/path".
  const v1path = own.match(/^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m)?.[1];
  if (v1path !== undefined && existsSync("/sys/fs/cgroup/memory")) {
    const dir = path.join("/sys/fs/cgroup/memory", v1path, name);
    try {
      mkdirSync(dir);
      if (write(path.join(dir, "memory.limit_in_bytes"), limit)) {
        write(path.join(dir, "memory.memsw.limit_in_bytes"), limit);  // memory + swap = memory: no swap (absent without swap accounting)
        const ctl = () => read(path.join(dir, "memory.oom_control")) ?? "";
        // oom_kill counts kills (Linux >= 4.13); under_oom / failcnt are the older signs.
        const oomKilled = () => Number(ctl().match(/^oom_kill (\d+)/m)?.[1] ?? 0) > 0 || /^under_oom 1/m.test(ctl());
        return { kind: "cgroup v1", dir, procs: path.join(dir, "cgroup.procs"), oomKilled, remove: () => rm(dir) };
      }
      rm(dir);
    } catch {
      /* not allowed here: fall through */
    }
  }
  return null;
}

function rm(dir) {
  // A cgroup can be removed once its processes have exited; the kernel may take a moment to notice.
  for (let i = 0; i < 50; i++) {
    try { rmdirSync(dir); return; } catch { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); }
  }
}

/** VmRSS of a process in bytes (null once it has gone). */
function rssOf(pid) {
  const kb = read(`/proc/${pid}/status`)?.match(/^VmRSS:\s+(\d+) kB/m)?.[1];
  return kb === undefined ? null : Number(kb) * 1024;
}

/**
 * Runs `cmd args` with `limit` bytes, `timeoutS` seconds (0: none), pinned to `cpu` ("" : not pinned) and
 * resolves { status: "ok" | "out of memory" | "timeout" | "failed", mechanism, code, signal, stdout, stderr,
 * wallSeconds, sampledPeakMb } ("failed": a non-zero exit that was neither). `useCgroup: false` leaves only the
 * watchdog.
 */
export function runCapped(cmd, args, { limit, timeoutS = 0, cpu = "1", env = process.env, cwd, useCgroup = true, onStderr }) {
  const group = useCgroup ? makeCgroup(limit) : null;
  const inner = group ? ["sh", ["-c", 'echo $$ > "$0" && exec "$@"', group.procs, cmd, ...args]] : [cmd, args];
  const [c, a] = cpu !== "" ? ["taskset", ["-c", cpu, inner[0], ...inner[1]]] : inner;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(c, a, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let [stdout, stderr, peak, killedFor] = ["", "", 0, null];
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => { stderr += d; onStderr?.(d); });
    const poll = setInterval(() => {
      const rss = rssOf(child.pid);
      if (rss === null) return;
      peak = Math.max(peak, rss);
      if (rss > limit && !killedFor) { killedFor = "watchdog"; child.kill("SIGKILL"); }
    }, 50);
    const timer = timeoutS > 0 ? setTimeout(() => { if (!killedFor) { killedFor = "timeout"; child.kill("SIGKILL"); } }, timeoutS * 1000) : null;
    child.on("close", (code, signal) => {
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      const cgroupOom = group ? group.oomKilled() : false;
      group?.remove();
      let status = code === 0 ? "ok" : "failed";
      let mechanism = group ? `${group.kind} + RSS watchdog` : "RSS watchdog";
      if (killedFor === "timeout") status = "timeout";
      else if (killedFor === "watchdog") [status, mechanism] = ["out of memory", "RSS watchdog"];
      else if (cgroupOom && code !== 0) [status, mechanism] = ["out of memory", group.kind];
      resolve({ status, mechanism, code, signal, stdout, stderr, wallSeconds: (performance.now() - t0) / 1000, sampledPeakMb: Math.round(peak / 2 ** 20) });
    });
  });
}
