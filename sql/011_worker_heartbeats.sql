-- Heartbeats of the supervised background loops (dispatcher, relay, stream hub),
-- one row per loop per process, written every few seconds by the process itself
-- (dispatch/supervise.py). `siap112 check` reads them so a process manager
-- (docker compose, systemd) can tell whether a standalone worker is alive.
-- beat_at advances only when the loop makes progress: a stuck or failing loop,
-- or a process killed outright, leaves it behind and turns unhealthy.
CREATE TABLE worker_heartbeats (
    worker      text NOT NULL,             -- the loop: dispatcher | relay | hub
    instance    text NOT NULL,             -- host:pid of the process
    host        text NOT NULL,
    pid         integer NOT NULL,
    beat_at     timestamptz NOT NULL,      -- the loop's last progress
    limit_s     float8 NOT NULL,           -- older than this (seconds) is unhealthy
    failures    bigint NOT NULL DEFAULT 0,
    restarts    bigint NOT NULL DEFAULT 0,
    last_error  text,
    written_at  timestamptz NOT NULL,
    PRIMARY KEY (worker, instance)
);
CREATE INDEX worker_heartbeats_by_host ON worker_heartbeats (host, worker, beat_at);
