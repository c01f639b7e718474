/** Re-exports for tests, plus a free TCP port. */
import { freePort } from '@hwledger/testkit';
export { chainStatus, migrate, Projector, rebuildChain, startHealthServer } from '@hwledger/projector';
export const freePortForTest = (): Promise<number> => freePort();
