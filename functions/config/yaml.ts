import { parseDocument, type YAMLError } from "yaml";

export type YamlResult = { ok: true; value: unknown } | { ok: false; problems: string[] };

/** Aliases expand into copies; past this many, a small text could become a huge value (a "billion laughs"). */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses YAML text that may hold secrets (a config's keyPem, a kubeconfig's token). A problem gives the line,
 * the column and the kind of error, never the text: the parser's own messages quote the line, and some the
 * very token (`Unresolved tag: !<token>`, an unknown alias's name). Warnings are problems too: a tag it does
 * not know (`!vault`) means the value is not what it looks like.
 */
export function parseYaml(text: string): YamlResult {
  const document = parseDocument(text);
  const problems = [...document.errors, ...document.warnings].map(describeYamlError);
  if (problems.length > 0) return { ok: false, problems };
  try {
    return { ok: true, value: document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch {
    // Its message names the alias, which may be anything the text holds.
    return { ok: false, problems: [`an alias (*name) names no anchor, or aliases expand past ${MAX_ALIAS_COUNT} copies`] };
  }
}

/** `line 3, column 1: bad indent`, from the error's code and place alone. */
function describeYamlError(error: YAMLError): string {
  const kind = error.code.toLowerCase().replaceAll("_", " ");
  const at = error.linePos?.[0];
  return at ? `line ${at.line}, column ${at.col}: ${kind}` : kind;
}
