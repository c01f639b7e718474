/**
 * The agent's NATS connection, kept alive in the background. Unlike
 * `connectNats`, starting never fails when NATS is down: the agent must keep
 * accepting events (into its outbox) whether or not the broker is reachable.
 * `connected` is true only while the connection is up and the chain's
 * streams exist (`setup` succeeded); `onceDown()` calls back on the next
 * disconnect, so an in-flight publish can give up at once instead of
 * waiting out its timeout.
 */
import { natsConnectTarget, redactNatsUrl } from '@hwledger/core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '@hwledger/core';

export interface NatsLinkOptions {
  url: string;
  name: string;
  logger: Logger;
  /** Runs on every (re)connect before `connected` turns true (e.g. ensureChainTopology). */
  setup?: (nc: NatsConnection) => Promise<void>;
  /** Told about every change of `connected`. */
  onChange?: (connected: boolean) => void;
  /** Initial connect timeout per attempt (default 2000 ms). */
  connectTimeoutMs?: number;
}

export class NatsLink {
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private up = false;
  private stopping = false;
  private readonly downWaiters = new Set<() => void>();
  private loopDone: Promise<void> = Promise.resolve();
  private wakeRetry: (() => void) | undefined;
  private resetting = false;

  constructor(private readonly o: NatsLinkOptions) {}

  get connected(): boolean {
    return this.up;
  }

  /** The JetStream client while connected. */
  get jetstream(): JetStreamClient | undefined {
    return this.up ? this.js : undefined;
  }

  get connection(): NatsConnection | undefined {
    return this.nc;
  }

  /** Calls `cb` once on the next transition to disconnected (now, if down); returns an unsubscribe. */
  onceDown(cb: () => void): () => void {
    if (!this.up) {
      cb();
      return () => undefined;
    }
    this.downWaiters.add(cb);
    return () => this.downWaiters.delete(cb);
  }

  start(): void {
    this.loopDone = this.loop();
  }

  private set(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    if (!up) {
      const waiters = [...this.downWaiters];
      this.downWaiters.clear();
      for (const w of waiters) w();
    }
    this.o.onChange?.(up);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.wakeRetry = () => {
        clearTimeout(t);
        r();
      };
    });
  }

  private async ready(nc: NatsConnection): Promise<boolean> {
    let delay = 250;
    while (!this.stopping && !nc.isClosed()) {
      try {
        await this.o.setup?.(nc);
        return true;
      } catch (e) {
        this.o.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'agent: NATS setup failed; retrying');
        await this.sleep(delay);
        delay = Math.min(delay * 2, 2_000);
      }
    }
    return false;
  }

  private async loop(): Promise<void> {
    let delay = 100;
    while (!this.stopping) {
      let nc: NatsConnection;
      try {
        nc = await connect({
          // nats://user:pass@host: credentials become user/pass (nats.js ignores URL userinfo).
          ...natsConnectTarget(this.o.url),
          name: this.o.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          timeout: this.o.connectTimeoutMs ?? 2_000,
          pingInterval: 5_000,
          maxPingOut: 2,
        });
      } catch (e) {
        this.o.logger.debug({ err: e instanceof Error ? e.message : String(e), url: redactNatsUrl(this.o.url) }, 'agent: NATS unreachable; retrying');
        await this.sleep(delay);
        delay = Math.min(delay * 2, 2_000);
        continue;
      }
      delay = 100;
      if (this.stopping) {
        await nc.close().catch(() => undefined);
        break;
      }
      this.nc = nc;
      this.js = jetstream(nc);
      this.o.logger.info({ url: redactNatsUrl(this.o.url) }, 'agent: connected to NATS');
      const watch = (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'disconnect' || s.type === 'staleConnection') {
            this.o.logger.warn({ url: redactNatsUrl(this.o.url), status: s.type }, 'agent: NATS connection lost; events go to the outbox');
            this.set(false);
          } else if (s.type === 'reconnect') {
            this.o.logger.info({ url: redactNatsUrl(this.o.url) }, 'agent: reconnected to NATS');
            if (await this.ready(nc)) this.set(true);
          }
        }
      })();
      if (await this.ready(nc)) this.set(true);
      await nc.closed();
      this.set(false);
      await watch.catch(() => undefined);
      this.nc = undefined;
      this.js = undefined;
    }
  }

  /**
   * Re-runs `setup` on the live connection: for a publish that no stream
   * answered (the ingest stream was deleted, or its subjects changed, while
   * connected), which a reconnect would fix but a healthy connection never
   * gets. `connected` is false until setup succeeds again, so new batches go
   * to the outbox meanwhile and are flushed in order afterwards.
   */
  resetup(reason: string): void {
    const nc = this.nc;
    if (!nc || nc.isClosed() || !this.up || this.resetting || this.stopping) return;
    this.resetting = true;
    this.o.logger.warn({ reason }, 'agent: re-running NATS setup (streams)');
    this.set(false);
    void this.ready(nc).then((ok) => {
      this.resetting = false;
      if (ok && this.nc === nc && !nc.isClosed() && !this.stopping) this.set(true);
    });
  }

  /** Drains and closes the connection; the background loop ends. */
  async close(): Promise<void> {
    this.stopping = true;
    this.wakeRetry?.();
    const nc = this.nc;
    if (nc && !nc.isClosed()) {
      // Drain only while connected: draining a reconnecting connection waits for the broker.
      if (this.up) await Promise.race([nc.drain(), new Promise((r) => setTimeout(r, 2_000))]).catch(() => undefined);
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    }
    this.set(false);
    await this.loopDone;
  }
}
