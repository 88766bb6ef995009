#!/usr/bin/env node
import { main } from "../functions/cli.ts";

process.exitCode = await main(process.argv.slice(2));
