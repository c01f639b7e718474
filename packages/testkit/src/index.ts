export { freePort } from './free-port.js';
export { TestNatsServer, NATS_SERVER_BIN, type NatsServerOptions } from './nats-server.js';
export { createTestDatabase, ADMIN_PG_URL, type TestDatabase } from './postgres.js';
export { CLI_BIN, runCli, spawnCli, waitFor, type RunResult } from './process.js';
export { useNatsServer, useTestDatabase, type NatsFixture, type DatabaseFixture } from './fixtures.js';
