// serverless.yml's dispatch queue and the worker's role: `${file(./infra/resources.cjs):resources}` runs this when it
// packages (infra/resources.ts does the work), and `:maxReceiveCount` tells the worker the redrive limit.
const { workerResources, MAX_RECEIVE_COUNT } = require("./resources.ts");
const iamStatements = require("./iam.cjs");

module.exports = async ({ resolveVariable }) => {
  const subnetIds = await resolveVariable("param:subnetIds");
  return {
    maxReceiveCount: MAX_RECEIVE_COUNT,
    resources: workerResources({
      roleName: `${await resolveVariable("self:service")}-${await resolveVariable("sls:stage")}-${await resolveVariable("self:provider.region")}-workerRole`,
      logGroup: `/aws/lambda/${await resolveVariable("self:service")}-${await resolveVariable("sls:stage")}-worker`,
      queuePrefix: `${await resolveVariable("self:service")}-${await resolveVariable("sls:stage")}`,
      statements: (await iamStatements({ resolveVariable })).worker,
      workerTimeoutSeconds: Number(await resolveVariable("self:functions.worker.timeout")),
      vpc: Array.isArray(subnetIds) && subnetIds.length > 0,
    }),
  };
};
