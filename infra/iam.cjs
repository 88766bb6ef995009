// serverless.yml's IAM statements: `${file(./infra/iam.cjs):shared}` runs this when it packages (infra/iam.ts does the
// work). `shared`: the role of sync and trigger, which may send to the dispatch queue; `worker`: the worker's
// role (infra/resources.cjs), which may take from it.
const { resolve } = require("node:path");
const { loadConfig } = require("../functions/config/load.ts");
const { dispatchStatements, iamStatements } = require("./iam.ts");

module.exports = async ({ resolveVariable }) => {
  const configFile = await resolveVariable("param:configFile");
  const parameterName = await resolveVariable("param:configParameter");
  const region = await resolveVariable("self:provider.region");
  const config = await loadConfig(resolve(__dirname, "..", configFile));
  const statements = iamStatements(config, parameterName ? { name: parameterName, region } : undefined);
  const { dispatcher, worker } = dispatchStatements();
  return { shared: [...statements, ...dispatcher], worker: [...statements, ...worker] };
};
