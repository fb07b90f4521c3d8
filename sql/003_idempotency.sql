-- Idempotent intake: a call-taker's console that retries POST /api/v1/incidents
-- after a timeout sends the same Idempotency-Key; the first answer is stored here
-- in the same transaction as the incident, so the retry gets it back instead of
-- creating a second incident. Rows older than http.idempotency_ttl_s are ignored
-- and purged.
CREATE TABLE idempotency_keys (
    key           text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    fingerprint   text NOT NULL,
    incident_id   bigint NOT NULL REFERENCES incidents (id),
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
