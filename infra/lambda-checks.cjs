// A serverless plugin: `sls package` and `sls deploy` refuse a bundle the functions could not run (infra/lambda.ts
// does the work). A package-time hook, not a variable: `sls offline` runs the functions here, where a kubeconfig
// file or inCluster may work.
const { ConfigError } = require("../functions/config/load.ts");
const { checkPackage, PackageError } = require("./lambda.ts");

module.exports = class LambdaChecks {
  constructor(serverless) {
    this.hooks = {
      "before:package:initialize": async () => {
        const { package: { patterns = [] }, provider: { environment } } = serverless.service;
        try {
          await checkPackage(serverless.serviceDir, patterns, environment.EES_CONFIG, Number(environment.EES_SYNC_TIMEOUT_SECONDS));
        } catch (error) {
          // The framework shows its own errors as their message alone, without a stack.
          throw error instanceof PackageError || error instanceof ConfigError ? new serverless.classes.Error(error.message) : error;
        }
      },
    };
  }
};
