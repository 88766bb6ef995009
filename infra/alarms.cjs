// serverless.yml's alarms: `${file(./infra/alarms.cjs)}` runs this when it packages (infra/alarms.ts does the work).
const { alarmResources } = require("./alarms.ts");

module.exports = async ({ resolveVariable }) => {
  if (String(await resolveVariable("param:alarms")) !== "true") return {};
  return alarmResources({
    stage: await resolveVariable("sls:stage"),
    prefix: `${await resolveVariable("self:service")}-${await resolveVariable("sls:stage")}`,
    actions: await resolveVariable("param:alarmActions"),
    heartbeatMinutes: Number(await resolveVariable("param:heartbeatMinutes")),
  });
};
