// The page a caller opens from the centre's SMS or WhatsApp link (/l/<token>), with
// no login: one button shares the phone's position. Every fix of watchPosition (high
// accuracy) is posted until the page is closed or the link no longer takes any. It
// shows the caller nothing but what it is doing; all text is in Bahasa Indonesia.

const token = location.pathname.split("/").filter(Boolean).pop() || "";
const endpoint = `/api/v1/l/${encodeURIComponent(token)}/fixes`;
const MIN_GAP_MS = 3000; // at most one post per this, always the newest fix

const main = document.querySelector("main.caller");
const status = document.getElementById("status");
const button = document.getElementById("share");
let watch = null, pending = null, lastSent = 0, timer = null, sending = false, sent = 0;
let sendTime = true; // dropped if the phone's clock is refused by the server

function say(state, text) {
  main.dataset.state = state;
  status.textContent = text;
}

function stop(state, text) {
  if (watch !== null) navigator.geolocation.clearWatch(watch);
  watch = null;
  clearTimeout(timer);
  button.disabled = true;
  say(state, text);
}

async function post(fix) {
  const body = { lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy_m };
  if (sendTime) body.at = fix.at;
  const resp = await fetch(endpoint, { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", Accept: "application/json" } });
  if (resp.status === 422 && sendTime) {
    const err = await resp.json().catch(() => null);
    if (JSON.stringify(err || {}).includes("\"at\"")) { sendTime = false; return post(fix); }
  }
  return resp;
}

async function flush() {
  timer = null;
  if (!pending || sending) return;
  const wait = lastSent + MIN_GAP_MS - Date.now();
  if (wait > 0) { timer = setTimeout(flush, wait); return; }
  const fix = pending;
  pending = null;
  sending = true;
  lastSent = Date.now();
  try {
    const resp = await post(fix);
    if (resp.status === 410 || resp.status === 404) {
      stop("ended", "Tautan ini sudah tidak berlaku. Terima kasih — jika masih darurat, telepon 112.");
      return;
    }
    if (resp.status === 429) {
      say("sharing", "Lokasi dikirim… (menunggu sebentar)");
    } else if (resp.ok) {
      sent += 1;
      say("sharing", `Lokasi terkirim ke petugas 112 (ketelitian ±${Math.round(fix.accuracy_m)} m, ` +
        `${new Date(fix.at).toLocaleTimeString("id-ID")}). Biarkan halaman ini terbuka.`);
      main.dataset.sent = String(sent);
    } else {
      say("sharing", "Lokasi belum terkirim, mencoba lagi…");
      pending ??= fix;
    }
  } catch {
    say("sharing", "Tidak ada sambungan internet, mencoba lagi…");
    pending ??= fix;
  } finally {
    sending = false;
  }
  if (pending && watch !== null) timer = setTimeout(flush, MIN_GAP_MS);
}

function onPosition(pos) {
  pending = { lat: pos.coords.latitude, lon: pos.coords.longitude,
    accuracy_m: Math.min(100000, Math.max(0, pos.coords.accuracy || 0)),
    at: new Date(pos.timestamp || Date.now()).toISOString() };
  if (!timer && !sending) flush();
}

function onError(err) {
  if (err.code === err.PERMISSION_DENIED) {
    stop("denied", "Akses lokasi ditolak. Izinkan lokasi untuk halaman ini di pengaturan " +
      "browser, lalu muat ulang halaman. Anda juga bisa menyebutkan lokasi Anda kepada petugas.");
  } else {
    say("sharing", "Mencari lokasi… pastikan GPS/lokasi ponsel menyala.");
  }
}

button.addEventListener("click", () => {
  if (!("geolocation" in navigator)) {
    stop("denied", "Ponsel ini tidak dapat membagikan lokasi. Sebutkan lokasi Anda kepada petugas.");
    return;
  }
  button.disabled = true;
  say("sharing", "Mencari lokasi…");
  watch = navigator.geolocation.watchPosition(onPosition, onError,
    { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 });
});
