// Every page's footer: who is logged in (the timeline records this name), and a way out.

import { whoami } from "./api.js";
import { fill, h } from "./dom.js";
import { onLangChange, t } from "./i18n.js";

async function logout() {
  const who = await whoami();
  await fetch("/api/v1/logout", { method: "POST", headers: { "X-CSRF-Token": who?.csrf || "" } });
  location.assign("/login");
}

/** Show the logged-in name and role in `footer`, with a logout button. */
export async function showSession(footer) {
  const who = await whoami();
  if (!who) return;
  const render = () => fill(footer,
    h("small", { id: "who" }, t("auth.as", { name: who.name, role: t(`role.${who.role}`) })),
    h("button", { type: "button", id: "logout", onclick: logout }, t("auth.logout")));
  render();
  onLangChange(render);
}
