// The live stream (GET /api/v1/events) with resume by Last-Event-ID.
//
// The browser's EventSource retries a dropped stream by itself and sends the
// Last-Event-ID header; when it gives up (or the machine goes offline) we open a
// new one with ?last_event_id= so the server sends exactly what was missed. A
// `resync` event means the stream no longer holds what we missed: reload the board.
// While not connected a banner says so: the board never looks live when it is not.
// A `logout` event means the login behind the stream no longer grants access
// (user disabled, session expired or ended): stop, and go to the login page.

export const KINDS = [
  "incident.created", "incident.queued", "incident.dispatched", "incident.closed",
  "unit.created", "unit.status", "unit.location", "unit.assigned", "assignment.ended",
  "incident.handover_required", "incident.taken_over", "call.logged", "caller.linked",
  "aml.received",
  "call.location_link", "call.location_fix", "incident.relocated",
  "incident.note_added", "alert.raised", "alert.cleared", "alert.acknowledged",
  "telephony.ringing", "telephony.answered", "telephony.ended", "telephony.claimed",
];

export class LiveStream {
  /**
   * @param {object} handlers onEvent(kind, data), onReady({resumed}), onResync(),
   *                          onState("connecting" | "live" | "down"), onLogout()
   */
  constructor(handlers, url = "/api/v1/events") {
    this.url = url;
    this.h = handlers;
    this.lastId = null;
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
      this.h.onReady?.({ resumed });
    });
    es.addEventListener("resync", () => this.h.onResync?.());
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
        this.h.onEvent?.(kind, JSON.parse(e.data));
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
