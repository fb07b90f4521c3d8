-- Issue 3: the call log (every contact, not only emergencies), AML caller
-- locations (kept raw, the malformed ones too, for audit), and the
-- jurisdiction and kecamatan of each incident.

-- Where an incident is: our regency, the Kota Blitar enclave (its own 112
-- centre) or outside the regency. NULL while the incident has no position.
-- An incident that is not ours waits with queue_reason 'handover_<jurisdiction>'
-- and the dispatcher leaves it alone.
ALTER TABLE incidents
    ADD COLUMN jurisdiction text CHECK (jurisdiction IN (
        'regency', 'kota_blitar', 'outside_regency')),
    ADD COLUMN kecamatan_code text CHECK (kecamatan_code ~ '^35\.05\.[0-9]{2}$'),
    ADD COLUMN kecamatan text CHECK (length(kecamatan) <= 60),
    ADD CHECK ((kecamatan_code IS NULL) = (kecamatan IS NULL)),
    ADD CHECK (jurisdiction IS NULL OR lat IS NOT NULL);

CREATE TABLE calls (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    caller_phone    text NOT NULL CHECK (caller_phone ~ '^\+?[0-9]{3,15}$'),
    -- The number in one comparable form (+62 812… = 0812…), for matching AML
    -- messages and counting a number's prank calls.
    phone_key       text NOT NULL CHECK (phone_key ~ '^[0-9]{1,16}$'),
    disposition     text NOT NULL CHECK (disposition IN (
                        'emergency', 'duplicate', 'information', 'prank', 'ghost',
                        'wrong_number', 'handover', 'test')),
    incident_id     bigint REFERENCES incidents (id),
    handover_to     text CHECK (length(handover_to) BETWEEN 1 AND 120),
    rang_at         timestamptz,
    answered_at     timestamptz,
    logged_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    logged_by       text NOT NULL,
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    lat             double precision CHECK (lat BETWEEN -90 AND 90),
    lon             double precision CHECK (lon BETWEEN -180 AND 180),
    accuracy_m      double precision CHECK (accuracy_m >= 0),
    location_source text CHECK (location_source IN ('operator', 'aml')),
    kecamatan_code  text,
    repeat_caller   boolean NOT NULL DEFAULT false,
    CHECK ((disposition IN ('emergency', 'duplicate')) = (incident_id IS NOT NULL)),
    CHECK ((disposition = 'handover') = (handover_to IS NOT NULL)),
    CHECK (answered_at IS NULL OR rang_at IS NULL OR answered_at >= rang_at),
    CHECK ((lat IS NULL) = (lon IS NULL)),
    CHECK ((lat IS NULL) = (location_source IS NULL))
);
CREATE INDEX calls_by_phone ON calls (phone_key, logged_at);
CREATE INDEX calls_logged ON calls (logged_at);
CREATE INDEX calls_by_incident ON calls (incident_id) WHERE incident_id IS NOT NULL;

-- Every AML message as received. 'held' waits for its call to be logged,
-- 'attached' belongs to a call, 'rejected' could not be read (error_* say why).
-- IMSI and IMEI are personal data: stored for the audit trail, never listed.
CREATE TABLE aml_messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    transport       text NOT NULL CHECK (transport IN ('sms', 'https')),
    raw             text NOT NULL CHECK (length(raw) <= 8000),
    caller_phone    text CHECK (length(caller_phone) <= 40),
    phone_key       text,
    status          text NOT NULL CHECK (status IN ('held', 'attached', 'rejected')),
    error_code      text,
    error_message   text,
    call_id         bigint REFERENCES calls (id),
    method          text CHECK (method IN ('G', 'W', 'C', 'N', 'U')),
    lat             double precision CHECK (lat BETWEEN -90 AND 90),
    lon             double precision CHECK (lon BETWEEN -180 AND 180),
    radius_m        double precision CHECK (radius_m >= 0),
    positioned_at   timestamptz,
    confidence      smallint CHECK (confidence BETWEEN 0 AND 100),
    imsi            text,
    imei            text,
    mcc             text,
    mnc             text,
    CHECK ((status = 'attached') = (call_id IS NOT NULL)),
    CHECK ((status = 'rejected') = (error_code IS NOT NULL)),
    CHECK (status = 'rejected' OR (phone_key IS NOT NULL AND positioned_at IS NOT NULL)),
    CHECK ((lat IS NULL) = (lon IS NULL))
);
CREATE INDEX aml_held ON aml_messages (phone_key, received_at) WHERE status = 'held';
CREATE INDEX aml_by_call ON aml_messages (call_id, id) WHERE call_id IS NOT NULL;
