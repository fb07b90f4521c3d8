// Messages where the eye is: a short line at the top of the screen (and, for the form,
// the status line under its button), never below the screen edge.

import { $ } from "./dom.js";

let timer = null;

/** Show `text` for a few seconds; kind "ok" | "err" | "" (neutral). */
export function toast(text, kind = "") {
  const box = $("#toast");
  if (!box) return;
  box.textContent = text;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => { box.hidden = true; }, kind === "err" ? 8000 : 4000);
}
