// The login form: POST /api/v1/login sets the session cookie, then go where we were sent.

import { codeText } from "./i18n.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
// Backslash and control characters: browsers turn "\" into "/" and drop tabs and newlines.
const UNSAFE = /[\\\x00-\x1f\x7f]/;

/**
 * A path on this site only, never an open redirect: every percent-decoded layer must
 * start with a single "/" and hold no backslash or control character, and the URL it
 * resolves to must have this page's origin.
 */
export function safeNext(raw) {
  if (typeof raw !== "string" || !raw || raw.length > 2048) return "/";
  let layer = raw;
  for (let i = 0; ; i++) {
    if (i === 4 || !layer.startsWith("/") || layer.startsWith("//") || UNSAFE.test(layer)) {
      return "/";
    }
    let decoded;
    try {
      decoded = decodeURIComponent(layer);
    } catch {
      return "/";
    }
    if (decoded === layer) break;
    layer = decoded;
  }
  const url = new URL(raw, location.origin);
  return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
}

const requested = () => new URLSearchParams(location.search).get("next");

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  error.hidden = true;
  const body = { username: form.username.value.trim(), password: form.password.value };
  const next = requested();
  if (next) body.next = next;
  const resp = await fetch("/api/v1/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  }).catch(() => null);
  const data = resp ? await resp.json().catch(() => null) : null;
  if (resp && resp.ok) {
    // The server answers `next` back only if it is a path on this site; checked again here.
    location.assign(safeNext(data?.next));
    return;
  }
  // Worded from the code in the page's language, never the server's English text.
  error.textContent = data?.error?.code ? codeText(data.error) : "Tidak dapat masuk / Cannot log in";
  error.hidden = false;
  form.password.select();
});
