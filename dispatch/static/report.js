// The daily report's print button (no inline script: the pages' CSP allows none).
document.getElementById("print")?.addEventListener("click", () => window.print());
