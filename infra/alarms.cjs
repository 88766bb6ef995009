// serverless.yml's alarms: `${file(./infra/alarms.cjs)}` runs this when it packages (infra/alarms.ts does the work),
// with the metrics level of the config the functions read.
const { resolve } = require("node:path");
const { alarmResources } = require("./alarms.ts");
const { loadMetricsLevel } = require("../functions/config/load.ts");

module.exports = async ({ resolveVariable }) => {
  if (String(await resolveVariable("param:alarms")) !== "true") return {};
  return alarmResources({
    stage: await resolveVariable("sls:stage"),
    prefix: `${await resolveVariable("self:service")}-${await resolveVariable("sls:stage")}`,
    actions: await resolveVariable("param:alarmActions"),
    heartbeatMinutes: Number(await resolveVariable("param:heartbeatMinutes")),
    metrics: await loadMetricsLevel(resolve(__dirname, "..", await resolveVariable("self:provider.environment.EES_CONFIG"))),
  });
};
