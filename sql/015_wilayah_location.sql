-- Real boundaries (Kemendagri, dispatch/data/wilayah): every incident and call
-- records its desa as well as its kecamatan, Kota Blitar's own kecamatan and
-- kelurahan included, the area that takes it over when it is not ours, and
-- where its position came from with how uncertain it is.

ALTER TABLE incidents DROP CONSTRAINT IF EXISTS incidents_kecamatan_code_check;
ALTER TABLE incidents
    ADD CONSTRAINT incidents_kecamatan_code_check
        CHECK (kecamatan_code ~ '^35\.(05|72)\.[0-9]{2}$'),
    ADD COLUMN desa_code text CHECK (desa_code ~ '^35\.(05|72)\.[0-9]{2}\.[12][0-9]{3}$'),
    ADD COLUMN desa text CHECK (length(desa) <= 60),
    ADD CHECK ((desa_code IS NULL) = (desa IS NULL)),
    ADD CHECK (desa_code IS NULL OR starts_with(desa_code, kecamatan_code || '.')),
    -- Kemendagri code of the kabupaten/kota that takes the incident over (35.72 Kota
    -- Blitar, 35.04 Tulungagung, ...); NULL when it is ours or in no shipped area.
    ADD COLUMN handover_to text CHECK (handover_to ~ '^[0-9]{2}\.[0-9]{2}$'),
    ADD COLUMN location_source text CHECK (location_source IN (
        'desa', 'kecamatan', 'place', 'operator', 'aml', 'caller_link')),
    ADD COLUMN radius_m double precision CHECK (radius_m >= 0 AND radius_m <= 100000),
    ADD CHECK (lat IS NOT NULL OR (location_source IS NULL AND radius_m IS NULL));

UPDATE incidents SET location_source = 'operator' WHERE lat IS NOT NULL;

ALTER TABLE calls DROP CONSTRAINT IF EXISTS calls_location_source_check;
ALTER TABLE calls
    ADD CONSTRAINT calls_location_source_check CHECK (location_source IN (
        'desa', 'kecamatan', 'place', 'operator', 'aml', 'caller_link')),
    ADD COLUMN jurisdiction text CHECK (jurisdiction IN (
        'regency', 'kota_blitar', 'outside_regency')),
    ADD COLUMN kecamatan text CHECK (length(kecamatan) <= 60),
    ADD COLUMN desa_code text,
    ADD COLUMN desa text CHECK (length(desa) <= 60),
    -- The uncertainty of the call's position under the name incidents use for it.
    ADD COLUMN radius_m double precision GENERATED ALWAYS AS (accuracy_m) STORED;
