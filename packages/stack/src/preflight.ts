/**
 * Checks of external dependencies before anything starts: NATS_URL answers
 * and has JetStream, DATABASE_URL accepts a connection. Each failure is one
 * line naming the setting and what to do.
 */
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { natsConnectTarget } from '@hwledger/core';
import pg from 'pg';
import { redactUrl, StackError } from './stack-error.js';

function reason(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0] ?? m;
}

export async function checkNats(url: string): Promise<void> {
  let nc;
  try {
    nc = await connect({ ...natsConnectTarget(url), timeout: 3_000, reconnect: false, name: 'hwledger-stack-preflight' });
  } catch (e) {
    throw new StackError('UNREACHABLE', 'NATS_URL', `cannot reach ${redactUrl(url)} (${reason(e)}): start NATS there, or unset NATS_URL to let npm start run its own nats-server`);
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: 3_000 });
    await jsm.getAccountInfo();
  } catch (e) {
    throw new StackError('UNREACHABLE', 'NATS_URL', `${redactUrl(url)} has no JetStream (${reason(e)}): run nats-server with -js (or a jetstream {} block), or unset NATS_URL`);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export async function checkPostgres(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
  } catch (e) {
    throw new StackError('UNREACHABLE', 'DATABASE_URL', `cannot use ${redactUrl(url)} (${reason(e)}): start Postgres there and create the database, or unset DATABASE_URL to let npm start run an embedded Postgres`);
  } finally {
    await c.end().catch(() => undefined);
  }
}
