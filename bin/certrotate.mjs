#!/usr/bin/env node
// The `certrotate` CLI from a checkout: tsx runs the TypeScript sources as they are (no build step).
import { register } from 'tsx/esm/api';

register();
const { main, processIo } = await import('../lib/cli/main.ts');
const code = await main(process.argv.slice(2), processIo());
// Wait for stdout to drain (a pipe), then exit: SDK keep-alive sockets must not hold the process open.
process.stdout.write('', () => process.exit(code));
