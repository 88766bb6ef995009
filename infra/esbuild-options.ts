// The functions' esbuild options, read from serverless.yml's custom.esbuild as serverless-esbuild reads them
// (DEFAULT_BUILD_OPTIONS and bundle.ts in its dist), so that what else is built the same way (the CLI,
// infra/build-cli.ts; the benches) cannot drift from the functions: serverless.yml stays the one definition.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { BuildOptions } from "esbuild";
import { parse } from "yaml";

export const ROOT = path.join(import.meta.dirname, "..");
/** The files the options come from: a change to any of them changes every bundle. */
export const BUILD_DEFINITION = ["serverless.yml", "infra/esbuild-options.ts", "infra/esbuild-plugins.ts"];

/** serverless-esbuild's target for the provider's runtime. */
const RUNTIME_TARGETS: Record<string, string> = { "nodejs20.x": "node20", "nodejs22.x": "node22", "nodejs24.x": "node24" };
/** serverless-esbuild's own options, which it takes out before it calls esbuild. */
const PLUGIN_KEYS = [
  "concurrency", "zipConcurrency", "exclude", "nativeZip", "packager", "packagePath", "watch", "keepOutputDirectory", "packagerOptions",
  "installExtraArgs", "outputFileExtension", "outputBuildFolder", "outputWorkFolder", "nodeExternals", "skipBuild", "skipRebuild",
  "skipBuildExcludeFns", "stripEntryResolveExtensions", "disposeContext",
];

export interface FunctionsBuild {
  /** esbuild's options, without entry points or output directory. */
  options: BuildOptions;
  /** serverless.yml's functions, by name. */
  functions: Record<string, { handler: string }>;
  /** The bundles' file extension (outputFileExtension). */
  extension: string;
}

export async function functionsBuildOptions(): Promise<FunctionsBuild> {
  const serverless = parse(await readFile(path.join(ROOT, "serverless.yml"), "utf8")) as {
    provider: { runtime: string };
    functions: Record<string, { handler: string }>;
    custom: { esbuild: Record<string, unknown> };
  };
  const custom = serverless.custom.esbuild;
  if (JSON.stringify(custom).includes("${")) throw new Error("serverless.yml: custom.esbuild uses serverless variables, which only the framework resolves");
  if (custom.config) throw new Error("serverless.yml: custom.esbuild.config (a build script) is not supported by infra/esbuild-options.ts");
  const target = RUNTIME_TARGETS[serverless.provider.runtime];
  if (!target) throw new Error(`serverless.yml: provider.runtime ${JSON.stringify(serverless.provider.runtime)} has no esbuild target here`);
  const options: Record<string, unknown> = { bundle: true, platform: "node", target, ...custom };
  const exclude = (custom.exclude as string[] | undefined) ?? ["aws-sdk"];
  options.external = [...((custom.external as string[] | undefined) ?? []), ...(exclude.includes("*") ? [] : exclude)];
  const extension = (custom.outputFileExtension as string | undefined) ?? ".js";
  if (extension !== ".js") options.outExtension = { ".js": extension };
  if (typeof custom.plugins === "string") options.plugins = (await import(pathToFileURL(path.join(ROOT, custom.plugins)).href)).default;
  for (const key of PLUGIN_KEYS) delete options[key];
  return { options: options as BuildOptions, functions: serverless.functions, extension };
}
