// Cluster rehearsal (issue 7): the `cluster` overlay's pods, each started with
// exactly the command, arguments and environment its rendered container spec
// gives, each in a network namespace of its own with its own address; storage
// is SIGKILLed mid-collection and restarted as Kubernetes restarts a
// container, and no acknowledged transition may be lost.
//
//   node tests/deploy/netns-rehearsal.mjs      (as root; MBRL_BINARY = mbrl)
// Exit codes: 0 passed, 1 failed, 77 skipped (not root, or no `ip netns`).
//
// What stands in for Kubernetes, and how faithfully:
//   - Objects: `kubectl kustomize deploy/k8s/overlays/cluster`. Replicas are
//     scaled down (REPLICAS below); everything else comes from the render.
//   - Pods: one network namespace per pod (`ip netns`), a veth pair whose
//     inner end is the pod's eth0 with an address 10.213.N.10+k/24, the outer
//     end on a bridge of this test's own. The bridge gets 10.213.N.1 (the
//     "node"), from which this script runs the probes and reads /metrics, as
//     the kubelet and Prometheus would. Nothing else on the machine is
//     touched; everything is removed at the end, also on failure, and stale
//     leftovers of an earlier run that was killed are removed at the start.
//   - Pod names as Kubernetes gives them: StatefulSet <name>-<i>; Deployment
//     <name>-rehearsal-<i> (Kubernetes adds a hash there). The UTS hostname is
//     the pod name.
//   - DNS: /etc/netns/<netns>/hosts, which `ip netns exec` bind-mounts over
//     /etc/hosts: each Service name (short, .<ns>, .<ns>.svc,
//     .<ns>.svc.cluster.local) maps to the pods it selects, and each pod of a
//     StatefulSet to <pod>.<serviceName>[...] as a headless Service gives it.
//     A ClusterIP Service maps straight to its pods' addresses (there is no
//     kube-proxy; the broker, the one ClusterIP Service, has one pod).
//   - Environment: the image's PATH and ENV (deploy/Dockerfile's last stage),
//     HOSTNAME, Service link variables (enableServiceLinks defaults to true:
//     <SVC>_SERVICE_HOST, <SVC>_PORT_... for every ClusterIP Service), then
//     envFrom ConfigMaps and env in Kubernetes' order, fieldRefs from the pod
//     (metadata.name, metadata.namespace, status.podIP, metadata.labels[...]),
//     $(VAR) expanded. Nothing is inherited from this process except
//     OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which this machine's OpenBLAS
//     needs (a node setting, not the pod's).
//   - Command: the container's command and args; `mbrl` is this build's
//     binary (MBRL_BINARY) instead of the image's /usr/local/bin/mbrl.
//   - Volumes: each volumeMount is a directory of the pod under this test's
//     work directory (outside /tmp). /tmp is bind-mounted over /tmp in the
//     pod's mount namespace; other mount paths (/data) do not exist on this
//     machine, so their paths are substituted in env values and args (e.g.
//     MBRL_DATA_DIR=/data/db -> <work>/<pod>/vol-data/db). WORKDIR /data of the
//     image is the data volume where one is mounted there, else a read-only
//     directory.
//   - securityContext: runAsUser/runAsGroup (setpriv, no capabilities, no new
//     privileges) and readOnlyRootFilesystem (/ remounted read-only in the
//     pod's mount namespace; the volumes stay writable). fsGroup: the volume
//     directories are chowned to it.
//   - Probes: readiness is awaited with the container's readinessProbe
//     (HTTP GET path and named port on the pod's address).
//   - Start order: storage first, then the rest at once once storage is
//     ready (in a cluster all start together and a collector that finds no
//     storage exits and is restarted).
//   - Restart: storage's process is SIGKILLed and started again in the same
//     pod (network namespace, address, volumes, environment, command), as
//     the kubelet restarts a crashed container; it is restarted again (1 s
//     back-off) if it exits at once, e.g. while its port is still held.
//   - Shutdown: SIGTERM, then SIGKILL after the pod's
//     terminationGracePeriodSeconds (at most 30 s here): collectors first
//     (they wait for their acknowledgements), then planners, broker, learner,
//     storage last.
//
// What is checked: the rendered endpoints name hosts and ports that Services
// and containers provide; every pod becomes ready and /healthz answers 200;
// collectors have data acknowledged before the kill; after the restart
// storage still holds at least everything acknowledged before the kill,
// collection continues (every collector gets more acknowledged), every pod is
// ready again, and every process exits 0 on SIGTERM; finally `mbrl inspect` on
// the storage volume agrees exactly with what the collectors printed as
// acknowledged: the sum of their transitions, each one's last batch sequence
// number, and the next insertion position (nothing stored twice or lost).
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { BINARY, DEPLOY, find, render, roleFlags, selects, workloads } from "./lib.mjs";
import { Checks, Child, sleep, tail } from "./procs.mjs";

const SKIP = 77;
const OVERLAY = "overlays/cluster";
// Replicas per workload, scaled down from the overlay's (storage and learner
// must stay at one: they are singletons by design).
const REPLICAS = { "mbrl-storage": 1, "mbrl-learner": 1, "mbrl-broker": 1, "mbrl-planner": 2, "mbrl-collector": 3 };
const START_ORDER = ["mbrl-storage", "mbrl-broker", "mbrl-learner", "mbrl-planner", "mbrl-collector"];
const STOP_ORDER = ["mbrl-collector", "mbrl-planner", "mbrl-broker", "mbrl-learner", "mbrl-storage"];
const MAX_GRACE_MS = 30000;
const DEADLINE_MS = 150000; // The whole run; ctest's TIMEOUT is above it.
const MODEL_DEADLINE_MS = Number(process.env.MBRL_REHEARSAL_MODEL_WAIT_S || 80) * 1000; // See "model path".
const IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function skip(why) {
  console.log(`SKIP: ${why}`);
  process.exit(SKIP);
}

// --- preconditions ----------------------------------------------------------

if (typeof process.getuid !== "function" || process.getuid() !== 0) {
  skip("not root: network namespaces, veth pairs and /etc/netns need root");
}
const ipCheck = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
if (ipCheck.error || ipCheck.status !== 0) {
  skip(`\`ip netns\` is not available (${ipCheck.error?.message || ipCheck.stderr.trim()}; Debian's iproute2 package has it)`);
}
if (!BINARY) {
  console.log("FAILED: no mbrl binary (MBRL_BINARY)");
  process.exit(1);
}
for (const tool of ["setpriv", "mount"]) {
  if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
    console.log(`FAILED: ${tool} not found (util-linux)`);
    process.exit(1);
  }
}

// --- names, and cleanup of what this run (or a killed earlier one) made ------

const TAG = `mbrlr${process.pid}`;
const BRIDGE = `mbrlbr${process.pid}`;
const pidAlive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
};

function ip(...args) {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function ipQuiet(...args) {
  return spawnSync("ip", args, { encoding: "utf8" }).status === 0;
}

// Removes the namespaces, /etc/netns entries and bridge of run `pid`.
function removeRun(pid) {
  const tag = `mbrlr${pid}`;
  for (const line of spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n")) {
    const name = line.split(" ")[0];
    if (!name.startsWith(`${tag}-`)) continue;
    // Processes a killed run left behind in it first.
    for (const pid of spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" }).stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    ipQuiet("netns", "del", name);
  }
  if (fs.existsSync("/etc/netns")) {
    for (const d of fs.readdirSync("/etc/netns")) {
      if (d.startsWith(`${tag}-`)) fs.rmSync(path.join("/etc/netns", d), { recursive: true, force: true });
    }
  }
  // Deleting a namespace deletes its veth end and so the pair; the bridge stays.
  for (const line of spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout.split("\n")) {
    const m = /^\d+:\s+([^:@]+)/.exec(line);
    if (m && (m[1] === `mbrlbr${pid}` || m[1].startsWith(`mv${pid}x`))) ipQuiet("link", "del", m[1]);
  }
}

function removeStale() {
  const pids = new Set();
  for (const line of spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n")) {
    const m = /^mbrlr(\d+)-/.exec(line);
    if (m) pids.add(Number(m[1]));
  }
  for (const line of spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout.split("\n")) {
    const m = /^\d+:\s+mbrlbr(\d+)[:@]/.exec(line);
    if (m) pids.add(Number(m[1]));
  }
  let removed = false;
  for (const pid of pids) {
    if (pid !== process.pid && !pidAlive(pid)) {
      console.log(`# removing leftovers of an earlier run (pid ${pid})`);
      removeRun(pid);
      removed = true;
    }
  }
  // An /etc/netns that only the killed run's entries kept.
  if (removed && fs.existsSync("/etc/netns") && fs.readdirSync("/etc/netns").length === 0) fs.rmdirSync("/etc/netns");
}

let etcNetnsCreated = false;
let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  removeRun(process.pid);
  if (etcNetnsCreated && fs.existsSync("/etc/netns") && fs.readdirSync("/etc/netns").length === 0) {
    fs.rmdirSync("/etc/netns");
  }
}
// procs.mjs SIGKILLs the children on exit (also on SIGINT, SIGTERM, SIGHUP);
// then the namespaces can go.
process.on("exit", cleanup);

// --- the render --------------------------------------------------------------

const objects = render(OVERLAY);
const namespace = objects.find((o) => o.metadata?.namespace)?.metadata.namespace || "default";

// The image's ENV, from the Dockerfile's last stage.
function imageEnv() {
  const text = fs.readFileSync(path.join(DEPLOY, "Dockerfile"), "utf8").replace(/\\\n/g, " ");
  const stages = text.split(/^FROM\s/m);
  const env = {};
  for (const line of stages[stages.length - 1].split("\n")) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const kv of m[1].matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      env[kv[1]] = kv[2].replace(/^"(.*)"$/, "$1");
    }
  }
  return env;
}

// --- run -----------------------------------------------------------------

const checks = new Checks();
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const workRoot = process.env.MBRL_REHEARSAL_DIR || "/var/tmp";
let work = null;

function subnet() {
  const used = ip("-4", "-o", "addr", "show");
  for (let k = 0; k < 250; k++) {
    const third = ((process.pid + k) % 250) + 1;
    if (!used.includes(` 10.213.${third}.`)) return `10.213.${third}`;
  }
  throw new Error("no free 10.213.x.0/24");
}

// Environment of `container` in `pod`, as the kubelet builds it.
function podEnv(pod, container) {
  const env = {};
  for (const k of ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]) if (process.env[k] !== undefined) env[k] = process.env[k];
  env.PATH = IMAGE_PATH;
  Object.assign(env, imageEnv());
  env.HOSTNAME = pod.name;
  env.HOME = pod.workdir; // The image user's home (useradd --home-dir /data).
  const defined = {};
  for (const from of container.envFrom || []) {
    const cm = find(objects, "ConfigMap", from.configMapRef?.name);
    if (!cm) throw new Error(`${pod.name}: envFrom ConfigMap ${from.configMapRef?.name} not in the render`);
    for (const [k, v] of Object.entries(cm.data || {})) defined[(from.prefix || "") + k] = String(v);
  }
  const fieldRef = (p) => {
    if (p === "metadata.name") return pod.name;
    if (p === "metadata.namespace") return namespace;
    if (p === "status.podIP") return pod.ip;
    const label = /^metadata\.labels\['([^']+)'\]$/.exec(p);
    if (label) {
      if (!(label[1] in pod.labels)) throw new Error(`${pod.name}: fieldRef ${p}: no such label on the pod`);
      return pod.labels[label[1]];
    }
    throw new Error(`${pod.name}: fieldRef ${p} not emulated`);
  };
  for (const e of container.env || []) {
    if (e.valueFrom?.fieldRef) {
      defined[e.name] = fieldRef(e.valueFrom.fieldRef.fieldPath);
    } else if (e.valueFrom) {
      throw new Error(`${pod.name}: env ${e.name} valueFrom ${Object.keys(e.valueFrom)} not emulated`);
    } else {
      defined[e.name] = String(e.value ?? "").replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, v) =>
        v in defined ? defined[v] : all);
    }
  }
  // Service links (enableServiceLinks defaults to true): only names that the
  // container does not define itself.
  if (pod.spec.enableServiceLinks !== false) {
    for (const svc of objects.filter((o) => o.kind === "Service")) {
      if (svc.spec.clusterIP === "None") continue;
      const backends = pods.filter((p) => selects(svc.spec.selector, p.labels));
      if (!backends.length) continue;
      const host = backends[0].ip;
      const prefix = svc.metadata.name.toUpperCase().replace(/-/g, "_");
      const links = { [`${prefix}_SERVICE_HOST`]: host };
      svc.spec.ports.forEach((p, i) => {
        const proto = (p.protocol || "TCP").toUpperCase();
        if (i === 0) {
          links[`${prefix}_SERVICE_PORT`] = String(p.port);
          links[`${prefix}_PORT`] = `${proto.toLowerCase()}://${host}:${p.port}`;
        }
        if (p.name) links[`${prefix}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, "_")}`] = String(p.port);
        const base = `${prefix}_PORT_${p.port}_${proto}`;
        links[base] = `${proto.toLowerCase()}://${host}:${p.port}`;
        links[`${base}_PROTO`] = proto.toLowerCase();
        links[`${base}_PORT`] = String(p.port);
        links[`${base}_ADDR`] = host;
      });
      for (const [k, v] of Object.entries(links)) {
        if (!(k in defined)) {
          env[k] = v;
          pod.serviceLinks.add(k);
        }
      }
    }
  }
  Object.assign(env, defined);
  // Volume mount paths that do not exist here: substituted.
  for (const [k, v] of Object.entries(env)) env[k] = pod.mapPath(v);
  return env;
}

const pods = [];

function makePods(sub) {
  let next = 10;
  let vethIndex = 0;
  for (const name of START_ORDER) {
    const w = workloads(objects).find((o) => o.metadata.name === name);
    if (!w) throw new Error(`the ${OVERLAY} render has no workload ${name}`);
    const replicas = REPLICAS[name];
    checks.ok(replicas <= (w.spec.replicas ?? 1) || w.kind === "Deployment",
      `${w.kind}/${name}: ${replicas} of ${w.spec.replicas ?? "HPA-managed"} replicas`);
    const spec = w.spec.template.spec;
    if (spec.containers.length !== 1 || (spec.initContainers || []).length) {
      throw new Error(`${name}: one container and no init containers are emulated`);
    }
    const container = spec.containers[0];
    for (let i = 0; i < replicas; i++) {
      const podName = w.kind === "StatefulSet" ? `${name}-${i}` : `${name}-rehearsal-${i}`;
      const labels = { ...w.spec.template.metadata.labels };
      if (w.kind === "StatefulSet") {
        labels["apps.kubernetes.io/pod-index"] = String(i);
        labels["statefulset.kubernetes.io/pod-name"] = podName;
      }
      const dir = path.join(work, podName);
      const sc = { ...(spec.securityContext || {}), ...(container.securityContext || {}) };
      const mounts = (container.volumeMounts || []).map((m) => ({ ...m, hostDir: path.join(dir, `vol-${m.name}`) }));
      const pod = {
        name: podName,
        workload: name,
        kind: w.kind,
        serviceName: w.spec.serviceName,
        index: i,
        ip: `${sub}.${next++}`,
        netns: `${TAG}-${podName}`,
        veth: `mv${process.pid}x${vethIndex++}`,
        labels,
        spec,
        container,
        dir,
        mounts,
        uid: sc.runAsUser ?? 0,
        gid: sc.runAsGroup ?? sc.runAsUser ?? 0,
        fsGroup: spec.securityContext?.fsGroup,
        readOnlyRoot: sc.readOnlyRootFilesystem === true,
        grace: Math.min(1000 * (spec.terminationGracePeriodSeconds ?? 30), MAX_GRACE_MS),
        port: (p) => (typeof p === "number" ? p : (container.ports || []).find((cp) => cp.name === p)?.containerPort),
        mapPath(value) {
          let out = value;
          for (const m of mounts) {
            if (m.mountPath === "/tmp") continue; // bind-mounted
            out = out.replace(new RegExp(`(^|[=:,\\s])${m.mountPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?=/|$|[\\s,:])`, "g"),
              (all, lead) => lead + m.hostDir);
          }
          return out;
        },
        process: null,
        starts: 0,
        serviceLinks: new Set(),
      };
      // The image's WORKDIR /data: the volume mounted there, else a read-only
      // directory standing for the image's own (empty) /data.
      pod.workdir = pod.mapPath("/data");
      if (pod.workdir === "/data") pod.workdir = path.join(dir, "image-data");
      pods.push(pod);
    }
  }
}

function setUpNetwork(sub) {
  ip("link", "add", BRIDGE, "type", "bridge");
  ip("addr", "add", `${sub}.1/24`, "dev", BRIDGE);
  ip("link", "set", BRIDGE, "up");
  if (!fs.existsSync("/etc/netns")) {
    fs.mkdirSync("/etc/netns");
    etcNetnsCreated = true;
  }
  for (const pod of pods) {
    ip("netns", "add", pod.netns);
    ip("link", "add", pod.veth, "type", "veth", "peer", "name", `${pod.veth}p`);
    ip("link", "set", `${pod.veth}p`, "netns", pod.netns);
    ip("-n", pod.netns, "link", "set", `${pod.veth}p`, "name", "eth0");
    ip("-n", pod.netns, "addr", "add", `${pod.ip}/24`, "dev", "eth0");
    ip("-n", pod.netns, "link", "set", "eth0", "up");
    ip("-n", pod.netns, "link", "set", "lo", "up");
    ip("link", "set", pod.veth, "master", BRIDGE);
    ip("link", "set", pod.veth, "up");
  }
}

// The name -> addresses table every pod's /etc/hosts holds.
function serviceHosts() {
  const table = new Map(); // name -> Set(ip)
  const add = (name, addr) => {
    if (!table.has(name)) table.set(name, new Set());
    table.get(name).add(addr);
  };
  const qualified = (name) => [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
  for (const svc of objects.filter((o) => o.kind === "Service")) {
    const backends = pods.filter((p) => selects(svc.spec.selector, p.labels));
    for (const p of backends) {
      for (const n of qualified(svc.metadata.name)) add(n, p.ip);
      if (svc.spec.clusterIP === "None" && p.serviceName === svc.metadata.name) {
        for (const n of qualified(`${p.name}.${svc.metadata.name}`)) add(n, p.ip);
      }
    }
  }
  return table;
}

function writeHosts(table) {
  for (const pod of pods) {
    const lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"];
    const own = pod.serviceName
      ? `${pod.ip}\t${pod.name}.${pod.serviceName}.${namespace}.svc.cluster.local\t${pod.name}`
      : `${pod.ip}\t${pod.name}`;
    lines.push("# Kubernetes-managed hosts file.", own, "# Services (DNS in a cluster).");
    for (const [name, addrs] of table) for (const a of addrs) lines.push(`${a}\t${name}`);
    fs.mkdirSync(path.join("/etc/netns", pod.netns), { recursive: true });
    fs.writeFileSync(path.join("/etc/netns", pod.netns, "hosts"), `${lines.join("\n")}\n`);
  }
}

function prepareDirs(pod) {
  fs.mkdirSync(pod.dir, { recursive: true });
  for (const m of pod.mounts) {
    fs.mkdirSync(m.hostDir, { recursive: true });
    const group = pod.fsGroup ?? pod.gid;
    fs.chownSync(m.hostDir, pod.uid, group);
    fs.chmodSync(m.hostDir, 0o2775);
  }
  fs.mkdirSync(pod.workdir, { recursive: true });
  if (!pod.mounts.some((m) => m.hostDir === pod.workdir)) fs.chownSync(pod.workdir, pod.uid, pod.gid);
}

// Inside the pod's namespaces: hostname, volumes, read-only root, user.
const POD_SHELL = `set -e
host="$1"; workdir="$2"; tmpdir="$3"; ro="$4"; uid="$5"; gid="$6"; shift 6
printf '%s' "$host" > /proc/sys/kernel/hostname
while [ "$1" != "--" ]; do mount --bind "$1" "$1"; shift; done
shift
if [ -n "$tmpdir" ]; then mount --bind "$tmpdir" /tmp; fi
if [ "$ro" = 1 ]; then mount -o remount,bind,ro /; fi
cd "$workdir"
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"
`;

// The binary the pods run: a copy inside the work directory, because the
// build may live under /tmp (bind-mounted over in every pod) or in a
// directory that the pods' uid cannot enter.
let podBinary = null;

function startPod(pod) {
  const c = pod.container;
  const binary = podBinary;
  const command = [...(c.command || []), ...(c.args || [])].map((a, i) => (i === 0 && a === "mbrl" ? binary : pod.mapPath(a)));
  if (command[0] !== binary) throw new Error(`${pod.name}: command ${c.command} is not mbrl`);
  const tmpMount = pod.mounts.find((m) => m.mountPath === "/tmp");
  const writable = pod.mounts.filter((m) => m.mountPath !== "/tmp").map((m) => m.hostDir);
  const env = podEnv(pod, c);
  pod.env = env;
  pod.command = command;
  pod.starts += 1;
  pod.process = new Child(`${pod.name}.${pod.starts}`, "ip",
    ["netns", "exec", pod.netns, "unshare", "--uts", "sh", "-c", POD_SHELL, "pod", pod.name, pod.workdir,
      tmpMount ? tmpMount.hostDir : "", pod.readOnlyRoot ? "1" : "0", String(pod.uid), String(pod.gid),
      ...writable, "--", ...command],
    { env, logDir: path.join(work, "logs") });
  return pod.process;
}

async function httpGet(pod, port, urlPath, timeoutMs = 2000) {
  try {
    const res = await fetch(`http://${pod.ip}:${port}${urlPath}`, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch (e) {
    return { status: 0, body: String(e.message || e) };
  }
}

async function probe(pod, which) {
  const p = pod.container[which];
  if (!p?.httpGet) return null;
  return httpGet(pod, pod.port(p.httpGet.port), p.httpGet.path, 1000 * (p.timeoutSeconds ?? 1));
}

async function waitReady(list, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  const notReady = new Set(list);
  while (notReady.size && Date.now() < deadline) {
    for (const pod of [...notReady]) {
      if (!pod.process.running) throw new Error(`${pod.name} exited (${pod.process.exitCode ?? pod.process.signal}) while starting:\n${tail(pod.process.stderr)}`);
      const r = await probe(pod, "readinessProbe");
      if (r === null || r.status === 200) notReady.delete(pod);
    }
    if (notReady.size) await sleep(250);
  }
  return [...notReady].map((p) => p.name);
}

// The sum of a metric's samples on the pod's /metrics (NaN: none), only
// those whose labels contain `labels` (e.g. 'status="ok"') when given.
async function metric(pod, name, labels = "") {
  const r = await httpGet(pod, pod.port("metrics"), "/metrics");
  if (r.status !== 200) return NaN;
  let sum = 0;
  let found = false;
  for (const line of r.body.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name && (m[2] || "").includes(labels)) {
      sum += Number(m[3]);
      found = true;
    }
  }
  return found ? sum : NaN;
}

async function main() {
  removeStale();
  work = fs.mkdtempSync(path.join(workRoot, "mbrl-netns-rehearsal-"));
  fs.chmodSync(work, 0o755);
  fs.mkdirSync(path.join(work, "logs"));
  podBinary = path.join(work, "mbrl");
  fs.copyFileSync(path.resolve(BINARY), podBinary);
  fs.chmodSync(podBinary, 0o755);
  const sub = subnet();
  makePods(sub);
  const byWorkload = (name) => pods.filter((p) => p.workload === name);
  const storage = byWorkload("mbrl-storage")[0];
  const collectors = byWorkload("mbrl-collector");

  setUpNetwork(sub);
  const table = serviceHosts();
  writeHosts(table);
  for (const pod of pods) prepareDirs(pod);
  console.log(`# ${elapsed()}: ${pods.length} pods on ${BRIDGE} ${sub}.0/24: ${pods.map((p) => `${p.name}=${p.ip}`).join(" ")}`);

  // Static: the endpoints in the environment name reachable hosts and ports.
  for (const pod of pods) {
    const env = podEnv(pod, pod.container);
    for (const [k, v] of Object.entries(env)) {
      for (const m of v.matchAll(/tcp:\/\/([^:/\s]+):(\d+)/g)) {
        const [host, port] = [m[1], Number(m[2])];
        if (host === "0.0.0.0" || host === "*") {
          checks.ok((pod.container.ports || []).some((p) => p.containerPort === port),
            `${pod.name}: ${k}=${v} listens on a declared containerPort`);
          continue;
        }
        if (/_PORT(_\d+_TCP)?$/.test(k)) continue; // Service links, made here.
        const addrs = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? new Set([host]) : table.get(host);
        const targets = pods.filter((p) => addrs?.has(p.ip));
        checks.ok(targets.length > 0 && targets.every((t) => (t.container.ports || []).some((p) => p.containerPort === port)),
          `${pod.name}: ${k}=${v}: ${host} resolves to ${targets.map((t) => t.name).join(", ") || "nothing"}, which listen on ${port}`);
      }
    }
  }

  // Kubernetes' Service link variables share mbrl's MBRL_ prefix (Service
  // mbrl-broker -> MBRL_BROKER_PORT, ...): none may be read as a flag.
  for (const pod of pods) {
    const role = (pod.container.args || [])[0];
    const flags = roleFlags(role) || {};
    const hit = [...pod.serviceLinks].filter((k) => k in flags);
    checks.ok(hit.length === 0, `${pod.name}: none of its ${pod.serviceLinks.size} Service link variables is a flag of \`mbrl ${role}\`${hit.length ? `: ${hit.join(", ")}` : ""}`);
  }

  // The pod sandbox itself: its user, a read-only root, writable volumes.
  {
    const pod = storage;
    const data = pod.mounts.find((m) => m.mountPath !== "/tmp");
    const tmpMount = pod.mounts.find((m) => m.mountPath === "/tmp");
    const probeFile = `/mbrl-rehearsal-rofs-probe-${process.pid}`;
    const r = spawnSync("ip", ["netns", "exec", pod.netns, "unshare", "--uts", "sh", "-c", POD_SHELL, "pod", pod.name,
      pod.workdir, tmpMount ? tmpMount.hostDir : "", pod.readOnlyRoot ? "1" : "0", String(pod.uid), String(pod.gid),
      ...(data ? [data.hostDir] : []), "--", "sh", "-c",
      `touch ${probeFile} 2>/dev/null && echo root-writable; touch /tmp/probe && rm /tmp/probe && echo tmp-ok; ` +
      `${data ? `touch ${data.hostDir}/probe && rm ${data.hostDir}/probe && echo data-ok; ` : ""}id -u; hostname; ` +
      `getent hosts mbrl-storage-0.mbrl-storage | cut -d' ' -f1`],
      { encoding: "utf8", timeout: 20000 });
    if (fs.existsSync(probeFile)) fs.rmSync(probeFile);
    const out = r.stdout.split("\n").filter(Boolean);
    const want = [...(pod.readOnlyRoot ? [] : ["root-writable"]), "tmp-ok", ...(data ? ["data-ok"] : []), String(pod.uid), pod.name, storage.ip];
    checks.ok(JSON.stringify(out) === JSON.stringify(want),
      `${pod.name} sandbox: root filesystem ${pod.readOnlyRoot ? "read-only" : "writable"}, volumes writable, uid, hostname, hosts file: got ${JSON.stringify(out)} ${r.stderr.trim()}`);
  }

  // Storage first, then everything else.
  startPod(storage);
  let waiting = await waitReady([storage], 30000);
  if (!checks.ok(waiting.length === 0, `${elapsed()}: ${storage.name} ready (readinessProbe)`)) return;
  console.log(`# ${storage.name}: ${storage.command.join(" ")}\n#   env: ${Object.entries(storage.env).filter(([k]) => /^(MBRL_|OPENBLAS_NUM|OMP_)/.test(k)).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  for (const pod of pods) if (pod !== storage) startPod(pod);
  waiting = await waitReady(pods, 40000);
  if (!checks.ok(waiting.length === 0, `${elapsed()}: every pod ready${waiting.length ? `; not: ${waiting.join(", ")}` : ""}`)) return;
  for (const pod of pods) {
    const h = await probe(pod, "livenessProbe");
    checks.ok(h?.status === 200, `${pod.name}: livenessProbe ${pod.container.livenessProbe?.httpGet?.path} answers ${h?.status}`);
  }

  // Collect, then kill storage while the collectors stream.
  const phase = Date.now();
  for (;;) {
    const acked = await Promise.all(collectors.map((c) => metric(c, "mbrl_collector_transitions_acked_total")));
    if (acked.every((a) => a > 0) && Date.now() - phase > 5000) break;
    if (Date.now() - phase > 40000) {
      checks.ok(false, `collectors have data acknowledged before the kill: ${acked.join(", ")}`);
      return;
    }
    await sleep(500);
  }
  const ackedAtKill = await Promise.all(collectors.map((c) => metric(c, "mbrl_collector_transitions_acked_total")));
  const storedAtKill = await metric(storage, "mbrl_storage_transitions");
  storage.process.signalNow("SIGKILL");
  await storage.process.exited;
  checks.ok(storage.process.signal === "SIGKILL", `${elapsed()}: ${storage.name} SIGKILLed with ${ackedAtKill.join(" + ")} transitions acknowledged to the collectors (${storedAtKill} stored)`);
  // Down for a while: the collectors keep their batches.
  await sleep(2000);
  const unacked = await Promise.all(collectors.map((c) => metric(c, "mbrl_collector_unacked_batches")));
  console.log(`# while storage is down: unacknowledged batches per collector ${unacked.join(", ")}`);

  // The kubelet restarts the container: same pod, same command and volume.
  let restarted = false;
  for (let attempt = 0; attempt < 10 && !restarted; attempt++) {
    startPod(storage);
    const left = await waitReady([storage], 30000).catch((e) => {
      console.log(`# restart ${attempt + 1}: ${e.message.split("\n")[0]}`);
      return ["exited"];
    });
    restarted = left.length === 0;
    if (!restarted) {
      await storage.process.stop(2000);
      await sleep(1000);
    }
  }
  if (!checks.ok(restarted, `${elapsed()}: ${storage.name} restarted and ready (start ${storage.starts})`)) return;
  // What the restarted storage found on its volume, before any client
  // could resend: at least everything acknowledged before the kill.
  const opened = /opened \S+: (\d+) transitions/.exec(storage.process.stderr);
  const sumAtKill = ackedAtKill.reduce((a, b) => a + b, 0);
  checks.ok(opened && Number(opened[1]) >= sumAtKill,
    `the restarted storage opened its volume with ${opened?.[1]} transitions, >= the ${sumAtKill} acknowledged before the kill`);

  // Collection continues.
  const resume = Date.now();
  let ackedNow = [];
  for (;;) {
    ackedNow = await Promise.all(collectors.map((c) => metric(c, "mbrl_collector_transitions_acked_total")));
    if (ackedNow.every((a, i) => a > ackedAtKill[i]) && Date.now() - resume > 5000) break;
    if (Date.now() - resume > 40000) break;
    await sleep(500);
  }
  checks.ok(ackedNow.every((a, i) => a > ackedAtKill[i]),
    `${elapsed()}: every collector has more acknowledged after the restart (${ackedAtKill.join(", ")} -> ${ackedNow.join(", ")})`);
  waiting = await waitReady(pods, 30000).catch((e) => [e.message]);
  checks.ok(waiting.length === 0, `${elapsed()}: every pod ready again after the restart${waiting.length ? `; not: ${waiting.join(", ")}` : ""}`);
  for (const pod of pods) {
    if (pod !== storage) checks.ok(pod.starts === 1 && pod.process.running, `${pod.name}: still its first process (rode through the storage restart)`);
  }

  // Opportunistically, the model path inside the pod sandbox (read-only
  // root, non-root user): the learner publishes, both planners load the
  // model and plan with it. The first fit of the overlay's cartpole ensemble
  // takes about a minute on 2 busy cores, so this is checked only when it
  // happens before MODEL_DEADLINE_MS.
  const planners = byWorkload("mbrl-planner");
  let loaded = false;
  while (!loaded && Date.now() - started < MODEL_DEADLINE_MS) {
    const versions = await Promise.all(planners.map((p) => metric(p, "mbrl_planner_model_latest_version")));
    loaded = versions.every((v) => v >= 1);
    if (!loaded) await sleep(1000);
  }
  if (loaded) {
    let planned = [];
    for (let i = 0; i < 20; i++) {
      planned = await Promise.all(planners.map((p) => metric(p, "mbrl_planner_requests_total", 'status="ok"')));
      if (planned.every((n) => n > 0)) break;
      await sleep(1000);
    }
    checks.ok(planned.every((n) => n > 0), `${elapsed()}: the learner published, every planner loaded the model and planned with it (${planned.join(", ")} plans)`);
  } else {
    console.log(`# ${elapsed()}: no model within ${MODEL_DEADLINE_MS / 1000} s (the learner's first fit is still running): the model path was not exercised this time`);
  }

  // Stop as Kubernetes does on scale-down: SIGTERM, grace, SIGKILL.
  const reports = {};
  for (const name of STOP_ORDER) {
    const group = byWorkload(name);
    const results = await Promise.all(group.map((p) => p.process.stop(p.grace)));
    group.forEach((p, i) => {
      const r = results[i];
      checks.ok(r.code === 0 && !r.killed,
        `${p.name}: exits 0 on SIGTERM (${r.killed ? `killed after ${p.grace / 1000} s` : r.code ?? r.signal})${r.code === 0 ? "" : `\n${tail(p.process.stderr)}`}`);
      const done = /collector done id=(\S+) episodes=(\d+) transitions_acked=(\d+) last_sequence=(\d+) resends=(\d+)/.exec(p.process.stdout);
      if (name === "mbrl-collector") {
        if (checks.ok(done, `${p.name}: reports what was acknowledged`)) {
          reports[done[1]] = { episodes: +done[2], acked: +done[3], lastSequence: +done[4], resends: +done[5] };
        }
      }
    });
  }
  console.log(`# ${elapsed()}: collectors: ${JSON.stringify(reports)}`);

  // Storage's volume against what the collectors saw acknowledged.
  const dataDir = storage.env.MBRL_DATA_DIR;
  const inspect = spawnSync(BINARY, ["inspect", "--data-dir", dataDir], { encoding: "utf8", timeout: 60000 });
  if (!checks.ok(inspect.status === 0, `mbrl inspect --data-dir ${dataDir} (${inspect.status}) ${inspect.stderr.trim()}`)) return;
  const info = JSON.parse(inspect.stdout);
  const ackedTotal = Object.values(reports).reduce((a, r) => a + r.acked, 0);
  checks.ok(info.transitions === ackedTotal, `storage holds ${info.transitions} transitions = ${ackedTotal} acknowledged in all`);
  checks.ok(info.next_position === ackedTotal + 1, `next insertion position ${info.next_position} = acknowledged + 1 (nothing stored twice)`);
  for (const pod of collectors) {
    const r = reports[pod.env.MBRL_ID];
    const stored = (info.collectors || []).find((c) => c.id === pod.env.MBRL_ID);
    checks.ok(r && stored && stored.last_sequence === r.lastSequence,
      `${pod.env.MBRL_ID}: storage's last sequence ${stored?.last_sequence} = the collector's ${r?.lastSequence}`);
  }
  checks.ok((info.collectors || []).every((c) => reports[c.id]), "storage knows no collector that did not run");
  const resends = Object.values(reports).reduce((a, r) => a + r.resends, 0);
  checks.ok(resends > 0, `the collectors resent ${resends} batches (the kill hit batches in flight)`);
  console.log(`# models in the registry: ${JSON.stringify(info.models || [])}`);
}

let failure = null;
const timer = setTimeout(() => {
  console.log(`FAILED: the rehearsal ran over ${DEADLINE_MS / 1000} s; cleaning up`);
  process.exit(1);
}, DEADLINE_MS);
try {
  await main();
} catch (e) {
  failure = e;
}
clearTimeout(timer);
for (const pod of pods) if (pod.process?.running) await pod.process.stop(3000);
cleanup();
if (failure) {
  console.log(`FAILED: ${failure.stack || failure}`);
  checks.failed.push(String(failure.message || failure));
}
console.log(`# netns-rehearsal: ${checks.passed} passed, ${checks.failed.length} failed, ${elapsed()} in all`);
if (checks.failed.length) {
  if (work) console.log(`# pod directories and logs kept in ${work}`);
  process.exit(1);
}
if (work) fs.rmSync(work, { recursive: true, force: true });
process.exit(0);
