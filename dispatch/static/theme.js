// The night theme: chosen per user (the choice is remembered under the login name, so a
// shared console PC keeps each operator's own) and applied before anything is drawn.

import { onLangChange, t } from "./i18n.js";

const key = (name) => `siap112.theme.${name || "-"}`;

/** Apply the remembered theme of `name` and wire `button` to switch it. */
export function bindTheme(button, name) {
  const apply = (theme) => {
    document.body.dataset.theme = theme;
    button.textContent = theme === "dark" ? t("theme.light") : t("theme.dark");
    button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
  };
  apply(localStorage.getItem(key(name)) === "dark" ? "dark" : "light");
  button.addEventListener("click", () => {
    const next = document.body.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem(key(name), next);
    apply(next);
  });
  onLangChange(() => apply(document.body.dataset.theme));
}
