// An endpoint's page (templates/collab/webhook.html; copying the secret and confirming:
// controls.js): fetch the delivery log again every few seconds while the page is in view,
// so that new deliveries and their outcome show without a reload.
"use strict";

const REFRESH_MS = 3000;

async function refreshLog() {
  const log = document.getElementById("delivery-log");
  if (!log || document.hidden) return;
  try {
    const response = await fetch(log.dataset.logUrl, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("delivery-log");
    // Only when what it says changed (each copy has a CSRF token of its own), so that
    // a button about to be pressed stays where it is.
    if (fresh && fresh.textContent !== log.textContent) log.replaceWith(fresh);
  } catch {
    // offline for a moment: the next round tries again
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.getElementById("delivery-log")) {
    setInterval(refreshLog, REFRESH_MS);
    document.body.dataset.logRefresh = "on";
  }
});
