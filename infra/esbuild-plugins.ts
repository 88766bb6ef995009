// esbuild plugins for the functions' bundles (serverless.yml: custom.esbuild.plugins). Each one takes load time
// off a cold start without changing what the code does; test/bench/coldstart.bench.ts measures the result.
import { createRequire } from "node:module";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Plugin } from "esbuild";
import { CORE_V1_METHODS, DISCOVERY_V1_METHODS } from "../functions/kube/api-methods.ts";

const require = createRequire(import.meta.url);
const CLIENT_NODE = /[\\/]node_modules[\\/]@kubernetes[\\/]client-node[\\/]/;

/**
 * Builtins imported through `require`, not as ES modules. To import a builtin as an ES module Node builds a facade
 * that reads every export, getters too: `node:http`'s WebSocket, CloseEvent and MessageEvent getters load Node's
 * own copy of undici (about 15 ms here), `node:process`'s stdin getter opens standard input. Nothing we bundle
 * uses those; every other export is there. Importing one of the skipped names fails the build.
 */
const SKIPPED_GETTERS: Record<string, string[]> = {
  http: ["WebSocket", "CloseEvent", "MessageEvent"],
  process: ["stdin"],
};

const builtinsWithoutFacade: Plugin = {
  name: "ees-builtins-without-facade",
  setup(build) {
    build.onResolve({ filter: /^(node:)?(http|process)$/ }, (args) => {
      if (args.kind !== "import-statement" && args.kind !== "dynamic-import") return undefined;
      return { path: args.path.replace(/^node:/, ""), namespace: "ees-builtin" };
    });
    build.onLoad({ filter: /.*/, namespace: "ees-builtin" }, (args) => {
      const skipped = SKIPPED_GETTERS[args.path] ?? [];
      const names = Object.getOwnPropertyNames(require(`node:${args.path}`)).filter(
        (name) => /^[A-Za-z_$][\w$]*$/.test(name) && name !== "default" && !skipped.includes(name),
      );
      return {
        loader: "js",
        contents: [
          `import { createRequire as __eesCreateRequire } from "node:module";`,
          `const builtin = __eesCreateRequire(import.meta.url)("node:${args.path}");`,
          `export default builtin;`,
          `export const { ${names.join(", ")} } = builtin;`,
        ].join("\n"),
      };
    });
  },
};

/**
 * client-node takes `fetch`, `Agent` and `ProxyAgent` from undici's package root, which also loads undici's mock
 * agents, caches, interceptors, WebSocket, EventSource and cookie helpers: a quarter of undici's size, loaded at
 * every cold start for nothing. This gives client-node those three from their own modules, set up as undici's
 * root sets them up. A name client-node imports that is not here fails the build.
 */
const narrowUndici: Plugin = {
  name: "ees-narrow-undici",
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, async (args) => {
      if (args.pluginData === "ees-narrow-undici" || !CLIENT_NODE.test(args.importer)) return undefined;
      const root = await build.resolve("undici", { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: "ees-narrow-undici" });
      if (root.errors.length > 0) return { errors: root.errors };
      return { path: root.path, namespace: "ees-undici" };
    });
    build.onLoad({ filter: /.*/, namespace: "ees-undici" }, (args) => ({
      loader: "js",
      resolveDir: join(args.path, ".."),
      contents: [
        `import Dispatcher from "./lib/dispatcher/dispatcher.js";`,
        `import api from "./lib/api/index.js";`,
        `import "./lib/global.js";`,
        `import Agent from "./lib/dispatcher/agent.js";`,
        `import ProxyAgent from "./lib/dispatcher/proxy-agent.js";`,
        `import webFetch from "./lib/web/fetch/index.js";`,
        // As undici's index.js does: ProxyAgent opens its tunnel with the dispatcher API's connect().
        `Object.assign(Dispatcher.prototype, api);`,
        `export const fetch = webFetch.fetch;`,
        `export { Agent, ProxyAgent };`,
      ].join("\n"),
    }));
  },
};

/**
 * client-node's config.js imports its azure, gcp and oidc auth-provider plugins and the socks client up front (and
 * socks-proxy-agent imports socks); these are swapped for stand-ins (functions/kube/client-node-lazy.ts) that load
 * the real module when a kubeconfig names such a provider or a SOCKS proxy.
 */
const lazyClientNodeParts: Plugin = {
  name: "ees-lazy-client-node-parts",
  setup(build) {
    const standIns = join(import.meta.dirname, "../functions/kube/client-node-lazy.ts");
    const clientNodeConfig = /[\\/]node_modules[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]config\.js$/;
    build.onResolve({ filter: /^\.\/(azure_auth|gcp_auth|oidc_auth)\.js$/ }, (args) => (clientNodeConfig.test(args.importer) ? { path: standIns } : undefined));
    build.onResolve({ filter: /^socks$/ }, (args) =>
      clientNodeConfig.test(args.importer) || /[\\/]node_modules[\\/]socks-proxy-agent[\\/]/.test(args.importer) ? { path: standIns } : undefined,
    );
  },
};

/**
 * An AWS SDK client keeps the schema of every shape of its service in one module, and tags members with objects
 * such as `{ [_xN]: "item" }`, where `_xN` is a string constant of that module. esbuild cannot tell that such a
 * computed key has no side effects, so it keeps every schema, used or not: the EC2 client's chunk carried the
 * shapes of all its ~700 operations for our one. Writing the constant in place of the key (`{ "xmlName": "item" }`)
 * is the same object and lets esbuild drop the shapes that no command we import reaches.
 */
const treeShakeableAwsSchemas: Plugin = {
  name: "ees-tree-shakeable-aws-schemas",
  setup(build) {
    build.onLoad({ filter: /[\\/]@aws-sdk[\\/]client-[^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      const constants = new Map<string, string>();
      for (const [, name, value] of source.matchAll(/^const (_\w+) = ("[^"\\\n]*");$/gm)) constants.set(name!, value!);
      const contents = source.replace(/([{,]\s*)\[(_\w+)\]:/g, (whole, before: string, name: string) => {
        const value = constants.get(name);
        return value === undefined ? whole : `${before}${value}:`;
      });
      return { contents, loader: "js", resolveDir: dirname(args.path) };
    });
  },
};

/**
 * client-node generates CoreV1Api as a few classes with a method per operation (~200), the largest part of what
 * the functions load: a bundler keeps a class whole. functions/kube/client-node.ts narrows the API's type to the
 * methods in functions/kube/api-methods.ts, so no code can call another; this drops the others from the classes.
 * The generated code is regular (a doc comment, the signature, the body up to the method's closing brace at the
 * class's indentation). A file in any other shape, or without a listed method, is bundled whole with a warning
 * naming what was not recognised: a client-node upgrade then costs cold-start time, never the build
 * (test/unit/esbuild-plugins.test.ts checks that the bundle's APIs still have every listed method).
 */
const narrowKubernetesApis: Plugin = {
  name: "ees-narrow-kubernetes-apis",
  setup(build) {
    const both = (methods: readonly string[]) => methods.flatMap((method) => [method, `${method}WithHttpInfo`]);
    const classes: Record<string, Record<string, readonly string[]>> = {
      "apis/CoreV1Api.js": { CoreV1ApiRequestFactory: CORE_V1_METHODS, CoreV1ApiResponseProcessor: CORE_V1_METHODS.map((method) => `${method}WithHttpInfo`) },
      "apis/DiscoveryV1Api.js": {
        DiscoveryV1ApiRequestFactory: DISCOVERY_V1_METHODS,
        DiscoveryV1ApiResponseProcessor: DISCOVERY_V1_METHODS.map((method) => `${method}WithHttpInfo`),
      },
      "types/ObservableAPI.js": { ObservableCoreV1Api: both(CORE_V1_METHODS), ObservableDiscoveryV1Api: both(DISCOVERY_V1_METHODS) },
      "types/ObjectParamAPI.js": { ObjectCoreV1Api: both(CORE_V1_METHODS), ObjectDiscoveryV1Api: both(DISCOVERY_V1_METHODS) },
    };
    build.onLoad({ filter: /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]gen[\\/](apis[\\/](CoreV1Api|DiscoveryV1Api)|types[\\/](ObservableAPI|ObjectParamAPI))\.js$/ }, async (args) => {
      const file = args.path.split(/[\\/]/).slice(-2).join("/");
      const source = await readFile(args.path, "utf8");
      const resolveDir = dirname(args.path);
      let lines = source.split("\n");
      for (const [className, methods] of Object.entries(classes[file]!)) {
        const narrowed = keepMethods(lines, className, new Set(methods));
        if (typeof narrowed === "string") {
          const text = `client-node's ${file} bundled whole, not narrowed: class ${className}: ${narrowed} (see ees-narrow-kubernetes-apis in infra/esbuild-plugins.ts)`;
          return { contents: source, loader: "js", resolveDir, warnings: [{ text }] };
        }
        lines = narrowed;
      }
      return { contents: lines.join("\n"), loader: "js", resolveDir };
    });
  },
};

/** The class's lines with only the constructor and the methods in `keep`, or what in its shape was not expected. */
function keepMethods(lines: string[], className: string, keep: Set<string>): string[] | string {
  const start = lines.findIndex((line) => line.startsWith(`export class ${className} `));
  if (start < 0) return "not found";
  const end = lines.indexOf("}", start);
  if (end < 0) return "no end";
  const kept = lines.slice(0, start + 1);
  const found = new Set<string>();
  let comment: string[] = [];
  for (let index = start + 1; index < end; index++) {
    const line = lines[index]!;
    const signature = /^    (?:async )?(\w+)\(.*\) \{$/.exec(line);
    if (!signature) {
      if (!/^    \/\*\*|^     \*/.test(line)) return `unexpected line ${index + 1}: ${line.trim()}`;
      comment.push(line);
      continue;
    }
    const name = signature[1]!;
    const close = lines.indexOf("    }", index);
    if (close < 0 || close > end) return `no end to method ${name}`;
    if (name === "constructor" || keep.has(name)) {
      kept.push(...comment, ...lines.slice(index, close + 1));
      found.add(name);
    }
    comment = [];
    index = close;
  }
  const missing = [...keep].filter((name) => !found.has(name));
  if (missing.length > 0) return `no method ${missing.join(", ")}`;
  return [...kept, ...lines.slice(end)];
}

const plugins: Plugin[] = [builtinsWithoutFacade, narrowUndici, lazyClientNodeParts, treeShakeableAwsSchemas, narrowKubernetesApis];
export default plugins;
