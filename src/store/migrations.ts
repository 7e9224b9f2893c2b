/**
 * The store's schema as an ordered list of migrations. `PRAGMA user_version` records the last
 * one applied; opening a store applies the missing ones in one transaction, so a CLI of a newer
 * version can read a store written by an older proxy (and upgrades it).
 */

export interface Migration {
  version: number
  description: string
  sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'exchanges, per-minute rollups, sessions, clients, schema snapshots and changes',
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE proxies (
  name TEXT PRIMARY KEY,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  dropped_events INTEGER NOT NULL DEFAULT 0
);

-- One row per JSON-RPC message or non-MCP HTTP exchange.
CREATE TABLE exchanges (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  proxy TEXT NOT NULL,
  session_id TEXT,
  client_name TEXT,
  platform TEXT,
  era TEXT NOT NULL,
  transport TEXT NOT NULL,
  kind TEXT NOT NULL,
  method TEXT NOT NULL,
  target_kind TEXT,
  name TEXT,
  jsonrpc_id TEXT,
  status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
  outcome TEXT NOT NULL,
  error_code INTEGER,
  error_message TEXT,
  reason TEXT,
  http_status INTEGER NOT NULL,
  latency_us INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL
);
CREATE INDEX exchanges_by_time ON exchanges (ts);
CREATE INDEX exchanges_by_proxy ON exchanges (proxy, ts);
CREATE INDEX exchanges_by_session ON exchanges (session_id, ts) WHERE session_id IS NOT NULL;
CREATE INDEX exchanges_by_target ON exchanges (target_kind, name, ts) WHERE name IS NOT NULL;
CREATE INDEX exchanges_by_latency ON exchanges (latency_us) WHERE kind = 'request';

-- Pre-aggregated per minute and per (method, target), so status over millions of rows stays
-- fast; the latency histogram keeps percentiles within 1% (see histogram.ts).
CREATE TABLE rollup_minute (
  proxy TEXT NOT NULL,
  minute INTEGER NOT NULL,
  method TEXT NOT NULL,
  target_kind TEXT NOT NULL,
  name TEXT NOT NULL,
  calls INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  sum_us INTEGER NOT NULL,
  min_us INTEGER NOT NULL,
  max_us INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  hist TEXT NOT NULL,
  PRIMARY KEY (proxy, minute, method, target_kind, name)
) WITHOUT ROWID;
CREATE INDEX rollup_by_minute ON rollup_minute (minute);

CREATE TABLE sessions (
  proxy TEXT NOT NULL,
  session_id TEXT NOT NULL,
  -- Set for sessions Portico groups itself (stateless requests): the client identity key.
  group_key TEXT,
  era TEXT NOT NULL,
  client_name TEXT,
  client_version TEXT,
  platform TEXT,
  user_agent TEXT,
  protocol_version TEXT,
  started_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  ended_at INTEGER,
  calls INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (proxy, session_id)
);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_by_group ON sessions (proxy, group_key, last_seen_at) WHERE group_key IS NOT NULL;

CREATE TABLE clients (
  proxy TEXT NOT NULL,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  platform TEXT NOT NULL,
  user_agent TEXT,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (proxy, name, version)
);

-- The latest captured answer of each schema method, per proxy.
CREATE TABLE schema_snapshots (
  proxy TEXT NOT NULL,
  method TEXT NOT NULL,
  captured_at INTEGER NOT NULL,
  hash TEXT NOT NULL,
  payload TEXT NOT NULL,
  stale INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (proxy, method)
);

CREATE TABLE schema_changes (
  id INTEGER PRIMARY KEY,
  proxy TEXT NOT NULL,
  detected_at INTEGER NOT NULL,
  method TEXT NOT NULL,
  change TEXT NOT NULL,
  item TEXT,
  detail TEXT
);
CREATE INDEX schema_changes_by_time ON schema_changes (proxy, detected_at);
`,
  },
]

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0
