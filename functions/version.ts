// The release, read from package.json: its one source. Node (the CLI from its sources) and esbuild (the
// bundled functions) both load a JSON module, so the version is never written twice.
import packageJson from "../package.json" with { type: "json" };

export const VERSION: string = packageJson.version;

/** Sent with every Kubernetes and AWS request, so the API server's audit log and CloudTrail name the release. */
export const USER_AGENT = `${packageJson.name}/${VERSION}`;
