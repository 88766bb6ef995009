// The few parts of @kubernetes/client-node we use, imported from their own modules. Its package root pulls in
// every module it has (watch, exec, informers, ...): no exports map and no sideEffects flag let a bundler drop
// them, and they cost cold-start time in every function.
export { KubeConfig } from "@kubernetes/client-node/dist/config.js";
export { ApiException } from "@kubernetes/client-node/dist/gen/apis/exception.js";
export { createConfiguration } from "@kubernetes/client-node/dist/gen/configuration.js";
export { ServerConfiguration } from "@kubernetes/client-node/dist/gen/servers.js";
export { ObjectCoreV1Api as CoreV1Api, ObjectDiscoveryV1Api as DiscoveryV1Api } from "@kubernetes/client-node/dist/gen/types/ObjectParamAPI.js";
