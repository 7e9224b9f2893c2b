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
CREATE INDEX exchanges_by_session ON exchanges (session_id, ts) WHERE session_id IS NOT NULL;
-- Few indexes on purpose: each one costs every insert. Reports filter the time window
-- (exchanges_by_time) or one session; tool and latency filters run within that window.

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
  {
    version: 2,
    description: 'exchanges stored with interned strings (a third of the writer CPU per row)',
    // Binding and storing ten text values per row was most of the writer's cost. Repeated text
    // (proxy, client, method, tool name, outcome…) now lives once in `strings`, which is
    // append-only so a writer may cache ids for as long as it runs; rows hold the ids. The
    // `exchanges` view shows the same columns as before, so reports and ad-hoc SQL read it
    // unchanged; writes and deletes go to `exchange_rows`.
    sql: `
CREATE TABLE strings (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
INSERT OR IGNORE INTO strings (value)
  SELECT proxy FROM exchanges UNION SELECT client_name FROM exchanges
  UNION SELECT platform FROM exchanges UNION SELECT era FROM exchanges
  UNION SELECT transport FROM exchanges UNION SELECT kind FROM exchanges
  UNION SELECT method FROM exchanges UNION SELECT target_kind FROM exchanges
  UNION SELECT name FROM exchanges UNION SELECT outcome FROM exchanges
  UNION SELECT reason FROM exchanges;
DELETE FROM strings WHERE value IS NULL;

CREATE TABLE exchange_rows (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  proxy INTEGER NOT NULL,
  session_id TEXT,
  client_name INTEGER,
  platform INTEGER,
  era INTEGER NOT NULL,
  transport INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  method INTEGER NOT NULL,
  target_kind INTEGER,
  name INTEGER,
  jsonrpc_id TEXT,
  outcome INTEGER NOT NULL,
  error_code INTEGER,
  error_message TEXT,
  reason INTEGER,
  http_status INTEGER NOT NULL,
  latency_us INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL
);
INSERT INTO exchange_rows
  SELECT e.id, e.ts, ${interned('proxy')}, e.session_id, ${interned('client_name')},
    ${interned('platform')}, ${interned('era')}, ${interned('transport')}, ${interned('kind')},
    ${interned('method')}, ${interned('target_kind')}, ${interned('name')}, e.jsonrpc_id,
    ${interned('outcome')}, e.error_code, e.error_message, ${interned('reason')}, e.http_status,
    e.latency_us, e.bytes_in, e.bytes_out
  FROM exchanges e;
DROP TABLE exchanges;
-- The time index only. A session index cost a quarter of the writer's time per row; session
-- filters find their sessions' start in the sessions table and walk the time index from there.
CREATE INDEX exchange_rows_by_time ON exchange_rows (ts);

-- Joins on strings' primary key whose columns a query does not use are left out by SQLite,
-- so counting rows in a window never touches strings.
CREATE VIEW exchanges AS
SELECT e.id, e.ts, proxy.value AS proxy, e.session_id, client_name.value AS client_name,
  platform.value AS platform, era.value AS era, transport.value AS transport, kind.value AS kind,
  method.value AS method, target_kind.value AS target_kind, name.value AS name, e.jsonrpc_id,
  CASE outcome.value WHEN 'ok' THEN 'ok' WHEN 'cancelled' THEN 'cancelled' ELSE 'error' END
    AS status,
  outcome.value AS outcome, e.error_code, e.error_message, reason.value AS reason,
  e.http_status, e.latency_us, e.bytes_in, e.bytes_out
FROM exchange_rows e
  LEFT JOIN strings proxy ON proxy.id = e.proxy
  LEFT JOIN strings client_name ON client_name.id = e.client_name
  LEFT JOIN strings platform ON platform.id = e.platform
  LEFT JOIN strings era ON era.id = e.era
  LEFT JOIN strings transport ON transport.id = e.transport
  LEFT JOIN strings kind ON kind.id = e.kind
  LEFT JOIN strings method ON method.id = e.method
  LEFT JOIN strings target_kind ON target_kind.id = e.target_kind
  LEFT JOIN strings name ON name.id = e.name
  LEFT JOIN strings outcome ON outcome.id = e.outcome
  LEFT JOIN strings reason ON reason.id = e.reason;
`,
  },
  {
    version: 3,
    description: 'who called: the verified subject and OAuth client of each exchange',
    // Interned like the other repeated text; never a token (the recorder has none to give).
    sql: `
ALTER TABLE exchange_rows ADD COLUMN subject INTEGER;
ALTER TABLE exchange_rows ADD COLUMN auth_client INTEGER;
DROP VIEW exchanges;
CREATE VIEW exchanges AS
SELECT e.id, e.ts, proxy.value AS proxy, e.session_id, client_name.value AS client_name,
  platform.value AS platform, era.value AS era, transport.value AS transport, kind.value AS kind,
  method.value AS method, target_kind.value AS target_kind, name.value AS name, e.jsonrpc_id,
  CASE outcome.value WHEN 'ok' THEN 'ok' WHEN 'cancelled' THEN 'cancelled' ELSE 'error' END
    AS status,
  outcome.value AS outcome, e.error_code, e.error_message, reason.value AS reason,
  e.http_status, e.latency_us, e.bytes_in, e.bytes_out, subject.value AS subject,
  auth_client.value AS auth_client
FROM exchange_rows e
  LEFT JOIN strings proxy ON proxy.id = e.proxy
  LEFT JOIN strings client_name ON client_name.id = e.client_name
  LEFT JOIN strings platform ON platform.id = e.platform
  LEFT JOIN strings era ON era.id = e.era
  LEFT JOIN strings transport ON transport.id = e.transport
  LEFT JOIN strings kind ON kind.id = e.kind
  LEFT JOIN strings method ON method.id = e.method
  LEFT JOIN strings target_kind ON target_kind.id = e.target_kind
  LEFT JOIN strings name ON name.id = e.name
  LEFT JOIN strings outcome ON outcome.id = e.outcome
  LEFT JOIN strings reason ON reason.id = e.reason
  LEFT JOIN strings subject ON subject.id = e.subject
  LEFT JOIN strings auth_client ON auth_client.id = e.auth_client;
`,
  },
  {
    version: 4,
    description: 'how a request came in: `tunnel` through a relay, NULL for local traffic',
    sql: `
ALTER TABLE exchange_rows ADD COLUMN via INTEGER;
DROP VIEW exchanges;
CREATE VIEW exchanges AS
SELECT e.id, e.ts, proxy.value AS proxy, e.session_id, client_name.value AS client_name,
  platform.value AS platform, era.value AS era, transport.value AS transport, kind.value AS kind,
  method.value AS method, target_kind.value AS target_kind, name.value AS name, e.jsonrpc_id,
  CASE outcome.value WHEN 'ok' THEN 'ok' WHEN 'cancelled' THEN 'cancelled' ELSE 'error' END
    AS status,
  outcome.value AS outcome, e.error_code, e.error_message, reason.value AS reason,
  e.http_status, e.latency_us, e.bytes_in, e.bytes_out, subject.value AS subject,
  auth_client.value AS auth_client, via.value AS via
FROM exchange_rows e
  LEFT JOIN strings proxy ON proxy.id = e.proxy
  LEFT JOIN strings client_name ON client_name.id = e.client_name
  LEFT JOIN strings platform ON platform.id = e.platform
  LEFT JOIN strings era ON era.id = e.era
  LEFT JOIN strings transport ON transport.id = e.transport
  LEFT JOIN strings kind ON kind.id = e.kind
  LEFT JOIN strings method ON method.id = e.method
  LEFT JOIN strings target_kind ON target_kind.id = e.target_kind
  LEFT JOIN strings name ON name.id = e.name
  LEFT JOIN strings outcome ON outcome.id = e.outcome
  LEFT JOIN strings reason ON reason.id = e.reason
  LEFT JOIN strings subject ON subject.id = e.subject
  LEFT JOIN strings auth_client ON auth_client.id = e.auth_client
  LEFT JOIN strings via ON via.id = e.via;
`,
  },
]

/** The id of the interned text of column `column` of the old `exchanges` row `e`. */
function interned(column: string): string {
  return `(SELECT id FROM strings WHERE value = e.${column})`
}

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0
