// Every metric that the alert rules and the Grafana dashboard query exists.
// For the roles this build has, the names (and the label values the queries
// select on, and the labels they aggregate by) are read from the real
// processes' /metrics: storage, a collector and, when built, the learner,
// broker and planner are started on 127.0.0.1 with free ports and scraped. For
// roles not built yet, the names below are what they are to expose.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";

import { BINARY, MONITORING, ROLES, readText } from "./lib.mjs";

// Names a role that is not built yet must expose (DESIGN.md's metrics list).
// When the role lands the test reads its real /metrics instead, and these stop
// mattering; keep them to what the rules and dashboard use.
const EXPECTED_WHEN_NOT_BUILT = {
  // learner/: per-environment gauges (label env) set at each refit.
  learner: [
    "mbrl_build_info", "mbrl_learner_model_version", "mbrl_learner_holdout_normalized_mse",
    "mbrl_learner_holdout_nll", "mbrl_learner_transitions_read_total", "mbrl_learner_refits_total",
    "mbrl_learner_refit_duration_seconds_bucket",
  ],
  // planner_workers/: plan latency histogram, model version in use, refusals by reason.
  planner: [
    "mbrl_build_info", "mbrl_planner_plan_latency_seconds_bucket", "mbrl_planner_model_version",
    "mbrl_planner_rejected_total", "mbrl_planner_batch_size_bucket",
  ],
  // broker: refusals by reason (queue full, no worker), requests, workers.
  broker: ["mbrl_build_info", "mbrl_broker_rejected_total", "mbrl_broker_requests_total", "mbrl_broker_workers"],
};
// Not mbrl's: Prometheus' own and the kubelet's.
const EXTERNAL = new Set(["up", "kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes"]);
// Target labels added by the scrape config / PodMonitor, and PromQL's own.
const TARGET_LABELS = new Set(["namespace", "pod", "component", "instance", "job", "le", "persistentvolumeclaim"]);

// --- what the rules and the dashboard query --------------------------------

function queries() {
  const out = [];
  const rules = YAML.parse(readText(MONITORING, "mbrl-rules.yaml"));
  for (const g of rules.groups) for (const r of g.rules) out.push({ where: `rule ${r.alert || r.record}`, expr: r.expr });
  const dash = JSON.parse(readText(MONITORING, "mbrl-dashboard.json"));
  for (const p of dash.panels) for (const t of p.targets || []) out.push({ where: `panel "${p.title}"`, expr: t.expr });
  return out;
}

// Metric names in an expression: identifiers before a selector or range, and
// any mbrl_ identifier.
const FUNCTIONS = /^(by|without|on|ignoring|group_left|group_right|and|or|unless|bool|offset)$/;
function metricNames(expr) {
  const names = new Set();
  const stripped = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const m of stripped.matchAll(/\b([a-zA-Z_:][\w:]*)\s*(?=[{[])/g)) if (!FUNCTIONS.test(m[1])) names.add(m[1]);
  for (const m of stripped.matchAll(/\b(mbrl_\w+)/g)) names.add(m[1]);
  return [...names];
}
// name{label="value"} equality matchers (not the target labels).
function equalityMatchers(expr) {
  const out = [];
  for (const m of expr.matchAll(/\b(mbrl_\w+)\{([^}]*)\}/g)) {
    for (const l of m[2].matchAll(/(\w+)\s*=\s*"([^"]*)"/g)) {
      if (!TARGET_LABELS.has(l[1]) && !l[0].includes("=~")) out.push({ name: m[1], label: l[1], value: l[2] });
    }
  }
  return out;
}
function byLabels(expr) {
  const out = new Set();
  for (const m of expr.matchAll(/\b(?:by|on)\s*\(([^)]*)\)/g)) {
    for (const l of m[1].split(",").map((s) => s.trim()).filter(Boolean)) if (!TARGET_LABELS.has(l)) out.add(l);
  }
  return [...out];
}
function roleOf(name) {
  const m = /^mbrl_([a-z]+)_/.exec(name);
  return m && ROLES.includes(m[1]) ? m[1] : null;
}

// --- the real processes ----------------------------------------------------

const children = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mbrl-metric-names-"));

function childEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("MBRL_")) env[k] = v;
  return env;
}

// Starts `mbrl ARGS`; resolves with {proc, port} once it names its metrics
// port, or {proc, exit, stderr} if it exits first.
function start(args, timeoutMs = 30000) {
  const proc = spawn(BINARY, args, { env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
  children.push(proc);
  let stdout = "";
  let stderr = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mbrl ${args[0]}: no metrics port in ${timeoutMs} ms\n${stdout}\n${stderr}`)), timeoutMs);
    const look = () => {
      const m = /metrics_port=(\d+)/.exec(stdout) || /metrics on http:\/\/[\d.]+:(\d+)\/metrics/.exec(stderr);
      if (m && Number(m[1]) > 0) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]), out: () => stdout, err: () => stderr });
      }
    };
    proc.stdout.on("data", (d) => { stdout += d; look(); });
    proc.stderr.on("data", (d) => { stderr += d; look(); });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ proc, exit: code, stdout, stderr });
    });
    proc.on("error", reject);
  });
}

function stop(proc, graceMs = 10000) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    proc.on("exit", (code) => { clearTimeout(kill); resolve(code); });
    proc.kill("SIGTERM");
  });
}

function exited(proc, timeoutMs) {
  if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("did not exit in time")), timeoutMs);
    proc.on("exit", (code) => { clearTimeout(t); resolve(code); });
  });
}

// The probe endpoints the manifests use: /healthz must answer 200 while the
// process runs; /readyz must exist (200, or 503 while not ready).
const probes = {};
async function probe(role, port) {
  const get = async (p) => (await fetch(`http://127.0.0.1:${port}${p}`)).status;
  probes[role] = { healthz: await get("/healthz"), readyz: await get("/readyz") };
}

async function scrape(port) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  const series = [];
  for (const line of (await res.text()).split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    series.push({ name: m[1], labels });
  }
  return series;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

const notBuilt = (r) => r.exit !== undefined && /not built yet/.test(r.stderr);
const METRICS = ["--metrics-port", "0", "--metrics-address", "127.0.0.1", "--log-level", "warn"];

// role -> {live: series[]} or {expected: names[]}
const found = {};

describe("metric names used by the rules and the dashboard", { skip: !BINARY && "no mbrl binary (MBRL_BINARY)" }, () => {
  before(async () => {
    // storage, on free ports.
    const storage = await start(["storage", "--data-dir", path.join(tmp, "db"), "--listen", "tcp://127.0.0.1:0", ...METRICS]);
    assert.ok(storage.port, `storage did not start: ${storage.stderr}`);
    const endpoint = /endpoint=(\S+)/.exec(storage.out())[1];

    // A collector: 3 short reacher episodes (150 transitions, below the
    // learner's first-fit threshold), paced so it is scraped while it runs.
    const collector = await start(["collector", "--storage", endpoint, "--env", "reacher", "--id", "deploy-metric-names",
      "--episodes", "3", "--steps-per-second", "100", "--batch-steps", "25", ...METRICS]);
    assert.ok(collector.port, `collector did not start: ${collector.stderr}`);
    found.collector = { live: await scrape(collector.port) };
    await probe("collector", collector.port);
    assert.equal(await exited(collector.proc, 30000), 0, "collector exit code");
    found.storage = { live: await scrape(storage.port) };
    await probe("storage", storage.port);

    // The learner, once it has read the data (its per-environment series).
    const learner = await start(["learner", "--storage", endpoint, ...METRICS]);
    if (notBuilt(learner)) {
      found.learner = { expected: EXPECTED_WHEN_NOT_BUILT.learner };
    } else {
      assert.ok(learner.port, `learner did not start: ${learner.stderr}`);
      let series = [];
      for (let i = 0; i < 60; i++) {
        series = await scrape(learner.port);
        if (series.some((s) => s.name === "mbrl_learner_model_version")) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      found.learner = { live: series };
      await probe("learner", learner.port);
      await stop(learner.proc);
    }

    // The broker and a planner worker, when built.
    const brokerEndpoint = `tcp://127.0.0.1:${await freePort()}`;
    const broker = await start(["broker", "--listen", brokerEndpoint, ...METRICS]);
    found.broker = notBuilt(broker) ? { expected: EXPECTED_WHEN_NOT_BUILT.broker } : { live: await scrape(broker.port) };
    if (found.broker.live) await probe("broker", broker.port);
    const planner = await start(["planner", "--storage", endpoint, "--broker", brokerEndpoint, "--env", "reacher", ...METRICS]);
    found.planner = notBuilt(planner) ? { expected: EXPECTED_WHEN_NOT_BUILT.planner } : { live: await scrape(planner.port) };
    if (found.planner.live) await probe("planner", planner.port);
    if (planner.proc) await stop(planner.proc);
    if (broker.proc) await stop(broker.proc);
    assert.equal(await stop(storage.proc), 0, "storage exit code after SIGTERM");
  });

  after(async () => {
    await Promise.all(children.map((c) => stop(c, 3000)));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("which roles were scraped live", (t) => {
    for (const role of ROLES) t.diagnostic(`${role}: ${found[role]?.live ? "live /metrics" : "not built: expected names"}`);
    assert.ok(found.storage.live && found.collector.live);
  });

  test("every role's live /metrics has mbrl_build_info with its role", () => {
    for (const role of ROLES) {
      if (!found[role].live) continue;
      const info = found[role].live.find((s) => s.name === "mbrl_build_info");
      assert.ok(info, `${role}: no mbrl_build_info`);
      assert.equal(info.labels.role, role);
      assert.ok(info.labels.version);
    }
  });

  test("the probe endpoints answer: /healthz 200, /readyz 200 or 503", (t) => {
    for (const [role, p] of Object.entries(probes)) {
      t.diagnostic(`${role}: /healthz ${p.healthz}, /readyz ${p.readyz}`);
      assert.equal(p.healthz, 200, `${role} /healthz`);
      assert.ok([200, 503].includes(p.readyz), `${role} /readyz answered ${p.readyz}`);
    }
    for (const role of ROLES) if (found[role].live) assert.ok(probes[role], `${role} not probed`);
  });

  test("every metric name queried exists", () => {
    const missing = [];
    for (const { where, expr } of queries()) {
      for (const name of metricNames(expr)) {
        if (EXTERNAL.has(name)) continue;
        const roles = name === "mbrl_build_info" ? ROLES : [roleOf(name)];
        if (!roles[0]) {
          missing.push(`${where}: ${name} is neither mbrl's nor a known external metric`);
          continue;
        }
        for (const role of roles) {
          const f = found[role];
          const names = f.live ? new Set(f.live.map((s) => s.name)) : new Set(f.expected);
          if (!names.has(name)) missing.push(`${where}: ${name} not in ${role}'s ${f.live ? "/metrics" : "expected names"}`);
        }
      }
    }
    assert.deepEqual(missing, []);
  });

  test("label values selected on and labels aggregated by exist on live series", () => {
    const problems = [];
    for (const { where, expr } of queries()) {
      for (const { name, label, value } of equalityMatchers(expr)) {
        const f = found[roleOf(name)];
        if (!f?.live) continue;
        if (!f.live.some((s) => s.name === name && s.labels[label] === value)) {
          problems.push(`${where}: no ${name}{${label}="${value}"}`);
        }
      }
      const names = metricNames(expr).filter((n) => !EXTERNAL.has(n));
      const live = names.every((n) => found[roleOf(n)]?.live);
      if (!live || names.length === 0) continue;
      for (const label of byLabels(expr)) {
        const has = names.some((n) => found[roleOf(n)].live.some((s) => s.name === n && label in s.labels));
        if (!has) problems.push(`${where}: aggregates by ${label}, which none of ${names.join(", ")} has`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
