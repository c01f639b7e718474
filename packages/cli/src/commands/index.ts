import type { Command } from 'commander';
import { register as emit } from './emit.js';
import { register as exportChain } from './export.js';
import { register as sequencer } from './sequencer.js';
import { register as projector } from './projector.js';
import { register as reconciler } from './reconciler.js';
import { register as pricing } from './pricing.js';
import { register as agent } from './agent.js';
import { register as api } from './api.js';
import { register as tenants } from './tenants.js';
import { register as trail } from './trail.js';
import { register as cost } from './cost.js';
import { register as reconcile } from './reconcile.js';
import { register as checkpoint } from './checkpoint.js';
import { register as checkpointer } from './checkpointer.js';
import { register as prove } from './prove.js';
import { register as verifyProof } from './verify-proof.js';
import { register as replicate } from './replicate.js';
import { register as archive } from './archive.js';
import { register as fleetAnchor } from './fleet-anchor.js';
import { register as verify } from './verify.js';
import { register as decode } from './decode.js';

/** Every CLI command; each file exports `register(program)`. Add yours here. */
export const COMMANDS: ((program: Command) => void)[] = [sequencer, emit, exportChain, projector, reconciler, pricing, api, tenants, trail, cost, reconcile, checkpoint, checkpointer, prove, verifyProof, replicate, archive, fleetAnchor, verify, agent, decode];
