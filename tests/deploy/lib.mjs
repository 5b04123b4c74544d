// Shared helpers of the deploy/ checks: where things are, rendering the
// kustomizations, reading the binary's own description of its flags.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = process.env.MBRL_SOURCE_DIR || path.resolve(here, "../..");
export const DEPLOY = path.join(ROOT, "deploy");
export const K8S = path.join(DEPLOY, "k8s");
export const MONITORING = path.join(DEPLOY, "monitoring");

// Every kustomization that must render: the base and each overlay.
export const KUSTOMIZATIONS = ["base", "overlays/dev", "overlays/cluster"];
export const OVERLAYS = ["overlays/dev", "overlays/cluster"];
export const ROLES = ["storage", "learner", "broker", "planner", "collector"];

// The mbrl binary, when the build made one (ctest passes it); checks that need
// it are skipped without it.
export const BINARY =
  process.env.MBRL_BINARY && fs.existsSync(process.env.MBRL_BINARY) ? process.env.MBRL_BINARY : null;

export function readText(...parts) {
  return fs.readFileSync(path.join(...parts), "utf8");
}

export function parseYamlDocs(text, what) {
  const docs = YAML.parseAllDocuments(text);
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${what}: ${d.errors.map((e) => e.message).join("; ")}`);
  }
  return docs.map((d) => d.toJSON()).filter((o) => o !== null);
}

const renders = new Map();
// `kubectl kustomize` of deploy/k8s/<dir>, parsed; cached per process.
export function render(dir) {
  if (!renders.has(dir)) {
    const out = execFileSync("kubectl", ["kustomize", path.join(K8S, dir)], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
      stdio: ["ignore", "pipe", "pipe"],
    });
    renders.set(dir, parseYamlDocs(out, `kubectl kustomize ${dir}`));
  }
  return renders.get(dir);
}

export const id = (o) => `${o.kind}/${o.metadata?.name}`;

// Deployments and StatefulSets with their pod templates.
export function workloads(objects) {
  return objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
}

export function find(objects, kind, name) {
  return objects.find((o) => o.kind === kind && o.metadata?.name === name);
}

// matchLabels selector matches labels.
export function selects(matchLabels, labels) {
  return Object.entries(matchLabels || {}).every(([k, v]) => (labels || {})[k] === v);
}

// Kubernetes quantities ("500m", "2", "16Gi", 2) as numbers.
export function quantity(q) {
  const m = /^([0-9.]+(?:e[0-9]+)?)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$/.exec(String(q));
  if (!m) throw new Error(`not a quantity: ${q}`);
  const scale = {
    m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50,
  };
  return Number(m[1]) * (m[2] ? scale[m[2]] : 1);
}

// The environment a container starts with: envFrom ConfigMaps in order, then
// env (Kubernetes' precedence), with $(VAR) references expanded and fieldRefs
// shown as "<fieldRef:PATH>".
export function containerEnv(objects, container) {
  const env = {};
  const sources = {};
  for (const from of container.envFrom || []) {
    const name = from.configMapRef?.name;
    const cm = find(objects, "ConfigMap", name);
    if (!cm) throw new Error(`envFrom names ConfigMap ${name}, which the render lacks`);
    for (const [k, v] of Object.entries(cm.data || {})) {
      env[(from.prefix || "") + k] = String(v);
      sources[(from.prefix || "") + k] = `ConfigMap/${name}`;
    }
  }
  for (const e of container.env || []) {
    if (e.valueFrom?.fieldRef) {
      env[e.name] = `<fieldRef:${e.valueFrom.fieldRef.fieldPath}>`;
    } else {
      env[e.name] = String(e.value ?? "").replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, v) =>
        v in env ? env[v] : all,
      );
    }
    sources[e.name] = "env";
  }
  return { env, sources };
}

const helps = new Map();
// The flags of `mbrl ROLE`, read from its --help: env var -> {flag, type,
// required}. null without a binary.
export function roleFlags(role) {
  if (!BINARY) return null;
  if (!helps.has(role)) {
    const r = spawnSync(BINARY, [role, "--help"], { encoding: "utf8", timeout: 20000 });
    if (r.status !== 0) throw new Error(`mbrl ${role} --help exited ${r.status}: ${r.stderr}`);
    const flags = {};
    for (const line of r.stdout.split("\n")) {
      const m = /^\s+(--[a-z0-9-]+)(?:\s+([A-Z]+(?::\S+)?))?(\s+REQUIRED)?.*\(Env:(MBRL_[A-Z0-9_]+)\)/.exec(line);
      if (m) flags[m[4]] = { flag: m[1], type: m[2] || "FLAG", required: Boolean(m[3]) };
    }
    helps.set(role, flags);
  }
  return helps.get(role);
}

// Does a value pass the CLI type of a flag ("INT:POSITIVE=2500", "UINT",
// "FLOAT:NONNEGATIVE", "TEXT:{a,b}", "FLAG")? Returns a reason or null.
export function checkFlagValue(type, value) {
  const [base, rest = ""] = type.split(/:(.*)/s);
  const check = rest.replace(/=.*$/, "");
  const v = String(value);
  if (base === "FLAG") return /^(true|false|1|0|on|off|yes|no)$/i.test(v) ? null : "not a boolean";
  if (base === "INT" && !/^-?\d+$/.test(v)) return "not an integer";
  if (base === "UINT" && !/^\d+$/.test(v)) return "not an unsigned integer";
  if (base === "FLOAT" && !(v.trim() !== "" && Number.isFinite(Number(v)))) return "not a number";
  if (check === "POSITIVE" && !(Number(v) > 0)) return "not positive";
  if (check === "NONNEGATIVE" && !(Number(v) >= 0)) return "negative";
  const set = /^\{(.*)\}$/.exec(check);
  if (set && !set[1].split(",").includes(v)) return `not one of ${set[1]}`;
  return null;
}
