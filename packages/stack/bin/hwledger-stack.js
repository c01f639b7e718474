#!/usr/bin/env node
// The local stack runner (`npm start`); see packages/stack/src/main.ts.
import '../dist/main.js';
