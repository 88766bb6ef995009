// The methods of client-node's CoreV1Api and DiscoveryV1Api that we call, functions and tests alike. client-node.ts
// narrows both APIs to them, so type-checking rejects a call to any other; the functions' bundles then carry only
// these of client-node's generated API code (infra/esbuild-plugins.ts), which holds all ~200 methods of CoreV1Api
// in a few classes that a bundler cannot split. To call another method, add it here.
export const CORE_V1_METHODS = [
  "readNamespacedService",
  "createNamespacedService",
  "replaceNamespacedService",
  "deleteNamespacedService",
  "readNamespacedEndpoints",
  "createNamespacedEndpoints",
  "replaceNamespacedEndpoints",
  "deleteNamespacedEndpoints",
  "listEndpointsForAllNamespaces",
  "readNamespacedConfigMap",
  "createNamespacedConfigMap",
  "replaceNamespacedConfigMap",
  "deleteNamespacedConfigMap",
  "listNamespacedConfigMap",
  "createNamespacedEvent",
  "listNamespacedEvent",
] as const;

export const DISCOVERY_V1_METHODS = [
  "readNamespacedEndpointSlice",
  "createNamespacedEndpointSlice",
  "replaceNamespacedEndpointSlice",
  "deleteNamespacedEndpointSlice",
  "listNamespacedEndpointSlice",
  "listEndpointSliceForAllNamespaces",
] as const;
