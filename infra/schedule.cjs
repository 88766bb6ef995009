// The sync function's schedule, from the config it reads: serverless.yml's `${file(./infra/schedule.cjs):rate}`
// and `:seconds` run this (infra/lambda.ts does the work).
const { resolve } = require("node:path");
const { syncSchedule } = require("./lambda.ts");

module.exports = async ({ resolveVariable }) => syncSchedule(resolve(__dirname, ".."), await resolveVariable("self:provider.environment.EES_CONFIG"));
