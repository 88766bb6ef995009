// The metrics level of the config the functions read: serverless.yml's `${file(./infra/metrics-level.cjs)}` runs this,
// for the functions' EES_METRICS_LEVEL; infra/alarms.cjs reads the same for the alarms' queries.
const { resolve } = require("node:path");
const { loadMetricsLevel } = require("../functions/config/load.ts");

module.exports = async ({ resolveVariable }) => loadMetricsLevel(resolve(__dirname, "..", await resolveVariable("self:provider.environment.EES_CONFIG")));
