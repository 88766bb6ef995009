// serverless.yml's IAM statements: `${file(./infra/iam.cjs)}` runs this when it packages (infra/iam.ts does the work).
const { resolve } = require("node:path");
const { loadConfig } = require("../functions/config/load.ts");
const { iamStatements } = require("./iam.ts");

module.exports = async ({ resolveVariable }) => {
  const configFile = await resolveVariable("param:configFile");
  const parameterName = await resolveVariable("param:configParameter");
  const region = await resolveVariable("self:provider.region");
  const config = await loadConfig(resolve(__dirname, "..", configFile));
  return iamStatements(config, parameterName ? { name: parameterName, region } : undefined);
};
