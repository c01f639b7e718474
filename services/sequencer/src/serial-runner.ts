/**
 * Runs a possibly-async handler on each item strictly in order. While the
 * handler returns nothing, items are handled inline, synchronously, as they
 * are pushed; while a returned promise is pending, later items wait in a
 * queue. Used to feed JetStream messages delivered by callback to the sealing
 * loop (so a whole socket read of messages is handled in one turn, and the
 * appends it produces leave in one write), and to call onSealed hooks in
 * order. Handler errors go to `onError`, never back into the caller.
 */
export class SerialRunner<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private busy = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly fn: (item: T) => void | Promise<void>,
    private readonly onError: (e: unknown) => void,
  ) {}

  /** Items queued or in progress. */
  get backlog(): number {
    return this.items.length - this.head + (this.busy ? 1 : 0);
  }

  push(item: T): void {
    if (this.busy || this.head < this.items.length) {
      this.items.push(item);
      return;
    }
    this.run(item);
    if (!this.busy) this.notifyIdle();
  }

  /** Drops queued items (the one in progress finishes). */
  clear(): void {
    this.items = [];
    this.head = 0;
    if (!this.busy) this.notifyIdle();
  }

  private run(item: T): void {
    let r: void | Promise<void>;
    try {
      r = this.fn(item);
    } catch (e) {
      this.onError(e);
      return;
    }
    if (r && typeof (r as Promise<void>).then === 'function') {
      this.busy = true;
      (r as Promise<void>).then(
        () => this.next(),
        (e: unknown) => {
          this.onError(e);
          this.next();
        },
      );
    }
  }

  private next(): void {
    this.busy = false;
    while (!this.busy && this.head < this.items.length) {
      const item = this.items[this.head] as T;
      this.items[this.head] = undefined;
      this.head++;
      this.run(item);
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (!this.busy) this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.backlog !== 0 || this.idleWaiters.length === 0) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }

  /** Resolves when every pushed item has been handled (or cleared). */
  idle(): Promise<void> {
    if (this.backlog === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }
}
