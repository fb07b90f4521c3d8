// The live stream (GET /api/v1/events) with resume by Last-Event-ID.
//
// The browser's EventSource retries a dropped stream by itself and sends the
// Last-Event-ID header; when it gives up (or the machine goes offline) we open a
// new one with ?last_event_id= so the server sends exactly what was missed. A
// `resync` event means the stream no longer holds what we missed: reload the board.
// While not connected a banner says so: the board never looks live when it is not.
// A `logout` event means the login behind the stream no longer grants access
// (user disabled, session expired or ended): stop, and go to the login page.

// Every kind of event the stream may carry: each may hold board snapshots.
export const KINDS = [
  "incident.created", "incident.queued", "incident.dispatched", "incident.closed",
  "unit.created", "unit.status", "unit.location", "unit.assigned", "assignment.ended",
  "incident.handover_required", "incident.taken_over", "call.logged", "caller.linked",
  "aml.received",
  "call.location_link", "call.location_fix", "incident.relocated",
  "incident.pending", "incident.handover_required", "handover.requested", "handover.received",
  "handover.accepted", "handover.declined", "handover.dispatched", "handover.closed",
  "handover.withdrawn", "handover.partner_accepted", "handover.partner_declined",
  "handover.partner_dispatched", "handover.partner_closed",
  "incident.note_added", "alert.raised", "alert.cleared", "alert.acknowledged",
  "telephony.ringing", "telephony.answered", "telephony.ended", "telephony.claimed",
].filter((k, i, all) => all.indexOf(k) === i);

/**
 * The board as the stream keeps it: incidents and units by id.
 *
 * Each event may carry `data.snapshot.incident` and/or `data.snapshot.unit`, the
 * record as the board API would answer it, with its `revision`. A snapshot replaces
 * what is held only when its revision is newer, so a late frame or a board read that
 * raced a change never puts older data back; an incident that is no longer open
 * (`keep` says no) leaves the board. While a full load is under way the frames are
 * applied and kept, then applied again over the loaded records.
 */
export class BoardStore {
  constructor({ keep = (inc) => inc.status !== "closed" } = {}) {
    this.incidents = new Map();
    this.units = new Map();
    this.revs = { incident: new Map(), unit: new Map() };
    this.keep = keep;
    this.during = null;   // frames seen while a load is under way
  }

  /** A full load starts (on first load and on `resync`). */
  beginLoad() { this.during = []; this.loading = new Set(["incident", "unit"]); }

  /** The load's answers: they replace the board, then the frames seen meanwhile apply. */
  finishLoad(incidents, units) {
    this.finishPart("incident", incidents);
    this.finishPart("unit", units);
  }

  /** One kind's answer of a load ("incident" or "unit"): it replaces that kind's records,
   * then the frames seen since the load began apply again (a newer revision wins). The
   * other kind may still be on its way: the incidents can be drawn before the units. */
  finishPart(kind, records) {
    const during = this.during || [];
    (kind === "unit" ? this.units : this.incidents).clear();
    this.revs[kind].clear();
    for (const rec of records) this.put(kind, rec);
    for (const ev of during) {
      const snap = ev.data?.snapshot?.[kind];
      if (snap) this.put(kind, snap);
    }
    this.loading?.delete(kind);
    if (!this.loading?.size) this.during = null;
  }

  /** Hold `rec` unless what is held is as new; true when the board changed. */
  put(kind, rec) {
    const revs = this.revs[kind];
    const rev = rec.revision ?? 0;
    if (revs.has(rec.id) && revs.get(rec.id) >= rev) return false;
    revs.set(rec.id, rev);
    if (kind === "unit") this.units.set(rec.id, rec);
    else if (this.keep(rec)) this.incidents.set(rec.id, rec);
    else this.incidents.delete(rec.id);
    return true;
  }

  /** Apply one event's snapshots: {incident, unit}, each the record if it changed. */
  apply(ev) {
    const snap = ev.data?.snapshot;
    if (!snap) return { incident: null, unit: null };
    if (this.during) this.during.push(ev);
    return {
      incident: snap.incident && this.put("incident", snap.incident) ? snap.incident : null,
      unit: snap.unit && this.put("unit", snap.unit) ? snap.unit : null,
    };
  }
}

// Dispatched on window for every event the page's stream receives, for `resync`, and
// with kind "ready" once the stream is subscribed (`resumed` when it picked up after
// Last-Event-ID, so nothing needs reloading).
export const STREAM_EVENT = "siap112:stream";

// True once the page's stream has been subscribed from scratch: what a panel loads from
// then on cannot miss a change (the stream holds every change after that moment).
let subscribedOnce = false;
export const streamSubscribed = () => subscribedOnce;

export class LiveStream {
  /**
   * @param {object} handlers onEvent(kind, data), onReady({resumed}), onResync(),
   *                          onState("connecting" | "live" | "down"), onLogout()
   */
  constructor(handlers, url = "/api/v1/events") {
    this.url = url;
    this.h = handlers;
    this.lastId = null;
    this.lastSeq = null;   // the seq of the last event received
    this.es = null;
    this.state = "connecting";
    this.retryMs = 500;
    this.timer = null;
    window.addEventListener("offline", () => this.drop());
    window.addEventListener("online", () => this.connect());
  }

  connect() {
    clearTimeout(this.timer);
    if (this.es) this.es.close();
    const resumed = this.lastId !== null;
    const url = resumed ? `${this.url}?last_event_id=${encodeURIComponent(this.lastId)}` : this.url;
    const es = new EventSource(url);
    this.es = es;
    es.addEventListener("hello", () => {
      this.retryMs = 500;
      this.setState("live");
      if (!resumed) subscribedOnce = true;
      this.h.onReady?.({ resumed });
      window.dispatchEvent(new CustomEvent(STREAM_EVENT, { detail: { kind: "ready", resumed } }));
    });
    es.addEventListener("resync", () => {
      this.h.onResync?.();
      window.dispatchEvent(new CustomEvent(STREAM_EVENT, { detail: { kind: "resync" } }));
    });
    es.addEventListener("logout", () => {
      es.close();
      this.es = null;
      this.setState("down");
      if (this.h.onLogout) this.h.onLogout();
      else window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
    });
    for (const kind of KINDS) {
      es.addEventListener(kind, (e) => {
        this.lastId = e.lastEventId || this.lastId;
        const ev = JSON.parse(e.data);
        this.lastSeq = ev.seq ?? this.lastSeq;
        this.h.onEvent?.(kind, ev);
        // Other panels of the page (exchange.js) follow the same stream.
        window.dispatchEvent(new CustomEvent(STREAM_EVENT, { detail: { kind, ev } }));
      });
    }
    es.onerror = () => {
      if (this.es !== es) return;
      this.setState("down");
      if (es.readyState === EventSource.CLOSED) this.retryLater();
    };
  }

  /** Close the stream and show it as down (the offline event, or a test). */
  drop() {
    if (this.es) this.es.close();
    this.es = null;
    this.setState("down");
  }

  retryLater() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 10000);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.h.onState?.(state);
  }
}

/** Show `banner` whenever the stream is down; mark the document for styling and tests. */
export function bindBanner(banner, badge, t) {
  return (state) => {
    document.body.dataset.live = state;
    banner.hidden = state !== "down";
    banner.textContent = t("conn.down");
    if (badge) {
      badge.textContent = state === "live" ? t("conn.live") : t("conn.down");
      badge.className = `badge ${state}`;
    }
  };
}
