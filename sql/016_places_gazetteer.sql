-- The centre's own places (landmarks callers name) and the trigram index the
-- gazetteer searches them with. Desa and kecamatan names come from the shipped
-- Kemendagri data and are searched with the same pg_trgm functions.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE places (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 120),
    aliases        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(aliases) <= 20),
    kind           text NOT NULL CHECK (kind IN (
                       'masjid', 'gereja', 'pura', 'vihara', 'sekolah', 'pasar', 'puskesmas',
                       'rumah_sakit', 'jembatan', 'spbu', 'makam', 'pabrik', 'kantor',
                       'terminal', 'stasiun', 'wisata', 'lainnya')),
    lat            double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon            double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    -- Found from the point when it is saved (point-in-polygon on the shipped shapes).
    jurisdiction   text NOT NULL CHECK (jurisdiction IN ('regency', 'kota_blitar')),
    kecamatan_code text,
    kecamatan      text,
    desa_code      text,
    desa           text,
    estimate       boolean NOT NULL DEFAULT false,
    note           text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    -- Name and aliases folded the way the gazetteer folds a query (old spellings,
    -- case, "desa"/"ds." prefixes), one per line.
    search_text    text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by     text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_by     text NOT NULL,
    retired_at     timestamptz,
    retired_by     text,
    CHECK ((retired_at IS NULL) = (retired_by IS NULL))
);
CREATE INDEX places_search ON places USING gin (search_text gin_trgm_ops)
    WHERE retired_at IS NULL;
