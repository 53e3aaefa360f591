import type { SchemaMigration } from '../schema-runner.js';

/**
 * The PostgreSQL store's schema, as append-only migrations recorded in a ledger, with the same
 * ids and names as the SQLite store's so that a region's schema is one history whatever its
 * backend. Never edit one that has shipped: add the next.
 */
export const postgresMigrations: readonly SchemaMigration[] = [
  {
    id: 1,
    name: 'tenancies, keys, records, change log',
    sql: `
      CREATE TABLE tenancies (
        user_id text NOT NULL,
        service text NOT NULL,
        market text NOT NULL,
        epoch bigint NOT NULL,
        status text NOT NULL CHECK (status IN ('home', 'fenced', 'moved', 'incoming')),
        moved_to text,
        PRIMARY KEY (user_id, service)
      );
      CREATE INDEX tenancies_service ON tenancies (service);
      CREATE TABLE keys (
        user_id text NOT NULL,
        scope text NOT NULL,
        wrapped bytea NOT NULL,
        wrapped_by text NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (user_id, scope)
      );
      CREATE TABLE records (
        user_id text NOT NULL,
        service text NOT NULL,
        collection text NOT NULL,
        key text NOT NULL,
        version bigint NOT NULL,
        ciphertext bytea NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (user_id, service, collection, key)
      );
      -- On a sequence; appends are serialised (an advisory lock held to commit), so seq order
      -- is commit order and a reader that resumes after lastSeq never misses a change.
      CREATE TABLE changes (
        seq bigserial PRIMARY KEY,
        user_id text NOT NULL,
        service text NOT NULL,
        collection text NOT NULL,
        key text NOT NULL,
        op text NOT NULL CHECK (op IN ('put', 'delete')),
        version bigint NOT NULL,
        at bigint NOT NULL
      );
      CREATE INDEX changes_service ON changes (service, seq);
    `,
  },
  {
    id: 2,
    name: 'audit log: entries and signed checkpoints',
    sql: `
      CREATE TABLE audit_entries (
        seq bigint PRIMARY KEY,
        event_id text UNIQUE,
        type text NOT NULL,
        entry bytea NOT NULL,
        leaf_hash bytea NOT NULL
      );
      CREATE INDEX audit_entries_type ON audit_entries (type, seq);
      CREATE TABLE audit_checkpoints (
        size bigint PRIMARY KEY,
        root bytea NOT NULL,
        at bigint NOT NULL,
        signature bytea NOT NULL
      );
    `,
  },
  {
    id: 3,
    name: 'erased users',
    sql: `
      CREATE TABLE erased_users (
        user_id text PRIMARY KEY,
        at bigint NOT NULL
      );
    `,
  },
  {
    id: 4,
    name: 'change log by user',
    sql: `
      CREATE INDEX changes_user ON changes (user_id);
    `,
  },
  {
    id: 5,
    name: 'record keys sealed beside their keyed hash',
    sql: `
      -- See the SQLite store's migration 5: key holds the keyId, sealed_key the client's key sealed.
      ALTER TABLE records ADD COLUMN sealed_key bytea;
      ALTER TABLE changes ADD COLUMN sealed_key bytea;
    `,
  },
  {
    id: 6,
    name: 'change log without a region-wide lock',
    sql: `
      -- Writers no longer serialise on one lock held to commit, so seqs are taken in one order
      -- and committed in another. Every transaction that appends a change holds its users' locks
      -- (two-key advisory locks: this schema's key, the user's) from before it takes a seq to its
      -- end; change_log_end() reads the sequence's last value, then waits out the holders of the
      -- schema's user locks at that moment: every seq up to that value is then committed or
      -- aborted, and a reader that resumes after it misses nothing.
      CREATE FUNCTION user_lock_space() RETURNS int LANGUAGE sql STABLE AS
        $f$ SELECT hashtext(current_schema()) & 2147483647 $f$;

      CREATE FUNCTION change_log_end() RETURNS bigint LANGUAGE plpgsql AS $f$
      DECLARE
        last bigint;
        space int := user_lock_space();
        k int;
      BEGIN
        last := coalesce(pg_sequence_last_value(pg_get_serial_sequence('changes', 'seq')::regclass), 0);
        FOR k IN
          SELECT DISTINCT l.objid::bigint::int FROM pg_locks l
          WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted AND l.pid <> pg_backend_pid()
            AND l.classid = space::bigint::oid
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        LOOP
          -- Session-level, taken and given back at once: the reader never holds one while it
          -- waits for another, so it cannot close a cycle with writers that lock several users.
          PERFORM pg_advisory_lock_shared(space, k);
          PERFORM pg_advisory_unlock_shared(space, k);
        END LOOP;
        RETURN last;
      END $f$;

      -- A record's put or delete in one round trip: the user's lock, the tenancy (locked), the
      -- version checks, the upsert or delete and the change entry, as the store did them in
      -- separate statements. A refused write changes nothing and says why in 'outcome'; the
      -- store turns that into the same error as before.
      CREATE FUNCTION write_record(
        p_op text, p_user text, p_service text, p_collection text, p_key text, p_epoch bigint,
        p_ciphertext bytea, p_sealed_key bytea, p_if_version bigint,
        p_req_collection text, p_req_key text, p_req_version bigint, p_now bigint)
      RETURNS TABLE (outcome text, has_tenancy boolean, t_market text, t_epoch bigint, t_status text, t_moved_to text, found_version bigint, req_version bigint, new_version bigint, new_seq bigint)
      LANGUAGE plpgsql AS $f$
      #variable_conflict use_column
      DECLARE
        t tenancies%ROWTYPE;
        cur bigint;
        cur_sealed bytea;
        req bigint;
        s bigint;
      BEGIN
        PERFORM pg_advisory_xact_lock(user_lock_space(), hashtext(p_user) & 2147483647);
        SELECT * INTO t FROM tenancies WHERE tenancies.user_id = p_user AND tenancies.service = p_service FOR UPDATE;
        IF NOT FOUND OR t.status <> 'home' OR t.epoch <> p_epoch THEN
          RETURN QUERY SELECT 'tenancy'::text, t.user_id IS NOT NULL, t.market, t.epoch, t.status, t.moved_to, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
          RETURN;
        END IF;
        IF p_req_collection IS NOT NULL THEN
          SELECT r.version INTO req FROM records r WHERE r.user_id = p_user AND r.service = p_service AND r.collection = p_req_collection AND r.key = p_req_key FOR UPDATE;
          IF coalesce(req, 0) <> p_req_version THEN
            RETURN QUERY SELECT 'requires'::text, true, t.market, t.epoch, t.status, t.moved_to, NULL::bigint, coalesce(req, 0), NULL::bigint, NULL::bigint;
            RETURN;
          END IF;
        END IF;
        SELECT r.version, r.sealed_key INTO cur, cur_sealed FROM records r WHERE r.user_id = p_user AND r.service = p_service AND r.collection = p_collection AND r.key = p_key FOR UPDATE;
        cur := coalesce(cur, 0);
        IF p_if_version IS NOT NULL AND p_if_version <> cur THEN
          RETURN QUERY SELECT 'version'::text, true, t.market, t.epoch, t.status, t.moved_to, cur, NULL::bigint, NULL::bigint, NULL::bigint;
          RETURN;
        END IF;
        IF p_op = 'delete' THEN
          IF cur = 0 THEN
            RETURN QUERY SELECT 'absent'::text, true, t.market, t.epoch, t.status, t.moved_to, cur, NULL::bigint, NULL::bigint, NULL::bigint;
            RETURN;
          END IF;
          DELETE FROM records r WHERE r.user_id = p_user AND r.service = p_service AND r.collection = p_collection AND r.key = p_key;
          INSERT INTO changes (user_id, service, collection, key, op, version, at, sealed_key)
            VALUES (p_user, p_service, p_collection, p_key, 'delete', cur, p_now, cur_sealed) RETURNING changes.seq INTO s;
          RETURN QUERY SELECT 'ok'::text, true, t.market, t.epoch, t.status, t.moved_to, cur, NULL::bigint, cur, s;
          RETURN;
        END IF;
        INSERT INTO records AS r (user_id, service, collection, key, version, ciphertext, updated_at, sealed_key)
          VALUES (p_user, p_service, p_collection, p_key, cur + 1, p_ciphertext, p_now, p_sealed_key)
          ON CONFLICT (user_id, service, collection, key) DO UPDATE SET version = excluded.version, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at, sealed_key = excluded.sealed_key;
        INSERT INTO changes (user_id, service, collection, key, op, version, at, sealed_key)
          VALUES (p_user, p_service, p_collection, p_key, 'put', cur + 1, p_now, p_sealed_key) RETURNING changes.seq INTO s;
        RETURN QUERY SELECT 'ok'::text, true, t.market, t.epoch, t.status, t.moved_to, cur, NULL::bigint, cur + 1, s;
      END $f$;
    `,
  },
  {
    id: 7,
    name: 'writes of several users in one statement',
    sql: `
      -- Several records' puts and deletes in one statement and one commit (the store's group
      -- commit: writes that arrive while others are in flight share a round trip and a WAL
      -- flush). Each is write_record() as before, in the order of the users' locks (then of
      -- arrival), the order lockUsers() takes them in, so that a batch never closes a cycle
      -- with another batch or a tenancy change. Row n of the answer is the n-th write asked.
      CREATE FUNCTION write_records(
        p_op text[], p_user text[], p_service text[], p_collection text[], p_key text[], p_epoch bigint[],
        p_ciphertext bytea[], p_sealed_key bytea[], p_if_version bigint[],
        p_req_collection text[], p_req_key text[], p_req_version bigint[], p_now bigint[])
      RETURNS TABLE (n bigint, outcome text, has_tenancy boolean, t_market text, t_epoch bigint, t_status text, t_moved_to text, found_version bigint, req_version bigint, new_version bigint, new_seq bigint)
      LANGUAGE plpgsql AS $f$
      DECLARE
        a record;
      BEGIN
        FOR a IN
          SELECT * FROM unnest(p_op, p_user, p_service, p_collection, p_key, p_epoch, p_ciphertext, p_sealed_key,
                               p_if_version, p_req_collection, p_req_key, p_req_version, p_now) WITH ORDINALITY
            AS u(op, user_id, service, collection, key, epoch, ciphertext, sealed_key, if_version, req_collection, req_key, req_version, at, i)
          ORDER BY hashtext(u.user_id) & 2147483647, u.i
        LOOP
          RETURN QUERY SELECT a.i, w.* FROM write_record(a.op, a.user_id, a.service, a.collection, a.key, a.epoch, a.ciphertext,
            a.sealed_key, a.if_version, a.req_collection, a.req_key, a.req_version, a.at) AS w;
        END LOOP;
      END $f$;
    `,
  },
  {
    id: 8,
    name: 'key shreds heard by every node',
    sql: `
      -- Every node process of the region caches unwrapped keys; a key deleted (shredded) or
      -- replaced through one of them is announced in the deleting transaction itself, so the
      -- others hear it at its commit and never open a record with it again (see watchKeys()).
      -- The schema rides in the notice: channels are database-wide, regions may share a database.
      CREATE FUNCTION announce_key_shred() RETURNS trigger LANGUAGE plpgsql AS $f$
      BEGIN
        PERFORM pg_notify('domicile_key_shreds', json_build_array(TG_TABLE_SCHEMA, OLD.user_id, OLD.scope)::text);
        RETURN NULL;
      END $f$;
      CREATE TRIGGER keys_shredded AFTER DELETE OR UPDATE ON keys FOR EACH ROW EXECUTE FUNCTION announce_key_shred();
    `,
  },
  {
    id: 9,
    name: 'migration fencing tokens',
    sql: `
      -- Per migration, the newest coordinator's lead token this region has seen: a primitive
      -- with an older one comes from a deposed leader and is refused (see migration-fences.ts).
      CREATE TABLE migration_fences (
        migration_id text PRIMARY KEY,
        token bigint NOT NULL
      );
    `,
  },
];
