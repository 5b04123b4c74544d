// Child processes for the live deploy checks (prometheus-live.mjs,
// netns-rehearsal.mjs): start, read their output, wait for a line, stop with a
// grace period, and never leave one behind (SIGKILL on exit of the test).
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

const running = new Set();
process.on("exit", () => {
  for (const c of running) {
    try {
      process.kill(c.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
});

// Interrupted (Ctrl-C, ctest's timeout): exit, so that the hook above runs.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.log(`# ${sig}: stopping`);
    process.exit(1);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A TCP port on 127.0.0.1 that was free a moment ago.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function tail(text, bytes = 2500) {
  return text.length <= bytes ? text : `...${text.slice(-bytes)}`;
}

// One child. `name` labels its log (logDir/name.log gets stdout and stderr).
export class Child {
  constructor(name, command, args, { env = process.env, logDir = null } = {}) {
    this.name = name;
    this.command = command;
    this.args = args;
    this.stdout = "";
    this.stderr = "";
    this.exitCode = undefined; // number, or null when killed by a signal
    this.signal = null;
    this.log = logDir ? fs.createWriteStream(path.join(logDir, `${name}.log`), { flags: "a" }) : null;
    this.proc = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    this.pid = this.proc.pid;
    running.add(this);
    this.proc.stdout.on("data", (d) => {
      this.stdout += d;
      this.log?.write(d);
    });
    this.proc.stderr.on("data", (d) => {
      this.stderr += d;
      this.log?.write(d);
    });
    this.exited = new Promise((resolve) => {
      this.proc.on("error", (e) => {
        this.stderr += `\nspawn error: ${e.message}`;
        this.exitCode = -1;
        running.delete(this);
        resolve(-1);
      });
      this.proc.on("exit", (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        running.delete(this);
        // Let the pipes drain before anyone reads the output.
        setImmediate(() => {
          this.log?.end();
          resolve(code);
        });
      });
    });
  }

  get running() {
    return this.exitCode === undefined;
  }

  // The first match of `regex` in stdout + stderr, waiting up to timeoutMs;
  // throws when the process exits first or time runs out.
  async waitFor(regex, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = regex.exec(this.stdout) || regex.exec(this.stderr);
      if (m) return m;
      if (!this.running) {
        throw new Error(`${this.name} exited (${this.exitCode ?? this.signal}) before printing ${regex}\n` +
          `stdout: ${tail(this.stdout)}\nstderr: ${tail(this.stderr)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: no ${regex} within ${timeoutMs} ms\nstdout: ${tail(this.stdout)}\n` +
          `stderr: ${tail(this.stderr)}`);
      }
      await sleep(100);
    }
  }

  signalNow(signal) {
    if (this.running) this.proc.kill(signal);
  }

  // `signal` (default SIGTERM), then SIGKILL after graceMs. Resolves with
  // {code, signal, killed}: killed when the grace period ran out.
  async stop(graceMs = 10000, signal = "SIGTERM") {
    if (!this.running) return { code: this.exitCode, signal: this.signal, killed: false };
    this.proc.kill(signal);
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.proc.kill("SIGKILL");
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
    return { code: this.exitCode, signal: this.signal, killed };
  }
}

// Stops every child still running (SIGTERM, then SIGKILL after graceMs).
export async function stopAll(graceMs = 5000) {
  await Promise.all([...running].map((c) => c.stop(graceMs)));
}

// A list of failed checks; the script exits 1 when it is not empty.
export class Checks {
  constructor() {
    this.failed = [];
    this.passed = 0;
  }

  ok(condition, what) {
    if (condition) {
      this.passed += 1;
      console.log(`ok: ${what}`);
    } else {
      this.failed.push(what);
      console.log(`FAILED: ${what}`);
    }
    return Boolean(condition);
  }
}
