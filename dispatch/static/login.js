// The login form: POST /api/v1/login sets the session cookie, then go where we were sent.

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

/** Only a path on this site: never an open redirect to another origin. */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  error.hidden = true;
  const body = { username: form.username.value.trim(), password: form.password.value };
  const resp = await fetch("/api/v1/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  }).catch(() => null);
  if (resp && resp.ok) {
    location.assign(nextPath());
    return;
  }
  const data = resp ? await resp.json().catch(() => null) : null;
  error.textContent = data?.error?.message || "Tidak dapat masuk / Cannot log in";
  error.hidden = false;
  form.password.select();
});
