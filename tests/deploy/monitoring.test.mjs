// deploy/monitoring: the Grafana dashboard has the panels issue 7 asks for, at
// the top level, with valid PromQL; its ConfigMap copy under deploy/k8s is
// identical; the PrometheusRule carries exactly the rule file's groups; every
// alert is complete and the five required alerts exist.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import YAML from "yaml";

import { K8S, KUSTOMIZATIONS, MONITORING, find, parseYamlDocs, readText, render } from "./lib.mjs";

const DASHBOARD = path.join(MONITORING, "mbrl-dashboard.json");
const DASHBOARD_COPY = path.join(K8S, "base", "monitoring", "mbrl-dashboard.json");
const dashboardText = fs.readFileSync(DASHBOARD, "utf8");
const dashboard = JSON.parse(dashboardText);
const rules = YAML.parse(readText(MONITORING, "mbrl-rules.yaml"));

const exprs = (panel) => (panel.targets || []).map((t) => t.expr);

// The panels of issue 7: a title pattern and what its queries must contain.
const REQUIRED_PANELS = [
  { what: "env steps/s per collector", title: /env steps/i,
    query: /rate\(mbrl_collector_env_steps_total\b/, by: /by \(collector\)/ },
  { what: "episode return over time", title: /episode return/i, query: /mbrl_collector_episode_return_/ },
  { what: "transitions stored", title: /transitions stored/i, query: /mbrl_storage_transitions\b/ },
  { what: "model version", title: /model version/i, query: /mbrl_learner_model_version\b/ },
  { what: "holdout loss", title: /holdout loss/i, query: /mbrl_learner_holdout_/ },
  { what: "plan latency percentiles", title: /plan latency/i,
    query: /histogram_quantile\([^,]+,.*mbrl_planner_plan_latency_seconds_bucket/, atLeast: 2 },
  { what: "rejected messages", title: /rejected/i, query: /_rejected_total\b/ },
];

// Grafana's variables replaced by what they stand for, so promtool can parse.
function concrete(expr) {
  return expr
    .replaceAll("$__rate_interval", "5m")
    .replaceAll("$__interval", "1m")
    .replaceAll("$__range", "1h")
    .replaceAll("$namespace", ".*");
}

describe("Grafana dashboard", () => {
  test("is a dashboard with uid, title, schemaVersion and a Prometheus data source variable", () => {
    assert.equal(typeof dashboard.uid, "string");
    assert.ok(dashboard.uid.length > 0 && dashboard.uid.length <= 40);
    assert.equal(typeof dashboard.title, "string");
    assert.ok(Number.isInteger(dashboard.schemaVersion) && dashboard.schemaVersion >= 30);
    const vars = dashboard.templating.list;
    const ds = vars.find((v) => v.type === "datasource");
    assert.equal(ds?.query, "prometheus");
    assert.equal(new Set(vars.map((v) => v.name)).size, vars.length);
  });

  test("panels are at the top level, unique, inside the 24-column grid, not overlapping", () => {
    const panels = dashboard.panels;
    assert.ok(Array.isArray(panels) && panels.length >= REQUIRED_PANELS.length);
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, "panel ids unique");
    for (const p of panels) {
      assert.notEqual(p.type, "row", `row ${p.title}: panels belong at the top level`);
      assert.equal(p.panels, undefined, `${p.title} nests panels`);
      const g = p.gridPos;
      assert.ok(g && g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `${p.title}: gridPos`);
      assert.ok(p.title, "every panel has a title");
      assert.ok(exprs(p).length > 0 && exprs(p).every((e) => typeof e === "string" && e.length),
        `${p.title}: queries`);
      assert.equal(p.datasource?.uid, "${datasource}", `${p.title}: data source variable`);
      for (const t of p.targets) assert.ok(t.refId, `${p.title}: refId`);
    }
    for (let i = 0; i < panels.length; i++) {
      for (let j = i + 1; j < panels.length; j++) {
        const a = panels[i].gridPos;
        const b = panels[j].gridPos;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `${panels[i].title} overlaps ${panels[j].title}`);
      }
    }
  });

  for (const r of REQUIRED_PANELS) {
    test(`has the panel: ${r.what}`, () => {
      const panel = dashboard.panels.find((p) => r.title.test(p.title));
      assert.ok(panel, `no panel titled like ${r.title}`);
      const hits = exprs(panel).filter((e) => r.query.test(e));
      assert.ok(hits.length >= (r.atLeast || 1), `${panel.title}: queries ${JSON.stringify(exprs(panel))}`);
      if (r.by) assert.ok(hits.some((e) => r.by.test(e)), `${panel.title}: not ${r.by}`);
    });
  }

  test("every query uses the variables it has and is valid PromQL (promtool)", (t) => {
    const vars = new Set(dashboard.templating.list.map((v) => v.name));
    const all = dashboard.panels.flatMap((p) => exprs(p).map((e) => ({ p: p.title, e })));
    for (const { p, e } of all) {
      for (const [, v] of e.matchAll(/\$(?!__)(\w+)/g)) assert.ok(vars.has(v), `${p}: $${v} undefined`);
      assert.match(e, /namespace=~"\$namespace"/, `${p}: not filtered by $namespace`);
    }
    // promtool parses expressions in rule files: wrap each query in a
    // recording rule.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mbrl-dash-"));
    try {
      const file = path.join(dir, "queries.yaml");
      const group = { groups: [{ name: "dashboard", rules: all.map(({ e }, i) => ({ record: `dashboard:query${i}`, expr: concrete(e) })) }] };
      fs.writeFileSync(file, YAML.stringify(group));
      const r = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
      if (r.error) throw new Error(`promtool: ${r.error.message} (MBRL_WITH_TEST_TOOLS=1 scripts/install-deps)`);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      t.diagnostic(`${all.length} queries parsed`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("deploy/k8s/base/monitoring/mbrl-dashboard.json is an identical copy", () => {
    assert.ok(fs.readFileSync(DASHBOARD_COPY).equals(fs.readFileSync(DASHBOARD)),
      `cp ${DASHBOARD} ${DASHBOARD_COPY}`);
  });

  for (const k of KUSTOMIZATIONS) {
    test(`${k}: the dashboard ConfigMap carries it, labelled for Grafana's sidecar`, () => {
      const cm = find(render(k), "ConfigMap", "mbrl-grafana-dashboard");
      assert.equal(cm.metadata.labels?.grafana_dashboard, "1");
      assert.deepEqual(Object.keys(cm.data), ["mbrl-dashboard.json"]);
      assert.equal(cm.data["mbrl-dashboard.json"], dashboardText);
    });
  }
});

describe("alert rules", () => {
  const alerts = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert));

  test("every alert has a severity, a for:, a summary and a description", () => {
    assert.ok(alerts.length >= 5);
    for (const a of alerts) {
      assert.match(a.alert, /^Mbrl[A-Z]\w+$/);
      assert.ok(["warning", "critical"].includes(a.labels?.severity), `${a.alert}: severity`);
      assert.match(String(a.for), /^\d+[smh]$/, `${a.alert}: for`);
      assert.ok(a.annotations?.summary && a.annotations?.description, `${a.alert}: annotations`);
    }
    assert.equal(new Set(alerts.map((a) => a.alert)).size, alerts.length, "alert names unique");
  });

  const REQUIRED_ALERTS = [
    ["collectors stalled", /rate\(mbrl_collector_env_steps_total\[[^\]]+\]\)\)?\s*==\s*0/],
    ["storage rejecting", /rate\(mbrl_storage_rejected_total\b/],
    ["storage failing writes", /mbrl_storage_rejected_total\{reason="write_error"\}/],
    ["learner not publishing", /changes\(mbrl_learner_model_version\[/],
    ["planner latency too high", /histogram_quantile\(0\.\d+,\s*sum by \([^)]*\ble\b[^)]*\) \(rate\(mbrl_planner_plan_latency_seconds_bucket\[/],
    ["store disk nearly full", /kubelet_volume_stats_available_bytes|mbrl_storage_database_bytes/],
  ];
  for (const [what, re] of REQUIRED_ALERTS) {
    test(`alerts when: ${what}`, () => {
      assert.ok(alerts.some((a) => re.test(a.expr)), `no alert expression matches ${re}`);
    });
  }

  for (const k of KUSTOMIZATIONS) {
    test(`${k}: the PrometheusRule holds exactly the groups of mbrl-rules.yaml`, () => {
      const pr = find(render(k), "PrometheusRule", "mbrl");
      assert.deepEqual(pr.spec.groups, rules.groups);
    });
  }

  test("the rule file is one YAML document in the groups: format", () => {
    const docs = parseYamlDocs(readText(MONITORING, "mbrl-rules.yaml"), "mbrl-rules.yaml");
    assert.equal(docs.length, 1);
    assert.deepEqual(Object.keys(docs[0]), ["groups"]);
  });
});
