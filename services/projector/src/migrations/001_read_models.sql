-- hwledger read models, version 1 (docs/read-models.md documents every column).
-- Conventions:
--   * every table carries chain_id (one chain per region; many chains per database);
--   * u64 values of the wire format are numeric(20,0) (exact; Postgres bigint is i64),
--     except `sequence` and `sealed_at_ms`, which the sequencer assigns: they are bigint
--     and a record with either above 2^63-1 stops the projector (reason out_of_range);
--   * sums are numeric (exact, never overflow); money is integer micro-USD;
--     durations are milliseconds; times are unix ms of CHAIN time (sealed_at_ms) unless named otherwise;
--   * hashes are 32-byte bytea (SHA-256, spec "Hash chain").

-- Every verified record, decoded.
CREATE TABLE records (
  chain_id        text          NOT NULL,
  sequence        bigint        NOT NULL,
  prev_hash       bytea         NOT NULL,
  hash            bytea         NOT NULL,
  canonical       bytea         NOT NULL,
  kind            text          NOT NULL,
  tenant          text          NOT NULL,
  instance_id     text          NOT NULL,
  source          text          NOT NULL,
  event_id        text          NOT NULL,
  observed_at_ms  numeric(20,0) NOT NULL,
  sealed_at_ms    bigint        NOT NULL,
  job_id          text,
  request_id      text,
  device_id       text,
  data            jsonb         NOT NULL,
  PRIMARY KEY (chain_id, sequence)
);
CREATE INDEX records_job_id ON records (job_id, chain_id, sequence) WHERE job_id IS NOT NULL;
CREATE INDEX records_request_id ON records (request_id, chain_id, sequence) WHERE request_id IS NOT NULL;
CREATE INDEX records_device_id ON records (device_id, chain_id, sequence) WHERE device_id IS NOT NULL;
CREATE INDEX records_tenant_time ON records (chain_id, tenant, sealed_at_ms);

-- The projector's position: the last record projected and its hash (the verification anchor).
CREATE TABLE projector_checkpoints (
  chain_id    text        PRIMARY KEY,
  sequence    bigint      NOT NULL,
  hash        bytea       NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- What the projector knows about the chain's integrity.
CREATE TABLE chain_status (
  chain_id           text        PRIMARY KEY,
  head_sequence      bigint      NOT NULL DEFAULT 0,
  verified_sequence  bigint      NOT NULL DEFAULT 0,
  verified_hash      bytea,
  status             text        NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'broken')),
  broken_sequence    bigint,
  broken_reason      text,
  broken_message     text,
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Devices and their latest state (registration and last telemetry).
CREATE TABLE devices (
  chain_id                 text          NOT NULL,
  device_id                text          NOT NULL,
  registered               boolean       NOT NULL DEFAULT false,
  hostname                 text,
  device_type              text,
  vram_total_mib           numeric(20,0),
  registered_sequence      bigint,
  registered_at_ms         bigint,
  registration_count       integer       NOT NULL DEFAULT 0,
  last_metrics_sequence    bigint,
  last_seen_at_ms          bigint,
  vram_used_mib            numeric(20,0),
  reported_vram_total_mib  numeric(20,0),
  utilization_pct          bigint,
  temperature_mc           integer,
  power_mw                 bigint,
  metrics_count            bigint        NOT NULL DEFAULT 0,
  PRIMARY KEY (chain_id, device_id)
);

-- Every metrics_collected record.
CREATE TABLE device_metrics (
  chain_id        text          NOT NULL,
  sequence        bigint        NOT NULL,
  device_id       text          NOT NULL,
  sealed_at_ms    bigint        NOT NULL,
  observed_at_ms  numeric(20,0) NOT NULL,
  vram_used_mib   numeric(20,0) NOT NULL,
  vram_total_mib  numeric(20,0) NOT NULL,
  utilization_pct bigint        NOT NULL,
  temperature_mc  integer       NOT NULL,
  power_mw        bigint        NOT NULL,
  PRIMARY KEY (chain_id, sequence)
);
CREATE INDEX device_metrics_device ON device_metrics (chain_id, device_id, sequence);

-- Telemetry rollups per device and window (window_start_ms = floor(sealed_at_ms / size) * size, UTC).
CREATE TABLE device_metrics_hourly (
  chain_id            text          NOT NULL,
  device_id           text          NOT NULL,
  window_start_ms     bigint        NOT NULL,
  samples             bigint        NOT NULL,
  vram_used_sum_mib   numeric       NOT NULL,
  vram_used_max_mib   numeric(20,0) NOT NULL,
  utilization_sum     numeric       NOT NULL,
  utilization_max     bigint        NOT NULL,
  temperature_sum_mc  numeric       NOT NULL,
  temperature_max_mc  integer       NOT NULL,
  power_sum_mw        numeric       NOT NULL,
  power_max_mw        bigint        NOT NULL,
  PRIMARY KEY (chain_id, device_id, window_start_ms)
);
CREATE TABLE device_metrics_daily (LIKE device_metrics_hourly INCLUDING ALL);

-- Dispatch jobs through their lifecycle (first dispatch / completion / failure of a job_id wins;
-- later ones only bump the *_count columns).
CREATE TABLE jobs (
  chain_id                  text          NOT NULL,
  job_id                    text          NOT NULL,
  status                    text          NOT NULL CHECK (status IN ('dispatched', 'completed', 'failed')),
  dispatch_tenant           text,
  device_id                 text,
  model_id                  text,
  vram_requested_mib        numeric(20,0),
  predicted_cost_micro_usd  numeric(20,0),
  dispatch_sequence         bigint,
  dispatched_at_ms          bigint,
  dispatch_count            integer       NOT NULL DEFAULT 0,
  completion_tenant         text,
  tokens_generated          bigint,
  duration_ms               numeric(20,0),
  actual_vram_mib           numeric(20,0),
  reported_cost_micro_usd   numeric(20,0),
  completion_sequence       bigint,
  completed_at_ms           bigint,
  completion_count          integer       NOT NULL DEFAULT 0,
  failure_tenant            text,
  error_message             text,
  failure_sequence          bigint,
  failed_at_ms              bigint,
  failure_count             integer       NOT NULL DEFAULT 0,
  rated_device_type         text,
  rated_model_id            text,
  rated_cost_micro_usd      numeric,
  price_book_version        integer,
  last_sequence             bigint        NOT NULL,
  PRIMARY KEY (chain_id, job_id)
);
CREATE INDEX jobs_device ON jobs (chain_id, device_id, dispatch_sequence);
CREATE INDEX jobs_completed_at ON jobs (completed_at_ms) WHERE completion_sequence IS NOT NULL;
CREATE INDEX jobs_status ON jobs (chain_id, status);
CREATE INDEX jobs_last_sequence ON jobs (chain_id, last_sequence);

-- Every inference_request_completed record, rated.
CREATE TABLE inference_requests (
  chain_id              text          NOT NULL,
  sequence              bigint        NOT NULL,
  tenant                text          NOT NULL,
  tenant_id             text          NOT NULL,
  request_id            text          NOT NULL,
  total_tokens          bigint        NOT NULL,
  compute_ms            numeric(20,0) NOT NULL,
  reason                text          NOT NULL,
  sealed_at_ms          bigint        NOT NULL,
  observed_at_ms        numeric(20,0) NOT NULL,
  rated_cost_micro_usd  numeric,
  price_book_version    integer,
  PRIMARY KEY (chain_id, sequence)
);
CREATE INDEX inference_requests_request ON inference_requests (request_id);
CREATE INDEX inference_requests_tenant_time ON inference_requests (chain_id, tenant, sealed_at_ms);
CREATE INDEX inference_requests_time ON inference_requests (sealed_at_ms);

-- Per-tenant usage per window (window_start_ms = floor(sealed_at_ms / size) * size, UTC).
CREATE TABLE tenant_usage_hourly (
  chain_id                      text     NOT NULL,
  tenant                        text     NOT NULL,
  window_start_ms               bigint   NOT NULL,
  request_count                 bigint   NOT NULL DEFAULT 0,
  request_tokens                numeric  NOT NULL DEFAULT 0,
  request_compute_ms            numeric  NOT NULL DEFAULT 0,
  request_cost_micro_usd        numeric  NOT NULL DEFAULT 0,
  unrated_request_count         bigint   NOT NULL DEFAULT 0,
  jobs_completed                bigint   NOT NULL DEFAULT 0,
  jobs_failed                   bigint   NOT NULL DEFAULT 0,
  job_tokens                    numeric  NOT NULL DEFAULT 0,
  job_duration_ms               numeric  NOT NULL DEFAULT 0,
  job_reported_cost_micro_usd   numeric  NOT NULL DEFAULT 0,
  job_rated_cost_micro_usd      numeric  NOT NULL DEFAULT 0,
  unrated_job_count             bigint   NOT NULL DEFAULT 0,
  price_book_versions           integer[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (chain_id, tenant, window_start_ms)
);
CREATE TABLE tenant_usage_daily (LIKE tenant_usage_hourly INCLUDING ALL);

-- Inference requests per tenant, window and completion reason.
CREATE TABLE tenant_reason_hourly (
  chain_id         text    NOT NULL,
  tenant           text    NOT NULL,
  window_start_ms  bigint  NOT NULL,
  reason           text    NOT NULL,
  request_count    bigint  NOT NULL,
  tokens           numeric NOT NULL,
  compute_ms       numeric NOT NULL,
  PRIMARY KEY (chain_id, tenant, window_start_ms, reason)
);
CREATE TABLE tenant_reason_daily (LIKE tenant_reason_hourly INCLUDING ALL);

-- Price books: versioned (version increases with every `pricing set`), effective-dated
-- (the book in effect for an hour window is the highest version whose effective_from_ms <= window start).
CREATE TABLE price_books (
  version            integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  effective_from_ms  bigint      NOT NULL CHECK (effective_from_ms >= 0 AND effective_from_ms % 3600000 = 0),
  note               text        NOT NULL DEFAULT '',
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE price_book_rates (
  version    integer       NOT NULL REFERENCES price_books(version),
  rate_kind  text          NOT NULL CHECK (rate_kind IN ('gpu_hour', 'token')),
  rate_key   text          NOT NULL,
  micro_usd  numeric(20,0) NOT NULL CHECK (micro_usd >= 0),
  PRIMARY KEY (version, rate_kind, rate_key)
);

-- Reconciliation (written by the reconciler from the tables above).
CREATE TABLE job_reconciliation (
  chain_id                  text        NOT NULL,
  job_id                    text        NOT NULL,
  status                    text        NOT NULL,
  device_id                 text,
  device_type               text,
  model_id                  text,
  predicted_vram_mib        numeric,
  actual_vram_mib           numeric,
  vram_variance_pct         numeric,
  predicted_cost_micro_usd  numeric,
  actual_cost_micro_usd     numeric,
  cost_variance_pct         numeric,
  rated_cost_micro_usd      numeric,
  price_book_version        integer,
  telemetry_max_vram_mib    numeric,
  flags                     text[]      NOT NULL DEFAULT '{}',
  chain_time_ms             bigint      NOT NULL,
  evaluated_at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain_id, job_id)
);
CREATE INDEX job_reconciliation_fleet ON job_reconciliation (chain_id, device_type, model_id);
CREATE TABLE reconciliation_flags (
  chain_id         text        NOT NULL,
  job_id           text        NOT NULL,
  flag             text        NOT NULL,
  detail           text        NOT NULL,
  raised_at        timestamptz NOT NULL DEFAULT now(),
  chain_time_ms    bigint      NOT NULL,
  PRIMARY KEY (chain_id, job_id, flag)
);
CREATE INDEX job_reconciliation_flagged ON job_reconciliation (chain_id, job_id) WHERE cardinality(flags) > 0;
CREATE TABLE reconciler_state (
  chain_id              text        PRIMARY KEY,
  last_sequence         bigint      NOT NULL,
  threshold_pct         numeric     NOT NULL,
  dispatch_timeout_ms   bigint      NOT NULL,
  updated_at            timestamptz NOT NULL DEFAULT now()
);
