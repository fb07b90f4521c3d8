"""Caller location links and the positions callers share through them (sql/017)."""

from __future__ import annotations

import hashlib
import secrets

LINK_COLUMNS = """
l.id, l.call_id, l.incident_id, l.created_at, l.created_by, l.expires_at, l.revoked_at,
l.max_fixes, l.fixes, l.last_fix_at, l.sms_status, l.sms_error
"""
FIX_COLUMNS = """
f.id, f.link_id, f.call_id, f.incident_id, f.received_at, f.positioned_at, f.lat, f.lon,
f.accuracy_m
"""

REVOKE_LIVE_SQL = """
UPDATE location_links SET revoked_at = clock_timestamp()
WHERE call_id = $1 AND revoked_at IS NULL
"""

INSERT_LINK_SQL = f"""
INSERT INTO location_links AS l (call_id, incident_id, token_hash, created_by, expires_at,
                                 max_fixes, caller_phone, sms_status)
VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5), $6, $7, $8)
RETURNING {LINK_COLUMNS}
"""

LINK_BY_TOKEN_SQL = f"""
SELECT {LINK_COLUMNS}, l.expires_at <= clock_timestamp() AS expired
FROM location_links l WHERE l.token_hash = $1
"""
LOCK_LINK_BY_TOKEN_SQL = LINK_BY_TOKEN_SQL + " FOR UPDATE"

SET_SMS_SQL = f"""
UPDATE location_links AS l SET sms_status = $2, sms_error = $3 WHERE l.id = $1
RETURNING {LINK_COLUMNS}
"""

INSERT_FIX_SQL = f"""
INSERT INTO location_fixes AS f (link_id, call_id, incident_id, positioned_at, lat, lon,
                                 accuracy_m)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING {FIX_COLUMNS}
"""

COUNT_FIX_SQL = """
UPDATE location_links SET fixes = fixes + 1, last_fix_at = clock_timestamp() WHERE id = $1
"""

GET_FIX_SQL = f"SELECT {FIX_COLUMNS} FROM location_fixes f WHERE f.id = $1"

FIXES_FOR_CALL_SQL = f"""
SELECT {FIX_COLUMNS} FROM location_fixes f WHERE f.call_id = $1 ORDER BY f.id DESC LIMIT $2
"""

# Purged with the rest of the personal data (dispatch/privacy.py): the positions, and
# the number the link was sent to.
PURGE_FIXES_SQL = "DELETE FROM location_fixes WHERE received_at < $1"
PURGE_LINK_PHONES_SQL = """
UPDATE location_links SET caller_phone = NULL
WHERE created_at < $1 AND caller_phone IS NOT NULL
"""
PURGE_FIX_EVENTS_SQL = """
UPDATE events SET data = data - 'location' - 'accuracy_m'
WHERE occurred_at < $1 AND kind = 'call.location_fix' AND data ? 'location'
"""


def new_token() -> str:
    """An unguessable token for a link: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, so the database cannot rebuild a link."""
    return hashlib.sha256(token.encode()).hexdigest()
