// "Ana restored the version of 10:42": the server's "restored" extension message,
// sent to every page connected when someone restores a version (collab/history/restore.py).
// The restore itself arrives as an ordinary edit; this only says who made it.
//   {"type": "restored", "by": "Ana", "version": "2026-12-07T10:42:03.123456+00:00"}
import { onExtension } from "./extensions.js";

const pad = (n) => String(n).padStart(2, "0");

/** "10:42" in this browser's time zone, with the day before it when it is not today. */
export function versionTime(iso, now = new Date()) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  const time = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
  if (at.toDateString() === now.toDateString()) return time;
  const day = at.toLocaleDateString(undefined, {
    day: "numeric",
    month: "short",
    ...(at.getFullYear() !== now.getFullYear() && { year: "numeric" }),
  });
  return `${day}, ${time}`;
}

/** Show each restore in `banner` (role="status"), its text in `text`, until `dismiss` is pressed. */
export function followRestores(provider, { banner, text, dismiss }) {
  if (!banner || !text) return;
  dismiss?.addEventListener("click", () => {
    banner.hidden = true;
  });
  onExtension(provider, "restored", ({ by, version }) => {
    if (typeof by !== "string") return;
    const when = typeof version === "string" ? versionTime(version) : "";
    banner.hidden = false;
    // Set once shown, so that screen readers announce it.
    text.textContent = when ? `${by} restored the version of ${when}.` : `${by} restored an earlier version.`;
  });
}
