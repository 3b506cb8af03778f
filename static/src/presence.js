// The presence bar: who is in the document, from the awareness states.
import * as encoding from "lib0/encoding";
import { encodeAwarenessUpdate } from "y-protocols/awareness";

import { inkFor } from "./cursors.js";

export function initials(name) {
  const words = String(name || "?")
    .replace(/\(.*?\)/g, " ")
    .trim()
    .split(/[\s._-]+/)
    .filter(Boolean);
  if (!words.length) return "?";
  const first = [...words[0]][0];
  const last = words.length > 1 ? [...words[words.length - 1]][0] : "";
  return (first + last).toUpperCase();
}

/** The people in `awareness`, one entry per person (several tabs count once); you first. */
export function people(awareness) {
  const byKey = new Map();
  const me = awareness.clientID;
  awareness.getStates().forEach((state, clientId) => {
    const user = state && state.user;
    if (!user || !user.name) return;
    const key = `${user.name}\u0000${user.color}`;
    const known = byKey.get(key);
    const isMe = clientId === me;
    if (known) {
      known.isMe ||= isMe;
      known.clients += 1;
    } else {
      byKey.set(key, { name: user.name, color: user.color || "#667085", isMe, clients: 1 });
    }
  });
  return [...byKey.values()].sort((a, b) => (b.isMe - a.isMe) || a.name.localeCompare(b.name));
}

export function renderPresence(container, awareness) {
  const list = people(awareness);
  const others = list.filter((p) => !p.isMe).length;
  container.replaceChildren(
    ...list.map((person) => {
      const label = person.isMe ? `${person.name} (you)` : person.name;
      const item = document.createElement("span");
      item.className = "avatar" + (person.isMe ? " is-me" : "");
      item.setAttribute("role", "listitem");
      item.tabIndex = 0;
      item.title = label;
      item.dataset.name = person.name;
      item.dataset.label = label;
      item.style.backgroundColor = person.color;
      item.style.color = inkFor(person.color);
      const letters = document.createElement("span");
      letters.setAttribute("aria-hidden", "true");
      letters.textContent = initials(person.name);
      const full = document.createElement("span");
      full.className = "visually-hidden";
      full.textContent = label;
      item.append(letters, full);
      return item;
    }),
  );
  container.dataset.count = String(list.length);
  container.setAttribute(
    "aria-label",
    others === 0 ? "People in this document: only you" : `People in this document: you and ${others} other${others === 1 ? "" : "s"}`,
  );
}

export function trackPresence(container, awareness) {
  if (!container) return;
  const render = () => renderPresence(container, awareness);
  awareness.on("change", render);
  render();
}

/**
 * When someone new appears, announce ourselves again. A newcomer gets the states
 * its server knows; one that joined through another server (worker) may not know
 * ours until our next periodic renewal (15 s), so we renew at once.
 */
export function announceToNewcomers(awareness) {
  let timer = null;
  awareness.on("change", ({ added }, origin) => {
    if (origin === "local" || timer !== null) return;
    if (!added.some((id) => id !== awareness.clientID)) return;
    timer = setTimeout(() => {
      timer = null;
      const state = awareness.getLocalState();
      if (state !== null) awareness.setLocalState(state);
    }, 50);
  });
}

/**
 * Send only our own awareness state, at most every `interval` ms.
 *
 * y-websocket's provider sends every awareness change, including the states of
 * others it has just received (the server ignores those: nobody may speak for
 * another connection), and one message per cursor move. Both count against the
 * server's per-connection message rate, so we send our own state only, and
 * coalesce bursts (the latest state wins; its clock is the newest).
 */
export function sendOwnAwareness(provider, { interval = 50 } = {}) {
  const { awareness } = provider;
  awareness.off("update", provider._awarenessUpdateHandler);
  let timer = null;
  let last = 0;
  const send = () => {
    timer = null;
    last = Date.now();
    const ws = provider.ws;
    if (!provider.wsconnected || !ws || ws.readyState !== WebSocket.OPEN) return;
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, 1); // an awareness message
    encoding.writeVarUint8Array(encoder, encodeAwarenessUpdate(awareness, [awareness.clientID]));
    ws.send(encoding.toUint8Array(encoder));
  };
  awareness.on("update", ({ added, updated, removed }) => {
    const mine = (id) => id === awareness.clientID;
    if (!added.some(mine) && !updated.some(mine) && !removed.some(mine)) return;
    if (removed.some(mine)) {
      clearTimeout(timer);
      send(); // leaving: say so at once
    } else if (timer === null) {
      timer = setTimeout(send, Math.max(0, interval - (Date.now() - last)));
    }
  });
}
