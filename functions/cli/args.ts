// The command line's grammar: every option once, and per command the options it takes. Pure and light, so a
// usage error (exit 2) is found before any command's code is loaded.
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

export const OUTPUTS = ["table", "json", "yaml"] as const;
export type Output = (typeof OUTPUTS)[number];
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const OPTIONS = {
  config: { type: "string" },
  "dry-run": { type: "boolean" },
  target: { type: "string", multiple: true },
  installation: { type: "string" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  output: { type: "string", short: "o" },
  cluster: { type: "string" },
  group: { type: "string" },
  user: { type: "string" },
  "service-account": { type: "string" },
  every: { type: "string" },
  "health-addr": { type: "string" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const satisfies ParseArgsOptionsConfig;

export type OptionName = keyof typeof OPTIONS;

/** Every command takes these. */
const GLOBAL: readonly OptionName[] = ["log-level", "help", "version"];

/** Options that were renamed: the usage error says what to type now. */
const RENAMED = new Map([["--json", "-o json"]]);

const parse = (argv: string[]) => parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
export type Options = ReturnType<typeof parse>["values"];

/** One command: its line in the usage, and the options it takes (the global ones aside). */
export interface CommandSpec {
  /** What follows the command's name in the usage, every option it takes named there. */
  synopsis: string;
  /** One line (or two) for the usage's list of commands. */
  summary: string;
  options: readonly OptionName[];
}

/** What the command line asks for. */
export type CommandLine =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "usage"; reason: string }
  | { kind: "command"; command: string; options: Options; output: Output; logLevel: LogLevel | undefined };

/** Pure: reads argv against the commands; every mistake is a `usage` with a one-line reason. */
export function parseCommandLine(argv: string[], commands: Record<string, CommandSpec>): CommandLine {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    const renamed = argv.map((arg) => arg.split("=")[0]!).find((flag) => RENAMED.has(flag));
    if (renamed) return usage(`${renamed} is gone: use ${RENAMED.get(renamed)}`);
    // node:util's own: "Unknown option '--x'", "Option '--config <value>' argument missing".
    return usage((error as Error).message.split(". ")[0]!);
  }
  const { values, positionals, tokens } = parsed;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };

  const [name, ...extra] = positionals;
  const names = Object.keys(commands);
  if (name === undefined) return usage(`expected a command: ${either(names)}`);
  if (!Object.hasOwn(commands, name)) return usage(`unknown command ${JSON.stringify(name)}: expected ${either(names)}`);
  const command = commands[name]!;
  if (extra.length > 0) return usage(`${name}: unexpected argument ${JSON.stringify(extra[0])}`);
  const notTaken = tokens.find((token) => token.kind === "option" && !command.options.includes(token.name as OptionName) && !GLOBAL.includes(token.name as OptionName));
  if (notTaken?.kind === "option") return usage(`${name} does not take ${notTaken.rawName}`);
  // Every command reads a config.
  if (values.config === undefined) return usage(`${name} needs --config FILE`);

  const output = values.output ?? "table";
  if (!isOneOf(OUTPUTS, output)) return usage(`-o: expected ${either(OUTPUTS)}; got ${JSON.stringify(output)}`);
  const logLevel = values["log-level"];
  if (logLevel !== undefined && !isOneOf(LOG_LEVELS, logLevel)) return usage(`--log-level: expected ${either(LOG_LEVELS)}; got ${JSON.stringify(logLevel)}`);
  return { kind: "command", command: name, options: values, output, logLevel };
}

const usage = (reason: string): CommandLine => ({ kind: "usage", reason });

/** "table, json or yaml" */
const either = (list: readonly string[]) => `${list.slice(0, -1).join(", ")} or ${list.at(-1)}`;

const isOneOf = <T extends string>(list: readonly T[], value: string): value is T => (list as readonly string[]).includes(value);

/** A flag that makes no sense with the config or the other flags: told with the usage, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What a command is run with: the command line, parsed and checked. */
export type CommandArgs = Extract<CommandLine, { kind: "command" }>;
