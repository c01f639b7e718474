export { rolePermissions, renderAuthorization, fleetUsers, passwordEnvName, EXAMPLE_FLEET, type Role, type AuthUser, type FleetLayout, type Permissions } from './nats-auth.js';
export { resolveStackConfig, DEFAULT_CHAINS, type StackConfig } from './stack-config.js';
export { StackError, isStackError, redactUrl, type StackErrorCode } from './stack-error.js';
export { startStack, preflight, CLI_ENTRY, type Stack, type StackInfo } from './stack.js';
export { planServices, portClaims, metricsPortOf, START_ORDER, type ServiceSpec, type ServiceRole } from './service-plan.js';
export { startLocalPostgres, embeddedPostgresBinaries, DATABASE_NAME, type LocalPostgres } from './local-postgres.js';
export { startLocalNats, findNatsServer, type LocalNats } from './local-nats.js';
export { assertPortsFree, type PortClaim } from './ports.js';
