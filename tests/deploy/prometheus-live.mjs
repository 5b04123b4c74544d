// Live monitoring check (issue 7): a real Prometheus server scrapes a real
// short `mbrl local` run, and every Grafana dashboard query and every alert
// expression (threshold removed) evaluates without error and returns series.
//
//   node tests/deploy/prometheus-live.mjs      (MBRL_BINARY = the mbrl binary)
// Exit codes: 0 passed, 1 failed, 77 skipped (no prometheus binary).
//
// What runs, all on 127.0.0.1 with ports chosen at run time:
//   - `mbrl local --env pendulum_swingup` with a small budget (storage, the
//     learner, a collector and its in-process planner; one /metrics port);
//   - the planner pool `mbrl local` does not have: `mbrl broker`, one
//     `mbrl planner --dynamics learned` following local's model registry, and
//     one `mbrl collector --policy remote` writing into local's storage, each
//     on a /metrics port of its own (the broker and planner series exist only
//     there);
//   - a kubelet stand-in serving kubelet_volume_stats_{available,capacity}_bytes
//     of the filesystem that holds local's data directory, under the labels
//     the kubelet gives the storage pod's PVC (data-mbrl-storage-local): the two
//     volume alerts read them;
//   - Prometheus (Debian's) with deploy/monitoring/prometheus.yml and
//     mbrl-rules.yaml as shipped, except: 1 s scrape and evaluation intervals,
//     the targets in targets/mbrl.json (the file discovery that config offers
//     for processes outside Kubernetes), a kubelet job, and metric relabelling
//     of the `mbrl local` target only: it hosts four roles in one process, so
//     each series gets the component label of its role and a pod label of
//     its own (mbrl-<role>-local), as one pod per role would give it; the
//     rules' (namespace, pod) joins need that.
//
// What is checked, at one evaluation time while everything runs:
//   - every target is up; Prometheus itself evaluated every rule (health ok);
//   - dashboard variables: each query variable's label_values(...) query
//     returns values; then every panel query, with $namespace set to the All
//     value and to one namespace found, and $__rate_interval as Grafana
//     computes it for a 1 s scrape interval (max($__interval + 1s, 4 x 1s) =
//     4s, $__interval = 1s), evaluates without error and returns series;
//   - every alert expression evaluates without error as written, and returns
//     series with its threshold removed. Removing the threshold: the
//     expression is split at top-level set operators (and / or / unless,
//     with their on(...)/ignoring(...)); from each operand a trailing
//     top-level comparison with a number (`> 0.1`, `== 0`, `< bool 1`) is cut.
//     A comparison that is left over fails the check (teach this script).
//     `A and B`: the whole and each operand must return series (so the join
//     labels match); `A or B`: the whole; `A unless B`: A must return series
//     and B evaluate (with thresholds gone B would remove everything A has).
//     `for:` only delays firing and is not part of the expression: ignored;
//   - a few values are sane: some collector steps, storage holds
//     transitions, the learner published >= 2 versions, plan latency > 0;
//   - every mbrl process exits 0 on SIGTERM, and Prometheus too.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";

import { BINARY, MONITORING } from "./lib.mjs";
import { Checks, Child, freePort, sleep, stopAll, tail } from "./procs.mjs";

const SKIP = 77;
const NAMESPACE = "mbrl-live";
const SCRAPE_SECONDS = 1;
// Grafana: $__interval is at least the data source's scrape interval;
// $__rate_interval = max($__interval + scrape interval, 4 x scrape interval).
const GRAFANA_INTERVAL = `${SCRAPE_SECONDS}s`;
const GRAFANA_RATE_INTERVAL = `${Math.max(2 * SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)}s`;
const DEADLINE_MS = 100000; // For everything up to the evaluation.

// PROMETHEUS=PATH chooses the binary (absent there: skipped).
function findPrometheus() {
  if (process.env.PROMETHEUS) return fs.existsSync(process.env.PROMETHEUS) ? process.env.PROMETHEUS : null;
  const candidates = ["/usr/bin/prometheus"];
  for (const dir of (process.env.PATH || "").split(":")) if (dir) candidates.push(path.join(dir, "prometheus"));
  return candidates.find((c) => c && fs.existsSync(c)) || null;
}

const PROMETHEUS = findPrometheus();
if (!PROMETHEUS) {
  console.log("SKIP: no prometheus binary (Debian's `prometheus` package; MBRL_WITH_TEST_TOOLS=1 scripts/install-deps installs it)");
  process.exit(SKIP);
}
if (!BINARY) {
  console.log("FAILED: no mbrl binary (MBRL_BINARY)");
  process.exit(1);
}

// Small enough that a planned 200-step pendulum episode takes seconds and a
// fit under a second (tests/integration/local_test.cc's budget).
const SMALL_CONFIG = `planner:
  population: 60
  elites: 6
  iterations: 3
  horizon: 25
  particles: 6
learner:
  ensemble_size: 3
  elites: 3
  hidden: 48
  layers: 2
  max_steps: 300
  epochs: 300
  eval_steps: 25
  patience: 4
local:
  model_timeout_s: 60
`;

// --- PromQL: thresholds and Grafana variables -----------------------------

// `expr` with everything inside (), {}, [] and strings replaced by '#', so
// that top-level operators can be found by position.
function maskNested(expr) {
  let out = "";
  let depth = 0;
  let quote = null;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (quote) {
      if (c === "\\") {
        out += "##";
        i++;
        continue;
      }
      if (c === quote) quote = null;
      out += "#";
      continue;
    }
    if (c === '"' || c === "'" || c === "`") {
      quote = c;
      out += "#";
      continue;
    }
    if ("([{".includes(c)) {
      out += depth === 0 ? c : "#";
      depth++;
      continue;
    }
    if (")]}".includes(c)) {
      depth--;
      out += depth === 0 ? c : "#";
      continue;
    }
    out += depth === 0 ? c : "#";
  }
  return out;
}

const SET_OP = /\s(and|or|unless)(\s+(?:on|ignoring)\s*\(#*\))?\s/g;
const TRAILING_THRESHOLD = /\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?\s*$/i;
const COMPARISON = /==|!=|>=|<=|>|</;

// {operands: [expr...], ops: [{op, text}...], stripped: expr, leftover: [...]}
export function stripThresholds(expr) {
  const masked = maskNested(expr);
  const cuts = [];
  for (const m of masked.matchAll(SET_OP)) cuts.push({ start: m.index, end: m.index + m[0].length, op: m[1] });
  const operands = [];
  const ops = [];
  let from = 0;
  for (const c of cuts) {
    operands.push(expr.slice(from, c.start));
    ops.push({ op: c.op, text: expr.slice(c.start, c.end).trim() });
    from = c.end;
  }
  operands.push(expr.slice(from));
  const leftover = [];
  const strippedOperands = operands.map((o) => {
    const mo = maskNested(o);
    const t = TRAILING_THRESHOLD.exec(mo);
    const cut = t ? o.slice(0, t.index) : o;
    if (COMPARISON.test(maskNested(cut))) leftover.push(cut.trim());
    return cut.trim();
  });
  let stripped = strippedOperands[0];
  ops.forEach((o, i) => {
    stripped += ` ${o.text} ${strippedOperands[i + 1]}`;
  });
  return { operands: strippedOperands, ops, stripped, leftover };
}

function regexEscape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// Grafana's variables in `expr` replaced: built-ins, then `values` (name ->
// string). Returns {expr, unknown: [names left]}.
function substitute(expr, values) {
  const builtins = {
    __rate_interval: GRAFANA_RATE_INTERVAL,
    __interval: GRAFANA_INTERVAL,
    __interval_ms: String(SCRAPE_SECONDS * 1000),
    __range: "5m",
    __range_s: "300",
    __range_ms: "300000",
  };
  const all = { ...builtins, ...values };
  const unknown = [];
  const replaced = expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a, b, c) => {
    const name = a || b || c;
    if (name in all) return all[name];
    unknown.push(name);
    return whole;
  });
  return { expr: replaced, unknown };
}

// --- Prometheus HTTP API -----------------------------------------------------

let promBase = null;

async function api(pathAndQuery, params = {}) {
  const url = new URL(promBase + pathAndQuery);
  for (const [k, v] of Object.entries(params)) {
    for (const one of [].concat(v)) url.searchParams.append(k, String(one));
  }
  const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
  const body = await res.json().catch(() => ({ status: "error", error: `HTTP ${res.status}, not JSON` }));
  return body;
}

async function query(expr, time) {
  const params = { query: expr };
  if (time !== undefined) params.time = time;
  return api("/api/v1/query", params);
}

// The numeric values of an instant vector (or [] on error).
function values(body) {
  if (body.status !== "success" || body.data.resultType !== "vector") return [];
  return body.data.result.map((r) => Number(r.value[1]));
}

async function scalarOf(expr) {
  const v = values(await query(expr));
  return v.length ? v[0] : NaN;
}

// Capacity and free bytes of the filesystem holding `dir`, as the kubelet
// reports a volume's (statfs; `df` where node has no fs.statfsSync, < 18.15).
function volumeStats(dir) {
  if (typeof fs.statfsSync === "function") return fs.statfsSync(dir);
  const out = execFileSync("df", ["-B1", "--output=size,avail", dir], { encoding: "utf8" }).trim().split("\n");
  const [size, avail] = out[out.length - 1].trim().split(/\s+/).map(Number);
  return { blocks: size, bavail: avail, bsize: 1 };
}

// --- the run --------------------------------------------------------------

const checks = new Checks();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mbrl-prometheus-live-"));
const logs = path.join(tmp, "logs");
fs.mkdirSync(logs);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

function childEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("MBRL_")) env[k] = v;
  return env;
}

const mbrl = (name, args) => new Child(name, BINARY, args, { env: childEnv(), logDir: logs });

async function main() {
  const config = path.join(tmp, "small.yaml");
  fs.writeFileSync(config, SMALL_CONFIG);
  const dataDir = path.join(tmp, "local-data");

  // mbrl local: far more episodes than the test waits for; stopped by SIGTERM.
  const local = mbrl("local", ["local", "--env", "pendulum_swingup", "--episodes", "40", "--config", config,
    "--data-dir", dataDir, "--seed", "3", "--metrics-port", "0", "--metrics-address", "127.0.0.1"]);
  const localPort = Number((await local.waitFor(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/, 30000))[1]);
  const storage = (await local.waitFor(/storage on (tcp:\/\/\S+)/, 30000))[1];

  // The planner pool beside it.
  const broker = mbrl("broker", ["broker", "--listen", `tcp://127.0.0.1:${await freePort()}`, "--metrics-port", "0",
    "--log-level", "warn"]);
  const brokerReady = await broker.waitFor(/broker ready endpoint=(\S+) metrics_port=(\d+)/, 20000);
  const brokerEndpoint = brokerReady[1];
  const brokerPort = Number(brokerReady[2]);
  const planner = mbrl("planner", ["planner", "--storage", storage, "--broker", brokerEndpoint, "--env",
    "pendulum_swingup", "--config", config, "--threads", "1", "--worker-id", "mbrl-planner-pool",
    "--metrics-port", "0", "--log-level", "warn"]);
  const plannerPort = Number((await planner.waitFor(/planner ready .*metrics_port=(\d+)/, 30000))[1]);
  const collector = mbrl("collector", ["collector", "--storage", storage, "--env", "pendulum_swingup", "--id",
    "mbrl-collector-0", "--policy", "remote", "--broker", brokerEndpoint, "--episodes", "100", "--seed", "7",
    "--steps-per-second", "20", "--metrics-port", "0", "--log-level", "warn"]);
  const collectorPort = Number((await collector.waitFor(/collector metrics_port=(\d+)/, 30000))[1]);
  console.log(`# ${elapsed()}: mbrl local :${localPort} (storage ${storage}), broker :${brokerPort}, ` +
    `planner :${plannerPort}, collector :${collectorPort}`);

  // The kubelet stand-in: the storage PVC's volume stats, measured.
  const kubelet = http.createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    const st = volumeStats(dataDir);
    const labels = `namespace="${NAMESPACE}",persistentvolumeclaim="data-mbrl-storage-local"`;
    res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
    res.end(
      "# TYPE kubelet_volume_stats_capacity_bytes gauge\n" +
        `kubelet_volume_stats_capacity_bytes{${labels}} ${st.blocks * st.bsize}\n` +
        "# TYPE kubelet_volume_stats_available_bytes gauge\n" +
        `kubelet_volume_stats_available_bytes{${labels}} ${st.bavail * st.bsize}\n`,
    );
  });
  await new Promise((r) => kubelet.listen(0, "127.0.0.1", r));
  const kubeletPort = kubelet.address().port;

  try {
    // Prometheus' configuration: the shipped one, adapted as the header says.
    const promDir = path.join(tmp, "prometheus");
    fs.mkdirSync(path.join(promDir, "targets"), { recursive: true });
    const shipped = YAML.parse(fs.readFileSync(path.join(MONITORING, "prometheus.yml"), "utf8"));
    fs.copyFileSync(path.join(MONITORING, "mbrl-rules.yaml"), path.join(promDir, "mbrl-rules.yaml"));
    checks.ok(JSON.stringify(shipped.rule_files) === JSON.stringify(["mbrl-rules.yaml"]),
      "prometheus.yml loads mbrl-rules.yaml beside it");
    shipped.global = { ...shipped.global, scrape_interval: `${SCRAPE_SECONDS}s`, scrape_timeout: `${SCRAPE_SECONDS}s`,
      evaluation_interval: `${SCRAPE_SECONDS}s` };
    const staticJob = shipped.scrape_configs.find((j) => (j.file_sd_configs || []).length > 0);
    if (!checks.ok(staticJob, "prometheus.yml has a file_sd job for processes outside Kubernetes")) return;
    staticJob.file_sd_configs = staticJob.file_sd_configs.map((f) => ({ ...f, refresh_interval: "1s" }));
    staticJob.metric_relabel_configs = [
      ...(staticJob.metric_relabel_configs || []),
      { source_labels: ["component", "__name__"], regex: "local;mbrl_(storage|learner|collector|planner)_.*",
        target_label: "component", replacement: "$1" },
      { source_labels: ["component", "__name__", "role"], regex: "local;mbrl_build_info;(.+)",
        target_label: "component", replacement: "$1" },
      { source_labels: ["pod", "component"], regex: "mbrl-local;(storage|learner|collector|planner)", target_label: "pod", replacement: "mbrl-$1-local" },
    ];
    shipped.scrape_configs.push({ job_name: "kubelet", honor_labels: true,
      static_configs: [{ targets: [`127.0.0.1:${kubeletPort}`] }] });
    fs.writeFileSync(path.join(promDir, "prometheus.yml"), YAML.stringify(shipped));
    const target = (port, component, pod) => ({ targets: [`127.0.0.1:${port}`],
      labels: { component, namespace: NAMESPACE, pod } });
    fs.writeFileSync(path.join(promDir, "targets", "mbrl.json"), JSON.stringify([
      target(localPort, "local", "mbrl-local"),
      target(brokerPort, "broker", "mbrl-broker-pool"),
      target(plannerPort, "planner", "mbrl-planner-pool"),
      target(collectorPort, "collector", "mbrl-collector-0"),
    ], null, 2));

    const promPort = await freePort();
    promBase = `http://127.0.0.1:${promPort}`;
    const prometheus = new Child("prometheus", PROMETHEUS, [
      `--config.file=${path.join(promDir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(promDir, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      "--storage.tsdb.retention.time=1h",
      "--log.level=warn",
    ], { logDir: logs });
    for (;;) {
      const ready = await fetch(`${promBase}/-/ready`).then((r) => r.status === 200, () => false);
      if (ready) break;
      if (!prometheus.running) throw new Error(`prometheus exited: ${tail(prometheus.stderr)}`);
      if (Date.now() - started > DEADLINE_MS) throw new Error("prometheus not ready in time");
      await sleep(250);
    }
    console.log(`# ${elapsed()}: prometheus ${promBase} ready`);

    // Wait until there is something to show: every target up for a while,
    // two model versions, plans made by local's planner and by the pool.
    const conditions = {
      "5 targets up": `count(up{job=~"${staticJob.job_name}|kubelet"} == 1) == 5`,
      "2 model versions": "max(mbrl_learner_model_version) >= 2",
      "local planned": "sum(mbrl_planner_plan_latency_seconds_count{pod=\"mbrl-planner-local\",component=\"planner\"}) > 0",
      "pool planned with a model": "sum(mbrl_planner_requests_total{status=\"ok\"}) > 0",
    };
    let upSince = null;
    let pending = Object.keys(conditions);
    for (;;) {
      pending = [];
      for (const [what, expr] of Object.entries(conditions)) {
        if (values(await query(expr)).length === 0) pending.push(what);
      }
      if (!pending.includes("5 targets up")) upSince ??= Date.now();
      if (pending.length === 0 && Date.now() - upSince >= 8000) break;
      for (const c of [local, broker, planner, collector, prometheus]) {
        if (!c.running) throw new Error(`${c.name} exited early (${c.exitCode ?? c.signal}): ${tail(c.stderr)}`);
      }
      if (Date.now() - started > DEADLINE_MS) break;
      await sleep(1000);
    }
    checks.ok(pending.length === 0, `ready to evaluate at ${elapsed()}${pending.length ? `; still waiting for: ${pending.join(", ")}` : ""}`);
    const time = (Date.now() - 500) / 1000;

    // Prometheus evaluated the rule file itself.
    const rulesBody = await api("/api/v1/rules");
    const ruleStates = (rulesBody.data?.groups || []).flatMap((g) => g.rules);
    const shippedRules = YAML.parse(fs.readFileSync(path.join(MONITORING, "mbrl-rules.yaml"), "utf8"));
    const ruleCount = shippedRules.groups.reduce((n, g) => n + g.rules.length, 0);
    checks.ok(ruleStates.length === ruleCount, `Prometheus loaded all ${ruleCount} rules (${ruleStates.length})`);
    for (const r of ruleStates) {
      checks.ok(r.health === "ok" && !r.lastError, `rule ${r.name}: evaluated by Prometheus, health ${r.health}${r.lastError ? `: ${r.lastError}` : ""}`);
    }

    // Dashboard variables, then every panel query.
    const dashboard = JSON.parse(fs.readFileSync(path.join(MONITORING, "mbrl-dashboard.json"), "utf8"));
    const variableChoices = [{}]; // Each: name -> value, one run over the panels per choice.
    for (const v of dashboard.templating?.list || []) {
      if (v.type === "datasource") continue;
      if (v.type !== "query") {
        checks.ok(false, `dashboard variable ${v.name}: type ${v.type} not handled by this test`);
        continue;
      }
      const q = typeof v.query === "string" ? v.query : v.query?.query;
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q || "");
      if (!checks.ok(m, `dashboard variable ${v.name}: query is label_values(metric, label): ${q}`)) continue;
      const found = await api(`/api/v1/label/${m[2]}/values`, { "match[]": m[1], start: time - 300, end: time });
      const list = found.data || [];
      checks.ok(found.status === "success" && list.length > 0 && (m[2] !== "namespace" || list.includes(NAMESPACE)),
        `dashboard variable ${v.name}: ${q} -> [${list.join(", ")}]`);
      const choices = [];
      if (v.includeAll) choices.push(v.allValue ?? `(${list.map(regexEscape).join("|")})`);
      if (list.length) choices.push(v.multi ? `(${regexEscape(list[0])})` : regexEscape(list[0]));
      const next = [];
      for (const base of variableChoices) for (const c of choices) next.push({ ...base, [v.name]: c });
      variableChoices.splice(0, variableChoices.length, ...next);
    }
    const panelResults = {};
    for (const panel of dashboard.panels || []) {
      for (const t of panel.targets || []) {
        if (!t.expr) continue;
        for (const choice of variableChoices) {
          const { expr, unknown } = substitute(t.expr, choice);
          const label = `panel "${panel.title}" [${Object.entries(choice).map(([k, v]) => `$${k}=${v}`).join(" ")}]: ${expr}`;
          if (unknown.length) {
            checks.ok(false, `${label}: unknown variables ${unknown.join(", ")}`);
            continue;
          }
          const body = await query(expr, time);
          const series = body.status === "success" ? body.data.result.length : 0;
          checks.ok(body.status === "success" && series > 0,
            `${label} -> ${body.status === "success" ? `${series} series, values ${values(body).slice(0, 4).map((x) => x.toPrecision(4)).join(" ")}` : `${body.errorType}: ${body.error}`}`);
          (panelResults[panel.title] ??= []).push(values(body));
        }
      }
    }

    // Every alert expression: as written, then without its threshold.
    for (const g of shippedRules.groups) {
      for (const r of g.rules) {
        const name = r.alert || r.record;
        const expr = r.expr.trim();
        const asWritten = await query(expr, time);
        checks.ok(asWritten.status === "success",
          `rule ${name}: evaluates as written${asWritten.status === "success" ? ` (${asWritten.data.result.length} series${r.alert && asWritten.data.result.length ? ": would fire" : ""})` : `: ${asWritten.error}`}`);
        if (!r.alert) {
          checks.ok(asWritten.status === "success" && asWritten.data.result.length > 0, `record ${name}: returns series`);
          continue;
        }
        const s = stripThresholds(expr);
        if (!checks.ok(s.leftover.length === 0, `rule ${name}: threshold removed -> ${s.stripped.replace(/\s+/g, " ")}${s.leftover.length ? ` (a comparison is left in: ${s.leftover.join(" | ")})` : ""}`)) continue;
        const whole = await query(s.stripped, time);
        const ops = s.ops.map((o) => o.op);
        const mustHaveSeries = [];
        if (ops.includes("unless")) {
          // A unless B: A must have series, B evaluate.
          const left = s.operands[0];
          mustHaveSeries.push(["left of unless", left]);
          for (const o of s.operands.slice(1)) {
            const b = await query(o, time);
            checks.ok(b.status === "success", `rule ${name}: right of unless evaluates: ${o.replace(/\s+/g, " ")}${b.status === "success" ? "" : `: ${b.error}`}`);
          }
          checks.ok(whole.status === "success", `rule ${name}: stripped expression evaluates${whole.status === "success" ? "" : `: ${whole.error}`}`);
        } else {
          checks.ok(whole.status === "success" && whole.data.result.length > 0,
            `rule ${name}: stripped expression -> ${whole.status === "success" ? `${whole.data.result.length} series, values ${values(whole).slice(0, 4).map((x) => x.toPrecision(4)).join(" ")}` : whole.error}`);
          if (ops.includes("and")) s.operands.forEach((o, i) => mustHaveSeries.push([`operand ${i + 1} of and`, o]));
        }
        for (const [what, o] of mustHaveSeries) {
          const b = await query(o, time);
          checks.ok(b.status === "success" && b.data.result.length > 0,
            `rule ${name}: ${what} returns series (${b.status === "success" ? b.data.result.length : b.error}): ${o.replace(/\s+/g, " ")}`);
        }
      }
    }

    // Sanity of what the panels show.
    const at = async (expr) => values(await query(expr, time));
    checks.ok((await at(`sum by (collector) (rate(mbrl_collector_env_steps_total[${GRAFANA_RATE_INTERVAL}]))`)).some((v) => v > 0),
      "some collector is stepping (env steps/s > 0)");
    checks.ok((await at("sum(mbrl_storage_transitions)")).some((v) => v >= 200), "storage holds >= 200 transitions");
    checks.ok((await at("max(mbrl_learner_model_version)")).some((v) => v >= 2), "the learner published >= 2 versions");
    checks.ok((await at("max(mbrl_planner_model_version)")).some((v) => v >= 1), "planners plan with a model (version >= 1)");
    checks.ok((await at(`histogram_quantile(0.5, sum by (le) (rate(mbrl_planner_plan_latency_seconds_bucket[30s])))`)).some((v) => v > 0 && Number.isFinite(v)),
      "median plan latency over the last 30 s is a positive number");
    checks.ok((await at("sum(mbrl_broker_requests_total)")).some((v) => v > 0), "the broker forwarded plan requests");
    // The episode-return panel shows means of returns that happened: over a
    // 30 s window (some episodes surely ended), every finite value lies
    // between the lowest and highest return the collectors printed.
    const returns = [...local.stdout.matchAll(/ return\s+(-?\d+(?:\.\d+)?)/g), ...collector.stdout.matchAll(/ return\s+(-?\d+(?:\.\d+)?)/g)]
      .map((m) => Number(m[1]));
    const lo = Math.min(...returns) - 0.01;
    const hi = Math.max(...returns) + 0.01;
    for (const panel of dashboard.panels || []) {
      for (const t of panel.targets || []) {
        if (!/mbrl_collector_episode_return_/.test(t.expr || "")) continue;
        const { expr } = substitute(t.expr.replaceAll("$__rate_interval", "30s"), { namespace: ".*" });
        const shown = (await at(expr)).filter(Number.isFinite);
        checks.ok(shown.length > 0 && shown.every((v) => v >= lo && v <= hi),
          `panel "${panel.title}" over 30 s shows [${shown.map((v) => v.toFixed(1)).join(", ")}], within the ${returns.length} returns printed [${lo.toFixed(1)}, ${hi.toFixed(1)}]: ${expr}`);
      }
    }

    // Shut down: every mbrl role exits 0 on SIGTERM, then Prometheus.
    for (const c of [collector, planner, broker, local]) {
      const r = await c.stop(30000);
      checks.ok(r.code === 0 && !r.killed, `${c.name} exits 0 on SIGTERM (${r.killed ? "killed after 30 s" : r.code ?? r.signal})${r.code === 0 ? "" : `\n${tail(c.stderr)}`}`);
    }
    const p = await prometheus.stop(15000);
    checks.ok(p.code === 0 && !p.killed, `prometheus exits 0 on SIGTERM (${p.code ?? p.signal})`);
  } finally {
    kubelet.close();
  }
}

let failure = null;
try {
  await main();
} catch (e) {
  failure = e;
}
await stopAll(3000);
if (failure) {
  console.log(`FAILED: ${failure.stack || failure}`);
  checks.failed.push(String(failure.message || failure));
}
console.log(`# prometheus-live: ${checks.passed} passed, ${checks.failed.length} failed, ${elapsed()} in all`);
if (checks.failed.length) {
  console.log(`# logs kept in ${logs}`);
  process.exit(1);
}
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(0);
