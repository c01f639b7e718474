/**
 * A TCP relay between an agent and a real nats-server that can turn into a
 * black hole: the connection stays open (the client still thinks it is
 * connected) but nothing passes either way, so a JetStream publish waits for a
 * PubAck that never comes (a slow / wedged broker or network) and the
 * nats-server never sees the message. `heal()` cuts the relayed connections
 * (bytes dropped mid-protocol make them unusable) and lets the client
 * reconnect through a working relay. Not a mock: the other end is the real
 * server.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export class StallProxy {
  private holed = false;
  private readonly pairs = new Set<[Socket, Socket]>();

  private constructor(private readonly server: Server) {}

  static async start(targetPort: number): Promise<StallProxy> {
    const server = createServer();
    const proxy = new StallProxy(server);
    server.on('connection', (client) => proxy.relay(client, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get url(): string {
    return `nats://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private relay(client: Socket, targetPort: number): void {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d: Buffer) => void (this.holed || upstream.write(d)));
    upstream.on('data', (d: Buffer) => void (this.holed || client.write(d)));
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }

  /** From now on every byte, both ways, is dropped; connections stay open. */
  blackhole(): void {
    this.holed = true;
  }

  /** Closes the relayed connections and relays normally again (the client reconnects). */
  heal(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
    this.holed = false;
  }

  async close(): Promise<void> {
    this.heal();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
