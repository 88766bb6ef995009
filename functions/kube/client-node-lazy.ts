// Stand-ins for parts of client-node that only some kubeconfigs need, used only in the functions' bundles: the
// bundler puts them where client-node imports the real ones (infra/esbuild-plugins.ts), and each loads the real
// one the first time it is used, which then behaves exactly as it would have.
//   - The azure, gcp and oidc auth-provider plugins: a kubeconfig that names none of these providers (tokens,
//     certificates, token files, exec plugins, EKS) never loads them. oidc alone brings openid-client and
//     oauth4webapi; azure and gcp bring jsonpath-plus.
//   - The socks client, with ip-address and smart-buffer: only a cluster behind a SOCKS proxy (proxy-url) needs it.
import type { User } from "@kubernetes/client-node";
import type { SocksClient as RealSocksClient } from "socks";
// Types only: at run time client-node.ts imports client-node's config.js, which imports this module.
import type { Authenticator } from "./client-node.ts";

type Options = Parameters<Authenticator["applyAuthentication"]>[1];

function lazyAuthProvider(provider: string, load: () => Promise<Authenticator>) {
  return class implements Authenticator {
    #real: Promise<Authenticator> | undefined;

    // As every one of the real plugins decides.
    isAuthProvider(user: User | undefined): boolean {
      return user?.authProvider?.name === provider;
    }

    async applyAuthentication(user: User, opts: Options): Promise<void> {
      // One real plugin per KubeConfig, as client-node makes them (oidc keeps its token's expiry in it).
      this.#real ??= load().catch((error: unknown) => {
        this.#real = undefined;
        throw error;
      });
      return (await this.#real).applyAuthentication(user, opts);
    }
  };
}

export const AzureAuth = lazyAuthProvider("azure", async () => new (await import("@kubernetes/client-node/dist/azure_auth.js")).AzureAuth());
export const GoogleCloudPlatformAuth = lazyAuthProvider("gcp", async () => new (await import("@kubernetes/client-node/dist/gcp_auth.js")).GoogleCloudPlatformAuth());
export const OpenIDConnectAuth = lazyAuthProvider("oidc", async () => new (await import("@kubernetes/client-node/dist/oidc_auth.js")).OpenIDConnectAuth());

type Connect = typeof RealSocksClient.createConnection;

/** The one call client-node and socks-proxy-agent make, with its contract: a callback, or a promise. */
export const SocksClient = {
  createConnection(...[options, callback]: Parameters<Connect>): ReturnType<Connect> {
    return import("socks").then(
      (socks) => socks.SocksClient.createConnection(options, callback),
      (error: unknown) => {
        if (typeof callback !== "function") throw error;
        // As socks does when the connection fails: the callback has the error and the promise resolves.
        callback(error as Error);
        return error as never;
      },
    );
  },
};
