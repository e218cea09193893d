#!/usr/bin/env node
// Packs the package as npm would publish it (npm pack), lints the tarball
// with publint (--strict: warnings fail too), then unpacks it next to this
// package's dependencies and imports ".", "./react" and "./vue" by their
// published names in plain Node: the subpath exports resolve, the .d.ts
// files exist, and no entry touches DOM globals at import (Node has no
// window or document, like React Native).

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
const work = mkdtempSync(join(tmpdir(), "parley-client-pack-"));
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "inherit"], ...opts }).toString();

try {
  if (!existsSync(join(pkgDir, "dist/index.js"))) {
    throw new Error("dist/ is missing: run `npm run build` first");
  }
  const out = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work], { cwd: pkgDir }));
  const tarball = join(work, out[0].filename);
  console.log(`packed ${out[0].filename}: ${out[0].entryCount} files, ${out[0].size} bytes`);

  // publint's progress lines only matter when it finds something: print them then.
  try {
    execFileSync(join(pkgDir, "node_modules/.bin/publint"), ["run", tarball, "--strict"], { stdio: "pipe", cwd: work });
  } catch (err) {
    process.stdout.write(err.stdout ?? "");
    process.stderr.write(err.stderr ?? "");
    throw new Error("publint --strict found problems in the tarball (above)");
  }
  console.log("publint --strict: no problems");

  // Unpack into work/node_modules/@parley/client; its dependencies and
  // peers come from this package's node_modules.
  const modules = join(work, "node_modules");
  const dest = join(modules, "@parley/client");
  mkdirSync(dest, { recursive: true });
  run("tar", ["-xzf", tarball, "-C", dest, "--strip-components=1"]);
  for (const dep of ["convex", "react", "react-dom", "vue", "@vue"]) {
    if (existsSync(join(pkgDir, "node_modules", dep))) {
      mkdirSync(dirname(join(modules, dep)), { recursive: true });
      symlinkSync(join(pkgDir, "node_modules", dep), join(modules, dep));
    }
  }
  const probe = `
    if (typeof window !== "undefined" || typeof document !== "undefined") throw new Error("DOM globals in the probe");
    const core = await import("@parley/client");
    const react = await import("@parley/client/react");
    const vue = await import("@parley/client/vue");
    const need = {
      core: [core, ["createParleyClient", "ParleyClient", "api", "isParleyError", "parleyErrorData", "ParleyUploadError", "TypingNotifier", "appStateForegroundSignal"]],
      react: [react, ["ParleyProvider", "useParleyClient", "useQuery", "useMutation", "usePaginatedQuery", "useConnectionState", "useChat"]],
      vue: [vue, ["ParleyPlugin", "useParleyClient", "useQuery", "useMutation", "usePaginatedQuery", "useChat"]],
    };
    for (const [name, [mod, names]] of Object.entries(need)) {
      for (const n of names) if (!(n in mod)) throw new Error(name + " lacks export " + n);
    }
    const c = core.createParleyClient({ url: "http://127.0.0.1:9", convex: { logger: false } });
    await c.close();
    console.log("imports resolve: @parley/client, @parley/client/react, @parley/client/vue");
  `;
  execFileSync(process.execPath, ["--input-type=module", "-e", probe], { cwd: work, stdio: "inherit" });
  for (const [sub, entry] of Object.entries(pkg.exports)) {
    if (typeof entry === "object" && !existsSync(join(dest, entry.types))) {
      throw new Error(`${sub}: ${entry.types} is not in the tarball`);
    }
  }

  // The stub folders (react/package.json, vue/package.json) for resolvers
  // that ignore "exports" (Metro before Expo SDK 53, TypeScript's node10
  // resolution): resolve "@parley/client/<sub>" the legacy way, as Metro
  // does (the directory's package.json: react-native, browser, main), import
  // the file it names, and check its "types" file is in the tarball.
  for (const sub of ["react", "vue"]) {
    const stubDir = join(dest, sub);
    const stubPath = join(stubDir, "package.json");
    if (!existsSync(stubPath)) throw new Error(`${sub}/package.json is not in the tarball`);
    const stub = JSON.parse(readFileSync(stubPath, "utf8"));
    const main = stub["react-native"] ?? stub.browser ?? stub.main;
    if (typeof main !== "string") throw new Error(`${sub}/package.json has no main`);
    const file = resolve(stubDir, main);
    const exported = resolve(dest, pkg.exports[`./${sub}`].default);
    if (file !== exported) throw new Error(`${sub}/package.json main ${main} is not the ./${sub} export ${exported}`);
    if (!existsSync(resolve(stubDir, stub.types ?? ""))) throw new Error(`${sub}/package.json types ${stub.types} is missing`);
    const legacy = `
      const mod = await import(${JSON.stringify(pathToFileURL(file).href)});
      if (typeof mod.useChat !== "function") throw new Error("${sub} stub: no useChat");
    `;
    execFileSync(process.execPath, ["--input-type=module", "-e", legacy], { cwd: work, stdio: "inherit" });
  }
  // TypeScript with moduleResolution node10 (no "exports") finds the stubs' types.
  writeFileSync(
    join(work, "legacy.ts"),
    [
      `import { createParleyClient } from "@parley/client";`,
      `import { useChat as useChatReact } from "@parley/client/react";`,
      `import { useChat as useChatVue } from "@parley/client/vue";`,
      `export const used: [unknown, unknown, unknown] = [createParleyClient, useChatReact, useChatVue];`,
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(work, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        noEmit: true, strict: true, skipLibCheck: true, module: "commonjs", moduleResolution: "node10",
        target: "es2022", lib: ["es2022", "dom"], types: [], jsx: "react-jsx",
      },
      files: ["legacy.ts"],
    }),
  );
  execFileSync(join(pkgDir, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], { cwd: work, stdio: "inherit" });
  console.log("stub folders resolve: react/package.json, vue/package.json (Metro without exports, TypeScript node10)");
  console.log("package check passed");
} finally {
  rmSync(work, { recursive: true, force: true });
}
