// npm run bench: the fault soak of test/integration/soak.test.ts, ten times longer (SOAK_RUNS, default 3,000),
// printing its figures. SOAK_SEED=N replays a schedule. Exits 1 on any invariant violation or no convergence.
import { formatFigures, runSoak, soakSeed } from "../harness/soak.ts";

const given = process.env.SOAK_RUNS;
const runs = given === undefined || given === "" ? 3000 : Number(given);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`SOAK_RUNS must be a positive integer, got ${JSON.stringify(given)}`);
const seed = soakSeed();
console.log(`fault soak: ${runs} runs, seed ${seed}`);
const figures = await runSoak({ runs, seed, network: { name: "ees-soak-bn", subnetIndex: 78 }, stalls: Math.ceil(runs / 300), killEvery: 25, log: (line) => console.log(line) });
console.log(formatFigures(figures));
for (const violation of figures.violations.slice(0, 20)) console.log(`run ${violation.run} ${violation.invariant}: ${violation.detail}`);
const ok = figures.violations.length === 0 && figures.convergence.converged && figures.convergence.runs <= figures.convergence.bound;
process.exit(ok ? 0 : 1);
