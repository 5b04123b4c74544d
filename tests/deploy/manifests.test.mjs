// deploy/k8s: every kustomization renders; every rendered object validates
// against the Kubernetes API schemas (kubernetes-models' validators, and the
// prometheus-operator CRD schemas for PodMonitor and PrometheusRule), has no
// field the API does not know (TypeScript's excess-property check against the
// same models' types: kubectl apply's strict field validation would refuse
// such a field), and passes the structural checks of issue 7 on every
// container: probes, requests and limits, non-root, read-only root filesystem.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";

import {
  BINARY, KUSTOMIZATIONS, OVERLAYS, ROLES, checkFlagValue, containerEnv, find, id, quantity,
  readText, render, roleFlags, selects, workloads,
} from "./lib.mjs";

const require = createRequire(import.meta.url);
const here = path.dirname(new URL(import.meta.url).pathname);

// What must exist, in the base and in every overlay (overlays change sizes and
// settings, never which objects exist). ConfigMaps carry a content hash suffix.
const EXPECTED = [
  "ServiceAccount/mbrl",
  "StatefulSet/mbrl-storage", "Service/mbrl-storage",
  "Deployment/mbrl-learner", "Service/mbrl-learner",
  "Deployment/mbrl-broker", "Service/mbrl-broker",
  "Deployment/mbrl-planner", "Service/mbrl-planner", "HorizontalPodAutoscaler/mbrl-planner",
  "StatefulSet/mbrl-collector", "Service/mbrl-collector",
  "PodDisruptionBudget/mbrl-collector", "PodDisruptionBudget/mbrl-planner",
  "NetworkPolicy/mbrl-storage", "NetworkPolicy/mbrl-broker",
  "PodMonitor/mbrl", "PrometheusRule/mbrl",
  "ConfigMap/mbrl-common", "ConfigMap/mbrl-storage", "ConfigMap/mbrl-learner",
  "ConfigMap/mbrl-broker", "ConfigMap/mbrl-planner", "ConfigMap/mbrl-collector",
  "ConfigMap/mbrl-grafana-dashboard",
];
const stableId = (o) =>
  o.kind === "ConfigMap" ? id(o).replace(/-[a-z0-9]{10}$/, "") : id(o);

// Roles whose start-up is slow (RocksDB recovery, LibTorch and weights) and so
// need a startup probe.
const SLOW_START = new Set(["storage", "learner", "planner"]);
// Environment variables a container may carry that are not mbrl flags.
const OTHER_ENV = new Set(["POD_IP", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"]);
// Flags every role must be given (DESIGN.md), for when no binary tells us.
const REQUIRED_FALLBACK = {
  storage: ["MBRL_DATA_DIR"],
  learner: ["MBRL_STORAGE"],
  broker: [],
  planner: ["MBRL_STORAGE", "MBRL_BROKER", "MBRL_ENV"],
  collector: ["MBRL_STORAGE", "MBRL_ENV", "MBRL_ID"],
};

function modelClass(o) {
  const pkg = o.apiVersion.startsWith("monitoring.coreos.com/")
    ? "@kubernetes-models/prometheus-operator"
    : "kubernetes-models";
  const mod = require(`${pkg}/${o.apiVersion}/${o.kind}`);
  return { pkg, Model: mod[o.kind] };
}

function podSpecs(objects) {
  return workloads(objects).map((w) => ({
    w,
    role: w.metadata.labels?.["app.kubernetes.io/component"],
    pod: w.spec.template,
  }));
}

function portNames(container) {
  return new Map((container.ports || []).map((p) => [p.name, p.containerPort]));
}

describe("kustomize renders", () => {
  for (const k of KUSTOMIZATIONS) {
    test(`${k} renders the expected objects`, () => {
      const objects = render(k);
      const ids = objects.map(stableId).sort();
      assert.deepEqual(ids, [...EXPECTED].sort());
      assert.equal(new Set(objects.map(id)).size, objects.length, "duplicate objects");
    });
  }
  for (const k of OVERLAYS) {
    test(`${k} puts everything in one namespace`, () => {
      const namespaces = new Set(render(k).map((o) => o.metadata.namespace));
      assert.equal(namespaces.size, 1, [...namespaces].join(", "));
      assert.ok([...namespaces][0], "no namespace set");
    });
  }
});

describe("Kubernetes API schemas", () => {
  for (const k of KUSTOMIZATIONS) {
    test(`${k}: every object validates (kubernetes-models, prometheus-operator CRDs)`, () => {
      const errors = [];
      for (const o of render(k)) {
        const { Model } = modelClass(o);
        assert.ok(Model, `no model for ${o.apiVersion} ${o.kind}`);
        try {
          new Model(o).validate();
        } catch (e) {
          errors.push(`${id(o)}: ${e.message}`);
        }
      }
      assert.deepEqual(errors, []);
    });
  }

  test("no object has a field the API does not define (strict fields, via the models' types)", () => {
    // One TypeScript file assigns every rendered object to its API type;
    // object-literal excess-property checks flag unknown or misspelt fields
    // (e.g. readOnlyRootFileSystem), which the JSON schemas above let through.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mbrl-deploy-ts-"));
    try {
      const lines = [];
      const owners = [];
      const imports = new Map();
      for (const k of KUSTOMIZATIONS) {
        for (const o of render(k)) {
          const { pkg } = modelClass(o);
          const mod = `${pkg}/${o.apiVersion}/${o.kind}`;
          if (!imports.has(mod)) imports.set(mod, `T${imports.size}`);
          const start = lines.length;
          lines.push(`export const o${owners.length}: ${imports.get(mod)} = ${JSON.stringify(o, null, 1)};`);
          owners.push({ what: `${k}: ${id(o)}`, start });
        }
      }
      const header = [...imports].map(([mod, t]) => {
        const kind = mod.split("/").pop();
        return `import type { I${kind} as ${t} } from "${path.join(here, "node_modules", mod)}";`;
      });
      const file = path.join(dir, "objects.ts");
      fs.writeFileSync(file, header.join("\n") + "\n" + lines.join("\n") + "\n");
      const tsc = path.join(here, "node_modules", "typescript", "bin", "tsc");
      const r = spawnSync(process.execPath, [tsc, "--noEmit", "--strict", "--skipLibCheck",
        "--module", "commonjs", "--moduleResolution", "node", "--target", "es2020", file],
        { encoding: "utf8", timeout: 120000 });
      if (r.status !== 0) {
        // Name the object each error is in.
        const text = fs.readFileSync(file, "utf8").split("\n");
        const objectAt = (line) => {
          let found = "(imports)";
          for (let i = 0, at = header.length; i < owners.length; i++) {
            const n = lines[i].split("\n").length;
            if (line > at && line <= at + n) found = owners[i].what;
            at += n;
          }
          return found;
        };
        const messages = (r.stdout + r.stderr).split("\n").filter(Boolean).map((m) => {
          const line = /\((\d+),\d+\)/.exec(m);
          return line ? `${objectAt(Number(line[1]))}: ${m.replace(/^.*?error /, "")}` : m;
        });
        assert.fail(`unknown or mistyped fields (${text.length} lines checked):\n${messages.join("\n")}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("every container", () => {
  for (const k of KUSTOMIZATIONS) {
    test(`${k}: probes on /healthz and /readyz, requests and limits, non-root, read-only root`, () => {
      const objects = render(k);
      const problems = [];
      for (const { w, role, pod } of podSpecs(objects)) {
        const spec = pod.spec;
        const where = (c) => `${k}: ${id(w)} container ${c.name}`;
        const psc = spec.securityContext || {};
        if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problems.push(`${id(w)}: host namespaces`);
        if ((spec.volumes || []).some((v) => v.hostPath)) problems.push(`${id(w)}: hostPath volume`);
        if (spec.automountServiceAccountToken !== false) problems.push(`${id(w)}: mounts an API token`);
        const containers = [...(spec.initContainers || []), ...spec.containers];
        assert.ok(spec.containers.length > 0, `${id(w)} has no container`);
        for (const c of containers) {
          const at = where(c);
          const ports = portNames(c);
          // Probes: HTTP on the named metrics port, the real endpoints.
          const probe = (p, want, what) => {
            if (!p) return problems.push(`${at}: no ${what}`);
            if (p.httpGet?.path !== want) problems.push(`${at}: ${what} is not GET ${want}`);
            if (p.httpGet?.port !== "metrics" || !ports.has("metrics")) {
              problems.push(`${at}: ${what} not on the container's metrics port`);
            }
          };
          probe(c.livenessProbe, "/healthz", "livenessProbe");
          probe(c.readinessProbe, "/readyz", "readinessProbe");
          if (SLOW_START.has(role)) probe(c.startupProbe, "/healthz", "startupProbe");
          else if (c.startupProbe) probe(c.startupProbe, "/healthz", "startupProbe");
          // Requests and limits, both cpu and memory, request <= limit.
          for (const r of ["cpu", "memory"]) {
            const req = c.resources?.requests?.[r];
            const lim = c.resources?.limits?.[r];
            if (req === undefined) problems.push(`${at}: no ${r} request`);
            if (lim === undefined) problems.push(`${at}: no ${r} limit`);
            if (req !== undefined && lim !== undefined && quantity(req) > quantity(lim)) {
              problems.push(`${at}: ${r} request ${req} above limit ${lim}`);
            }
          }
          // Security: the Pod Security Standards' "restricted" profile and more.
          const sc = c.securityContext || {};
          const runAsNonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
          const runAsUser = sc.runAsUser ?? psc.runAsUser;
          if (runAsNonRoot !== true) problems.push(`${at}: runAsNonRoot is not true`);
          if (runAsUser === 0) problems.push(`${at}: runs as uid 0`);
          if (sc.readOnlyRootFilesystem !== true) problems.push(`${at}: root filesystem writable`);
          if (sc.allowPrivilegeEscalation !== false) problems.push(`${at}: privilege escalation allowed`);
          if (sc.privileged) problems.push(`${at}: privileged`);
          if (!(sc.capabilities?.drop || []).includes("ALL")) problems.push(`${at}: capabilities not dropped`);
          if ((sc.capabilities?.add || []).length) problems.push(`${at}: adds capabilities`);
          const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
          if (!["RuntimeDefault", "Localhost"].includes(seccomp)) problems.push(`${at}: no seccomp profile`);
          // A read-only root needs somewhere to write: /tmp from an emptyDir.
          const mounts = new Map((c.volumeMounts || []).map((m) => [m.mountPath, m.name]));
          const tmp = (spec.volumes || []).find((v) => v.name === mounts.get("/tmp"));
          if (!tmp?.emptyDir) problems.push(`${at}: no emptyDir at /tmp`);
          // Every mount names a volume or a claim template.
          const claims = new Set((w.spec.volumeClaimTemplates || []).map((t) => t.metadata.name));
          for (const m of c.volumeMounts || []) {
            if (!(spec.volumes || []).some((v) => v.name === m.name) && !claims.has(m.name)) {
              problems.push(`${at}: mounts unknown volume ${m.name}`);
            }
          }
          // The one image; the role is the subcommand.
          if (!/^([^/]+\/)*mbrl(:[\w.-]+|@sha256:[0-9a-f]{64})$/.test(c.image || "")) {
            problems.push(`${at}: image ${c.image} is not the mbrl image with a tag`);
          }
          if (c.image?.endsWith(":latest")) problems.push(`${at}: image tag latest`);
          if (JSON.stringify(c.command) !== '["mbrl"]') problems.push(`${at}: command is not ["mbrl"]`);
          if (c.args?.[0] !== role) problems.push(`${at}: args[0] ${c.args?.[0]} is not the role ${role}`);
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});

describe("workloads", () => {
  for (const k of KUSTOMIZATIONS) {
    test(`${k}: labels, selectors, annotations and the PodMonitor agree`, () => {
      const objects = render(k);
      const problems = [];
      for (const o of objects) {
        const l = o.metadata.labels || {};
        for (const key of ["app.kubernetes.io/name", "app.kubernetes.io/part-of",
          "app.kubernetes.io/version", "app.kubernetes.io/managed-by"]) {
          if (!l[key]) problems.push(`${id(o)}: no label ${key}`);
        }
        if (k !== "base" && !l["app.kubernetes.io/instance"]) {
          problems.push(`${id(o)}: no label app.kubernetes.io/instance`);
        }
        if (!["ConfigMap", "ServiceAccount", "PodMonitor", "PrometheusRule"].includes(o.kind) &&
          !ROLES.includes(l["app.kubernetes.io/component"])) {
          problems.push(`${id(o)}: no app.kubernetes.io/component naming a role`);
        }
      }
      const roles = new Set();
      for (const { w, role, pod } of podSpecs(objects)) {
        roles.add(role);
        const labels = pod.metadata.labels || {};
        if (!selects(w.spec.selector.matchLabels, labels)) problems.push(`${id(w)}: selector misses its pods`);
        if (labels["app.kubernetes.io/component"] !== role) problems.push(`${id(w)}: pod component label`);
        if (labels["app.kubernetes.io/part-of"] !== "mbrl") problems.push(`${id(w)}: pods not part-of mbrl`);
        const metricsPort = portNames(pod.spec.containers[0]).get("metrics");
        const a = pod.metadata.annotations || {};
        if (a["prometheus.io/scrape"] !== "true") problems.push(`${id(w)}: no prometheus.io/scrape`);
        if (String(metricsPort) !== a["prometheus.io/port"]) problems.push(`${id(w)}: prometheus.io/port`);
        if (a["prometheus.io/path"] !== "/metrics") problems.push(`${id(w)}: prometheus.io/path`);
        const pm = find(objects, "PodMonitor", "mbrl");
        if (!selects(pm.spec.selector.matchLabels, labels)) problems.push(`${id(w)}: PodMonitor misses it`);
        for (const ep of pm.spec.podMetricsEndpoints) {
          if (!portNames(pod.spec.containers[0]).has(ep.port)) problems.push(`${id(w)}: no port ${ep.port}`);
          if (ep.path !== "/metrics") problems.push(`PodMonitor: path ${ep.path}`);
        }
        if (pod.spec.serviceAccountName !== "mbrl") problems.push(`${id(w)}: service account`);
      }
      assert.deepEqual([...roles].sort(), [...ROLES].sort());
      // Services select pods and name ports those pods have.
      for (const s of objects.filter((o) => o.kind === "Service")) {
        const targets = podSpecs(objects).filter(({ pod }) => selects(s.spec.selector, pod.metadata.labels));
        if (targets.length !== 1) problems.push(`${id(s)}: selects ${targets.length} workloads`);
        for (const t of targets) {
          for (const p of s.spec.ports) {
            if (!portNames(t.pod.spec.containers[0]).has(p.targetPort)) {
              problems.push(`${id(s)}: targetPort ${p.targetPort} not a port of ${id(t.w)}`);
            }
          }
        }
      }
      // PodDisruptionBudgets select a workload.
      for (const b of objects.filter((o) => o.kind === "PodDisruptionBudget")) {
        if (!podSpecs(objects).some(({ pod }) => selects(b.spec.selector.matchLabels, pod.metadata.labels))) {
          problems.push(`${id(b)}: selects nothing`);
        }
      }
      assert.deepEqual(problems, []);
    });

    test(`${k}: storage, learner, broker, planner and collectors have the shapes of issue 7`, () => {
      const objects = render(k);
      const storage = find(objects, "StatefulSet", "mbrl-storage");
      assert.equal(storage.spec.replicas, 1, "one storage");
      const headless = find(objects, "Service", storage.spec.serviceName);
      assert.equal(headless?.spec.clusterIP, "None", "storage's governing Service is headless");
      assert.equal(storage.spec.volumeClaimTemplates.length, 1);
      const claim = storage.spec.volumeClaimTemplates[0];
      assert.ok(quantity(claim.spec.resources.requests.storage) >= 2 ** 30, "storage volume >= 1Gi");
      assert.ok(storage.spec.template.spec.containers[0].volumeMounts.some((m) => m.name === claim.metadata.name));

      const learner = find(objects, "Deployment", "mbrl-learner");
      assert.equal(learner.spec.replicas, 1, "one learner");
      assert.equal(learner.spec.strategy.type, "Recreate");

      const broker = find(objects, "Deployment", "mbrl-broker");
      assert.ok(find(objects, "Service", "mbrl-broker"));
      assert.equal(broker.spec.replicas, 1);

      const hpa = find(objects, "HorizontalPodAutoscaler", "mbrl-planner");
      assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "mbrl-planner" });
      assert.ok(hpa.spec.minReplicas >= 1 && hpa.spec.minReplicas <= hpa.spec.maxReplicas);
      const planner = find(objects, "Deployment", "mbrl-planner");
      assert.equal(planner.spec.replicas, undefined, "the HPA owns the planner's replicas");
      for (const m of hpa.spec.metrics.filter((m) => m.type === "Resource")) {
        assert.ok(planner.spec.template.spec.containers[0].resources.requests[m.resource.name],
          `utilization of ${m.resource.name} needs a request`);
      }

      const collector = find(objects, "StatefulSet", "mbrl-collector");
      assert.ok(collector.spec.replicas >= 1);
      assert.equal(find(objects, "Service", collector.spec.serviceName)?.spec.clusterIP, "None");
      const idEnv = collector.spec.template.spec.containers[0].env.find((e) => e.name === "MBRL_ID");
      assert.equal(idEnv?.valueFrom?.fieldRef?.fieldPath, "metadata.name", "collector id = pod name");
    });

    test(`${k}: only pipeline pods reach storage and the broker`, () => {
      const objects = render(k);
      for (const role of ["storage", "broker"]) {
        const w = podSpecs(objects).find((p) => p.role === role);
        const policies = objects.filter((o) => o.kind === "NetworkPolicy" &&
          selects(o.spec.podSelector.matchLabels, w.pod.metadata.labels));
        assert.equal(policies.length, 1, `${role}: one NetworkPolicy`);
        const np = policies[0];
        assert.ok(np.spec.policyTypes.includes("Ingress"));
        const ports = portNames(w.pod.spec.containers[0]);
        const reachable = new Set();
        for (const rule of np.spec.ingress) {
          for (const p of rule.ports) {
            assert.ok(ports.has(p.port) || [...ports.values()].includes(p.port), `${role}: port ${p.port}`);
            const name = ports.has(p.port) ? p.port : [...ports].find(([, v]) => v === p.port)[0];
            if (name === "metrics") continue; // open to scrapers
            reachable.add(name);
            assert.ok(rule.from?.length, `${role}: port ${name} open to everyone`);
            for (const peer of rule.from) {
              assert.deepEqual(Object.keys(peer), ["podSelector"], `${role}: only pods of this namespace`);
              assert.deepEqual(peer.podSelector.matchLabels, { "app.kubernetes.io/part-of": "mbrl" });
            }
          }
        }
        // Every port but metrics is covered (NetworkPolicy denies the rest).
        assert.deepEqual([...reachable].sort(), [...ports.keys()].filter((n) => n !== "metrics").sort());
        // Every pipeline pod carries the label the policy admits.
        for (const { pod } of podSpecs(objects)) {
          assert.equal(pod.metadata.labels["app.kubernetes.io/part-of"], "mbrl");
        }
      }
    });
  }
});

describe("settings reach the processes as MBRL_ environment variables", () => {
  const envsKnown = BINARY
    ? new Set(JSON.parse(execFileSync(BINARY, ["envs", "--json"], { encoding: "utf8" })).map((e) => e.name))
    : null;

  for (const k of KUSTOMIZATIONS) {
    test(`${k}: every variable is a flag of its role with a valid value; required flags are set`, (t) => {
      if (!BINARY) t.diagnostic("no mbrl binary (MBRL_BINARY): flag names checked against DESIGN.md only");
      const objects = render(k);
      const problems = [];
      const storage = find(objects, "StatefulSet", "mbrl-storage");
      const storagePorts = portNames(storage.spec.template.spec.containers[0]);
      const brokerSvc = find(objects, "Service", "mbrl-broker");
      for (const { w, role, pod } of podSpecs(objects)) {
        for (const c of pod.spec.containers) {
          const at = `${k}: ${id(w)}`;
          const { env, sources } = containerEnv(objects, c);
          const flags = roleFlags(role);
          const required = flags
            ? Object.entries(flags).filter(([, f]) => f.required).map(([e]) => e)
            : REQUIRED_FALLBACK[role];
          for (const e of required) if (!(e in env)) problems.push(`${at}: required ${e} not set`);
          for (const [name, value] of Object.entries(env)) {
            if (OTHER_ENV.has(name)) continue;
            if (!name.startsWith("MBRL_")) problems.push(`${at}: unexpected variable ${name}`);
            if (name === "MBRL_VERSION") problems.push(`${at}: MBRL_VERSION makes mbrl print its version`);
            if (!flags) continue;
            if (!(name in flags)) {
              // The shared ConfigMap holds what every role that has the flag
              // reads the same way; role ConfigMaps and env only the role's own.
              const shared = sources[name].startsWith("ConfigMap/mbrl-common");
              if (!shared || !ROLES.some((r) => name in roleFlags(r))) {
                problems.push(`${at}: ${name} (from ${sources[name]}) is no flag of mbrl ${role}`);
              }
            } else if (!value.startsWith("<fieldRef:")) {
              const why = checkFlagValue(flags[name].type, value);
              if (why) problems.push(`${at}: ${name}=${value}: ${why} (${flags[name].type})`);
            }
          }
          const ports = portNames(c);
          if (env.MBRL_METRICS_ADDRESS !== "0.0.0.0") problems.push(`${at}: metrics bound to ${env.MBRL_METRICS_ADDRESS}`);
          if (env.MBRL_METRICS_PORT !== String(ports.get("metrics"))) problems.push(`${at}: MBRL_METRICS_PORT`);
          const port = (endpoint) => Number(/:(\d+)$/.exec(endpoint || "")?.[1]);
          if (role === "storage" || role === "broker") {
            if (!env.MBRL_LISTEN?.startsWith("tcp://0.0.0.0:")) problems.push(`${at}: listens on ${env.MBRL_LISTEN}`);
            if (port(env.MBRL_LISTEN) !== ports.get("zmq")) problems.push(`${at}: MBRL_LISTEN port is not the zmq port`);
          }
          if (role === "storage") {
            if (port(env.MBRL_ANNOUNCE) !== ports.get("announce")) problems.push(`${at}: MBRL_ANNOUNCE port`);
            // Clients learn this endpoint from storage: the pod's own address.
            if (!/^tcp:\/\/<fieldRef:status\.podIP>:\d+$/.test(env.MBRL_ANNOUNCE || "")) {
              problems.push(`${at}: MBRL_ANNOUNCE=${env.MBRL_ANNOUNCE} is not the pod's own address`);
            }
            const mounts = c.volumeMounts.map((m) => m.mountPath);
            for (const d of ["MBRL_DATA_DIR", "MBRL_CHECKPOINT_DIR"]) {
              if (!mounts.some((m) => m !== "/tmp" && env[d]?.startsWith(m + "/"))) {
                problems.push(`${at}: ${d}=${env[d]} is not on the data volume`);
              }
            }
          }
          if ("MBRL_STORAGE" in env) {
            const want = `tcp://${storage.metadata.name}-0.${storage.spec.serviceName}:${storagePorts.get("zmq")}`;
            if (env.MBRL_STORAGE !== want) problems.push(`${at}: MBRL_STORAGE=${env.MBRL_STORAGE}, want ${want}`);
          }
          if ("MBRL_BROKER" in env) {
            const sp = brokerSvc.spec.ports.find((p) => p.targetPort === "zmq");
            const want = `tcp://${brokerSvc.metadata.name}:${sp.port}`;
            if (env.MBRL_BROKER !== want) problems.push(`${at}: MBRL_BROKER=${env.MBRL_BROKER}, want ${want}`);
          }
          if (envsKnown && "MBRL_ENV" in env && !envsKnown.has(env.MBRL_ENV)) {
            problems.push(`${at}: MBRL_ENV=${env.MBRL_ENV} is not an environment mbrl knows`);
          }
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});

describe("overlays", () => {
  const size = (k) => {
    const o = render(k);
    return {
      collectors: find(o, "StatefulSet", "mbrl-collector").spec.replicas,
      plannersMax: find(o, "HorizontalPodAutoscaler", "mbrl-planner").spec.maxReplicas,
      plannersMin: find(o, "HorizontalPodAutoscaler", "mbrl-planner").spec.minReplicas,
    };
  };
  test("dev runs one of each role", () => {
    const objects = render("overlays/dev");
    for (const w of workloads(objects)) {
      const replicas = w.metadata.name === "mbrl-planner"
        ? find(objects, "HorizontalPodAutoscaler", "mbrl-planner").spec.maxReplicas
        : w.spec.replicas;
      assert.equal(replicas, 1, `${id(w)} runs ${replicas}`);
    }
  });
  test("cluster runs many collectors and a larger planner pool than dev", () => {
    const dev = size("overlays/dev");
    const cluster = size("overlays/cluster");
    assert.ok(cluster.collectors >= 8 * dev.collectors, JSON.stringify({ dev, cluster }));
    assert.ok(cluster.plannersMax > dev.plannersMax && cluster.plannersMin > dev.plannersMin);
  });
});
