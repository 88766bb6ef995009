// The few parts of @kubernetes/client-node we use, imported from their own modules. Its package root pulls in
// every module it has (watch, exec, informers, ...): no exports map and no sideEffects flag let a bundler drop
// them, and they cost cold-start time in every function.
import type { Configuration } from "@kubernetes/client-node/dist/gen/configuration.js";
import { ObjectCoreV1Api, ObjectDiscoveryV1Api } from "@kubernetes/client-node/dist/gen/types/ObjectParamAPI.js";
import type { CORE_V1_METHODS, DISCOVERY_V1_METHODS } from "./api-methods.ts";

export type { Authenticator } from "@kubernetes/client-node/dist/auth.js";
export { KubeConfig } from "@kubernetes/client-node/dist/config.js";
export { newClusters, newContexts, newUsers } from "@kubernetes/client-node/dist/config_types.js";
export { ApiException } from "@kubernetes/client-node/dist/gen/apis/exception.js";
export { createConfiguration } from "@kubernetes/client-node/dist/gen/configuration.js";
export { ServerConfiguration } from "@kubernetes/client-node/dist/gen/servers.js";

// Narrowed to the methods in api-methods.ts, which are all the functions' bundles contain.
export type CoreV1Api = Pick<ObjectCoreV1Api, (typeof CORE_V1_METHODS)[number]>;
export const CoreV1Api: new (configuration: Configuration) => CoreV1Api = ObjectCoreV1Api;
export type DiscoveryV1Api = Pick<ObjectDiscoveryV1Api, (typeof DISCOVERY_V1_METHODS)[number]>;
export const DiscoveryV1Api: new (configuration: Configuration) => DiscoveryV1Api = ObjectDiscoveryV1Api;
