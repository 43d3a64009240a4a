import GRDB

/// The schema, as an append-only list of migrations. Never edit a shipped migration: add one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("0001_initial") { db in
            try db.execute(sql: """
                CREATE TABLE accounts (
                    user_id TEXT PRIMARY KEY NOT NULL,
                    password_hash TEXT,
                    is_admin INTEGER NOT NULL DEFAULT 0,
                    is_guest INTEGER NOT NULL DEFAULT 0,
                    is_deactivated INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL,
                    display_name TEXT,
                    avatar_url TEXT
                );
                CREATE TABLE devices (
                    user_id TEXT NOT NULL,
                    device_id TEXT NOT NULL,
                    display_name TEXT,
                    last_seen_at INTEGER,
                    last_seen_ip TEXT,
                    PRIMARY KEY (user_id, device_id)
                );
                CREATE TABLE sessions (
                    access_token_digest BLOB PRIMARY KEY NOT NULL,
                    refresh_token_digest BLOB UNIQUE,
                    user_id TEXT NOT NULL,
                    device_id TEXT NOT NULL,
                    expires_at INTEGER
                );
                CREATE INDEX sessions_by_device ON sessions(user_id, device_id);
                CREATE TABLE registration_tokens (
                    token TEXT PRIMARY KEY NOT NULL,
                    uses_allowed INTEGER,
                    uses INTEGER NOT NULL DEFAULT 0,
                    expires_at INTEGER
                );

                CREATE TABLE stream_counter (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL);
                INSERT INTO stream_counter (id, position) VALUES (1, 0);

                CREATE TABLE rooms (
                    room_id TEXT PRIMARY KEY NOT NULL,
                    version TEXT NOT NULL,
                    creator TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    is_public INTEGER NOT NULL DEFAULT 0,
                    current_state_group INTEGER,
                    forward_extremities TEXT NOT NULL DEFAULT '[]'
                );
                -- Every event's original JSON; `stream` orders /sync, (depth, stream) orders /messages.
                CREATE TABLE events (
                    stream INTEGER PRIMARY KEY NOT NULL,
                    event_id TEXT NOT NULL UNIQUE,
                    room_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    state_key TEXT,
                    sender TEXT NOT NULL,
                    depth INTEGER NOT NULL,
                    origin_server_ts INTEGER NOT NULL,
                    json TEXT NOT NULL,
                    state_group_before INTEGER,
                    state_group_after INTEGER,
                    rejection_reason TEXT,
                    soft_failed INTEGER NOT NULL DEFAULT 0,
                    redacted_by TEXT,
                    txn_id TEXT,
                    device_id TEXT
                );
                CREATE INDEX events_by_room_stream ON events(room_id, stream);
                CREATE INDEX events_by_room_topology ON events(room_id, depth, stream);
                CREATE TABLE event_edges (
                    event_id TEXT NOT NULL,
                    prev_event_id TEXT NOT NULL,
                    PRIMARY KEY (event_id, prev_event_id)
                );
                CREATE INDEX event_edges_by_prev ON event_edges(prev_event_id);
                CREATE TABLE event_auth_edges (
                    event_id TEXT NOT NULL,
                    auth_event_id TEXT NOT NULL,
                    PRIMARY KEY (event_id, auth_event_id)
                );
                -- State snapshots: a group is its parent plus its own entries (child wins).
                CREATE TABLE state_groups (
                    id INTEGER PRIMARY KEY NOT NULL,
                    room_id TEXT NOT NULL,
                    parent INTEGER,
                    chain_length INTEGER NOT NULL
                );
                CREATE TABLE state_group_entries (
                    state_group INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    state_key TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    PRIMARY KEY (state_group, type, state_key)
                );
                CREATE TABLE client_transactions (
                    user_id TEXT NOT NULL,
                    device_id TEXT NOT NULL,
                    txn_id TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    PRIMARY KEY (user_id, device_id, txn_id)
                );
                CREATE TABLE memberships (
                    room_id TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    membership TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    stream INTEGER NOT NULL,
                    forgotten INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (room_id, user_id)
                );
                CREATE INDEX memberships_by_user ON memberships(user_id);
                CREATE TABLE room_aliases (
                    alias TEXT PRIMARY KEY NOT NULL,
                    room_id TEXT NOT NULL,
                    creator TEXT NOT NULL
                );
                CREATE INDEX room_aliases_by_room ON room_aliases(room_id);

                CREATE TABLE account_data (
                    user_id TEXT NOT NULL,
                    room_id TEXT NOT NULL DEFAULT '',
                    type TEXT NOT NULL,
                    content TEXT NOT NULL,
                    stream INTEGER NOT NULL,
                    PRIMARY KEY (user_id, room_id, type)
                );
                CREATE INDEX account_data_by_stream ON account_data(user_id, stream);
                CREATE TABLE receipts (
                    room_id TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    thread_id TEXT NOT NULL DEFAULT '',
                    event_id TEXT NOT NULL,
                    ts INTEGER NOT NULL,
                    stream INTEGER NOT NULL,
                    PRIMARY KEY (room_id, user_id, type, thread_id)
                );
                CREATE INDEX receipts_by_stream ON receipts(room_id, stream);
                CREATE TABLE filters (
                    user_id TEXT NOT NULL,
                    filter_id INTEGER NOT NULL,
                    json TEXT NOT NULL,
                    PRIMARY KEY (user_id, filter_id)
                );
                CREATE TABLE reports (
                    id INTEGER PRIMARY KEY,
                    reporter TEXT NOT NULL,
                    room_id TEXT,
                    event_id TEXT,
                    user_id TEXT,
                    reason TEXT,
                    score INTEGER,
                    created_at INTEGER NOT NULL,
                    resolved_at INTEGER
                );
                CREATE TABLE media (
                    media_id TEXT PRIMARY KEY NOT NULL,
                    uploader TEXT,
                    content_type TEXT NOT NULL,
                    file_name TEXT,
                    size INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    sha256 TEXT NOT NULL
                );
                CREATE INDEX media_by_digest ON media(sha256);
                """)
        }
        migrator.registerMigration("0002_end_to_end_encryption") { db in
            try db.execute(sql: """
                CREATE TABLE device_keys (
                    user_id TEXT NOT NULL,
                    device_id TEXT NOT NULL,
                    key_json TEXT NOT NULL,
                    PRIMARY KEY (user_id, device_id)
                );
                CREATE TABLE one_time_keys (
                    user_id TEXT NOT NULL,
                    device_id TEXT NOT NULL,
                    algorithm TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    key_json TEXT NOT NULL,
                    PRIMARY KEY (user_id, device_id, algorithm, key_id)
                );
                CREATE TABLE fallback_keys (
                    user_id TEXT NOT NULL,
                    device_id TEXT NOT NULL,
                    algorithm TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    key_json TEXT NOT NULL,
                    used INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (user_id, device_id, algorithm)
                );
                CREATE TABLE cross_signing_keys (
                    user_id TEXT NOT NULL,
                    key_type TEXT NOT NULL,
                    key_json TEXT NOT NULL,
                    PRIMARY KEY (user_id, key_type)
                );
                CREATE TABLE device_list_changes (
                    stream INTEGER PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL
                );
                CREATE TABLE to_device_messages (
                    stream INTEGER PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL,
                    device_id TEXT NOT NULL,
                    sender TEXT NOT NULL,
                    type TEXT NOT NULL,
                    content TEXT NOT NULL
                );
                CREATE INDEX to_device_by_device ON to_device_messages(user_id, device_id, stream);
                CREATE TABLE to_device_transactions (
                    sender TEXT NOT NULL,
                    sender_device TEXT NOT NULL,
                    txn_id TEXT NOT NULL,
                    PRIMARY KEY (sender, sender_device, txn_id)
                );
                CREATE TABLE backup_versions (
                    user_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    algorithm TEXT NOT NULL,
                    auth_data TEXT NOT NULL,
                    etag INTEGER NOT NULL DEFAULT 0,
                    deleted INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (user_id, version)
                );
                CREATE TABLE backup_keys (
                    user_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    room_id TEXT NOT NULL,
                    session_id TEXT NOT NULL,
                    key_json TEXT NOT NULL,
                    PRIMARY KEY (user_id, version, room_id, session_id)
                );
                """)
        }
        registerFederationTransportMigrations(&migrator)
        // Relations (`content.m.relates_to`) of every event, for /relations, /threads and the
        // aggregations bundled in `unsigned.m.relations`. Existing events are indexed here.
        // Events by timestamp, for /timestamp_to_event.
        migrator.registerMigration("0002_event_relations") { db in
            try db.execute(sql: """
                CREATE INDEX events_by_room_timestamp ON events(room_id, origin_server_ts);
                CREATE TABLE event_relations (
                    event_id TEXT PRIMARY KEY NOT NULL,
                    room_id TEXT NOT NULL,
                    relates_to TEXT NOT NULL,
                    rel_type TEXT NOT NULL,
                    stream INTEGER NOT NULL
                );
                CREATE INDEX event_relations_by_parent ON event_relations(relates_to, rel_type, stream);
                CREATE INDEX event_relations_by_room ON event_relations(room_id, rel_type, stream);
                INSERT OR IGNORE INTO event_relations (event_id, room_id, relates_to, rel_type, stream)
                  SELECT event_id, room_id, json_extract(json, '$.content."m.relates_to".event_id'),
                         json_extract(json, '$.content."m.relates_to".rel_type'), stream
                  FROM events
                  WHERE redacted_by IS NULL
                    AND json_type(json, '$.content."m.relates_to".event_id') = 'text'
                    AND json_type(json, '$.content."m.relates_to".rel_type') = 'text';
                """)
        }
        migrator.registerMigration("0003_federation_rooms") { db in
            try db.execute(sql: """
                -- Outliers: events known for their own sake (auth chains, state from a join, remote
                -- invites) without a place in the timeline or a computed state.
                ALTER TABLE events ADD COLUMN outlier INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX events_by_room_type_key ON events(room_id, type, state_key);
                CREATE INDEX event_auth_edges_by_auth ON event_auth_edges(auth_event_id);
                -- Responses to inbound /send transactions, so a retried transaction is answered
                -- without being processed twice.
                CREATE TABLE federation_inbound_transactions (
                    origin TEXT NOT NULL,
                    txn_id TEXT NOT NULL,
                    response TEXT NOT NULL,
                    received_at INTEGER NOT NULL,
                    PRIMARY KEY (origin, txn_id)
                );
                """)
        }
        // Extended profile fields (`m.tz`, custom keys); display name and avatar stay on accounts.
        migrator.registerMigration("0004_profile_fields") { db in
            try db.execute(sql: """
                CREATE TABLE profile_fields (
                    user_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                    PRIMARY KEY (user_id, key)
                );
                """)
        }
        registerPolicyMigrations(&migrator)
        // The edge tables are looked up by their key alone: stored as their primary-key index
        // (WITHOUT ROWID), each edge is one b-tree entry instead of a row plus an index entry.
        // Nothing looks edges up by their target, so those indexes only cost writes.
        migrator.registerMigration("0011_compact_event_edges") { db in
            try db.execute(sql: """
                CREATE TABLE event_edges_compact (
                    event_id TEXT NOT NULL,
                    prev_event_id TEXT NOT NULL,
                    PRIMARY KEY (event_id, prev_event_id)
                ) WITHOUT ROWID;
                INSERT INTO event_edges_compact SELECT event_id, prev_event_id FROM event_edges;
                DROP TABLE event_edges;
                ALTER TABLE event_edges_compact RENAME TO event_edges;
                CREATE TABLE event_auth_edges_compact (
                    event_id TEXT NOT NULL,
                    auth_event_id TEXT NOT NULL,
                    PRIMARY KEY (event_id, auth_event_id)
                ) WITHOUT ROWID;
                INSERT INTO event_auth_edges_compact SELECT event_id, auth_event_id FROM event_auth_edges;
                DROP TABLE event_auth_edges;
                ALTER TABLE event_auth_edges_compact RENAME TO event_auth_edges;
                """)
        }
        // The 0005 and 0006 triggers on `events` cost every insert about 12 µs (measured), even
        // when their WHEN clause is false: `SQLiteRoomStore.indexContent` does their work for
        // the events that need it.
        migrator.registerMigration("0012_event_triggers_in_code") { db in
            try db.execute(sql: """
                DROP TRIGGER events_media_refs;
                DROP TRIGGER events_expiry;
                """)
        }
        // A join through another server writes thousands of memberships and a snapshot of
        // thousands of entries at once. Member events keep their membership in a column, so
        // refreshing a room's memberships reads no event JSON; and both tables are stored as
        // their primary-key index (WITHOUT ROWID): one b-tree entry per row instead of two.
        migrator.registerMigration("0013_membership_column") { db in
            try db.execute(sql: """
                ALTER TABLE events ADD COLUMN membership TEXT;
                UPDATE events SET membership = json_extract(json, '$.content.membership')
                  WHERE type = 'm.room.member' AND state_key IS NOT NULL
                    AND json_type(json, '$.content.membership') = 'text';
                CREATE TABLE memberships_compact (
                    room_id TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    membership TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    stream INTEGER NOT NULL,
                    forgotten INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (room_id, user_id)
                ) WITHOUT ROWID;
                INSERT INTO memberships_compact (room_id, user_id, membership, event_id, stream, forgotten)
                  SELECT room_id, user_id, membership, event_id, stream, forgotten FROM memberships;
                DROP TABLE memberships;
                ALTER TABLE memberships_compact RENAME TO memberships;
                CREATE INDEX memberships_by_user ON memberships(user_id);
                CREATE TABLE state_group_entries_compact (
                    state_group INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    state_key TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    PRIMARY KEY (state_group, type, state_key)
                ) WITHOUT ROWID;
                INSERT INTO state_group_entries_compact (state_group, type, state_key, event_id)
                  SELECT state_group, type, state_key, event_id FROM state_group_entries;
                DROP TABLE state_group_entries;
                ALTER TABLE state_group_entries_compact RENAME TO state_group_entries;
                """)
        }
        return migrator
    }
}
