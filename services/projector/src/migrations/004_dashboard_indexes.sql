-- The dashboard (services/api/src/dashboard) reads the tenant rollups of the last 24 hours or
-- 7 days across chains and tenants, and the newest reconciliation flags, every 5 seconds. The
-- primary keys lead with chain_id and tenant, so those reads scanned whole tables that grow
-- for ever; these indexes bound them by time.
CREATE INDEX IF NOT EXISTS tenant_usage_hourly_window ON tenant_usage_hourly (window_start_ms);
CREATE INDEX IF NOT EXISTS tenant_usage_daily_window ON tenant_usage_daily (window_start_ms);
CREATE INDEX IF NOT EXISTS tenant_reason_hourly_window ON tenant_reason_hourly (window_start_ms);
CREATE INDEX IF NOT EXISTS tenant_reason_daily_window ON tenant_reason_daily (window_start_ms);
CREATE INDEX IF NOT EXISTS reconciliation_flags_time ON reconciliation_flags (chain_time_ms DESC);
