#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so the shipped code is the code that is tested.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
