// A serverless plugin: `sls package` and `sls deploy` refuse a bundle the functions could not run (infra/lambda.ts
// does the work). A package-time hook, not a variable: `sls offline` runs the functions here, where a kubeconfig
// file or inCluster may work.
const { checkPackage, PackageError } = require("./lambda.ts");

module.exports = class LambdaChecks {
  constructor(serverless) {
    this.hooks = {
      "before:package:initialize": async () => {
        const { service } = serverless;
        try {
          await checkPackage(serverless.serviceDir, service.package.patterns ?? [], service.provider.environment.EES_CONFIG);
        } catch (error) {
          // The framework shows its own errors as their message alone, without a stack.
          throw error instanceof PackageError ? new serverless.classes.Error(error.message) : error;
        }
      },
    };
  }
};
