// deploy/Dockerfile, checked without a Docker engine: its structure (a build
// stage on Debian 12 that uses scripts/install-deps and builds Release, a
// runtime stage with runtime libraries only, a non-root user, ENTRYPOINT
// ["mbrl"]), and that the runtime packages it installs provide every shared
// library the built binary links directly (readelf + dpkg on this machine,
// which is the same Debian 12).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

import { BINARY, DEPLOY, readText } from "./lib.mjs";

// Instructions, with line continuations joined and comments dropped, each
// tagged with its stage.
function parseDockerfile(text) {
  const logical = [];
  let current = "";
  for (const raw of text.split("\n")) {
    if (/^\s*#/.test(raw) && current === "") continue;
    if (/^\s*#/.test(raw)) continue; // comment inside a continued instruction
    const line = raw.replace(/\s+$/, "");
    if (line.endsWith("\\")) {
      current += line.slice(0, -1) + " ";
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = "";
  }
  const args = {};
  const stages = [];
  for (const l of logical) {
    const m = /^([A-Za-z]+)\s+(.*)$/s.exec(l);
    assert.ok(m, `cannot parse: ${l}`);
    const op = m[1].toUpperCase();
    const rest = m[2];
    const expand = (s) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, a, b) => args[a || b] ?? all);
    if (op === "ARG") {
      const [k, v] = rest.split(/=(.*)/s);
      const value = v?.replace(/^"(.*)"$/s, "$1");
      if (stages.length === 0) args[k.trim()] = value;
      else stages.at(-1).args[k.trim()] = value;
      continue;
    }
    if (op === "FROM") {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      stages.push({ image: expand(f[1]), name: f[2], instructions: [], args: {} });
      continue;
    }
    assert.ok(stages.length, `${op} before FROM`);
    const stage = stages.at(-1);
    const expandStage = (s) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, a, b) => stage.args[a || b] ?? args[a || b] ?? all);
    stage.instructions.push({ op, rest: expandStage(rest) });
  }
  return stages;
}

const dockerfile = readText(DEPLOY, "Dockerfile");
const stages = parseDockerfile(dockerfile);
const build = stages[0];
const runtime = stages.at(-1);
const runs = (s) => s.instructions.filter((i) => i.op === "RUN").map((i) => i.rest);
const aptInstalled = (s) =>
  runs(s).flatMap((r) => {
    const m = /apt-get install\s+((?:-\S+\s+)*)(.*?)(?:&&|$)/.exec(r);
    return m ? m[2].split(/\s+/).filter((p) => p && !p.startsWith("-")) : [];
  });

// Libraries every debian:12 image has (Essential or required by apt itself).
const IN_BASE_IMAGE = new Set(["libc6", "libstdc++6", "libgcc-s1", "zlib1g"]);

describe("deploy/Dockerfile", () => {
  test("is multi-stage on Debian 12", () => {
    assert.ok(stages.length >= 2, "a build and a runtime stage");
    for (const s of stages) assert.match(s.image, /^debian:(12|bookworm)(-slim)?$/, `stage ${s.name} on ${s.image}`);
    assert.ok(build.name && runtime.name && build.name !== runtime.name, "named stages");
  });

  test("the build stage uses scripts/install-deps and builds Release without tests and benchmarks", () => {
    assert.ok(build.instructions.some((i) => i.op === "COPY" && /scripts\/install-deps/.test(i.rest)));
    assert.ok(runs(build).some((r) => /(^|\s|&&\s*)(\.\/)?scripts\/install-deps(\s|$)/.test(r)), "RUN scripts/install-deps");
    const cmake = runs(build).find((r) => /cmake -S \. -B build/.test(r));
    assert.ok(cmake, "cmake -S . -B build");
    for (const flag of ["-DCMAKE_BUILD_TYPE=Release", "-DMBRL_BUILD_TESTS=OFF", "-DMBRL_BUILD_BENCH=OFF"]) {
      assert.ok(cmake.includes(flag), `configure with ${flag}`);
    }
    assert.match(cmake, /cmake --build build/);
  });

  test("the runtime stage holds the binary and runtime libraries only", () => {
    const copy = runtime.instructions.find((i) => i.op === "COPY" && i.rest.includes(`--from=${build.name}`));
    assert.ok(copy && /build\/apps\/mbrl\s+\S*mbrl$/.test(copy.rest), "binary copied from the build stage");
    const packages = aptInstalled(runtime);
    assert.ok(packages.length > 0, "installs its runtime packages");
    const dev = packages.filter((p) => /-dev$|^build-essential$|^cmake$|^g\+\+|^gcc|^clang|^ccache$/.test(p));
    assert.deepEqual(dev, [], "no build tools or -dev packages at run time");
    assert.ok(runs(runtime).some((r) => /rm -rf \/var\/lib\/apt\/lists/.test(r)), "apt lists removed");
    assert.ok(!runtime.instructions.some((i) => i.op === "COPY" && !i.rest.includes("--from=")),
      "nothing from the build context in the runtime stage");
  });

  test("runs as a non-root user with ENTRYPOINT [\"mbrl\"]", () => {
    const users = runtime.instructions.filter((i) => i.op === "USER");
    assert.ok(users.length, "USER set");
    const user = users.at(-1).rest.split(":")[0];
    assert.ok(!["root", "0"].includes(user), `runs as ${user}`);
    assert.match(user, /^\d+$/, "numeric uid, so runAsNonRoot can verify it");
    const entry = runtime.instructions.filter((i) => i.op === "ENTRYPOINT").at(-1);
    assert.deepEqual(JSON.parse(entry.rest), ["mbrl"], "exec form, the role is the subcommand");
  });

  test("the build context excludes local build trees and .git", () => {
    const ignore = readText(DEPLOY, "Dockerfile.dockerignore").split("\n").map((l) => l.trim());
    for (const p of [".git", "build", "build-*"]) assert.ok(ignore.includes(p), `ignores ${p}`);
  });

  test("the runtime packages provide every library the built binary links", (t) => {
    if (!BINARY) return t.skip("no mbrl binary (MBRL_BINARY)");
    const readelf = spawnSync("readelf", ["-d", BINARY], { encoding: "utf8" });
    if (readelf.error) return t.skip("no readelf");
    const needed = [...readelf.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    assert.ok(needed.length > 0);
    // Where the loader finds each one, and which package owns that file.
    const ldd = execFileSync("ldd", [BINARY], { encoding: "utf8" });
    const paths = new Map([...ldd.matchAll(/^\s*(\S+) => (\/\S+)/gm)].map((m) => [m[1], m[2]]));
    const wanted = new Set(aptInstalled(runtime));
    const problems = [];
    // One dpkg -S for all files (it is slow per call); usrmerge: a file may be
    // registered under /lib or /usr/lib.
    const files = new Map();
    for (const so of needed) {
      const file = paths.get(so);
      if (!file) problems.push(`${so}: not found by ldd`);
      else files.set(so, fs.realpathSync(file));
    }
    const variants = [...files.values()].flatMap((f) => [f, f.replace(/^\/usr\/lib\//, "/lib/"), f.replace(/^\/lib\//, "/usr/lib/")]);
    const dpkg = spawnSync("dpkg", ["-S", ...new Set(variants)], { encoding: "utf8" });
    const owners = new Map();
    for (const line of dpkg.stdout.split("\n")) {
      const m = /^([^:,\s]+)(?::\S+)?: (\/\S+)$/.exec(line);
      if (m) owners.set(m[2].replace(/^\/usr\/lib\//, "/lib/"), m[1]);
    }
    for (const [so, real] of files) {
      const owner = owners.get(real.replace(/^\/usr\/lib\//, "/lib/"));
      if (!owner) {
        problems.push(`${so} (${real}): no Debian package owns it`);
        continue;
      }
      if (!wanted.has(owner) && !IN_BASE_IMAGE.has(owner)) problems.push(`${so}: its package ${owner} is not installed in the runtime stage`);
      t.diagnostic(`${so} <- ${owner}`);
    }
    assert.deepEqual(problems, []);
  });

  test("every runtime package exists in Debian 12's archive (apt-cache)", (t) => {
    const probe = spawnSync("apt-cache", ["policy", "libc6"], { encoding: "utf8" });
    if (probe.error || !/Candidate: (?!\(none\))/.test(probe.stdout)) return t.skip("no apt lists on this machine");
    const packages = aptInstalled(runtime);
    const r = spawnSync("apt-cache", ["policy", ...packages], { encoding: "utf8" });
    // One block per package: "name:" then "  Installed: ..." "  Candidate: ...".
    const candidates = new Map();
    let current = null;
    for (const line of r.stdout.split("\n")) {
      const name = /^(\S+):$/.exec(line);
      if (name) current = name[1];
      const c = /^\s+Candidate: (.*)$/.exec(line);
      if (c && current) candidates.set(current, c[1]);
    }
    const missing = packages.filter((p) => !candidates.get(p) || candidates.get(p) === "(none)");
    assert.deepEqual(missing, []);
  });
});
