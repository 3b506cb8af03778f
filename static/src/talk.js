// What comments (and chat) show of a message: its author, its time, its text.
// Bodies are plain text from other people: they become text nodes, never HTML.

// The server's pattern (collab/discussion/service.py MENTION): @ and a username,
// not inside a word or an address.
const MENTION = /(?<![\w@])@([\w.+-]{1,150})/g;
const COLOR = /^#[0-9a-f]{6}$/i;

/**
 * Keeps what a box may send within `max` characters, counted as the server counts
 * them (code points of the trimmed text): past it, a note under the box says by how
 * much, and the returned check is true so the caller does not send. Nothing typed or
 * pasted is cut off, so nothing is lost. The box must already be in its form.
 */
export function limitBox(textarea, max) {
  const note = document.createElement("p");
  note.className = "help box-limit";
  note.setAttribute("role", "status");
  note.hidden = true;
  textarea.after(note);
  const check = () => {
    const over = max > 0 ? [...textarea.value.trim()].length - max : 0;
    note.hidden = over <= 0;
    note.textContent =
      over > 0 ? `${over.toLocaleString()} character${over === 1 ? "" : "s"} too long (at most ${max.toLocaleString()}).` : "";
    if (over > 0) textarea.setAttribute("aria-invalid", "true");
    else textarea.removeAttribute("aria-invalid");
    return over > 0;
  };
  textarea.addEventListener("input", check);
  return check;
}

/** "just now", "2 min ago", "3 h ago", "yesterday", "4 days ago", then the date. */
export function relativeTime(iso, now = Date.now()) {
  const at = new Date(iso).getTime();
  if (Number.isNaN(at)) return "";
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days === 1) return "yesterday";
  if (days < 7) return `${days} days ago`;
  const date = new Date(at);
  return date.toLocaleDateString(undefined, {
    day: "numeric",
    month: "short",
    ...(date.getFullYear() !== new Date(now).getFullYear() && { year: "numeric" }),
  });
}

/** A <time> that keeps saying how long ago `iso` was (see refreshTimes). */
export function timeElement(iso) {
  const time = document.createElement("time");
  time.dateTime = iso;
  time.dataset.at = iso;
  time.title = new Date(iso).toLocaleString();
  time.textContent = relativeTime(iso);
  return time;
}

/** Bring every <time data-at> under `root` up to date. */
export function refreshTimes(root) {
  const now = Date.now();
  for (const time of root.querySelectorAll("time[data-at]")) {
    const text = relativeTime(time.dataset.at, now);
    if (time.textContent !== text) time.textContent = text;
  }
}

/** The body as text nodes, each @mention in a <span class="mention">. */
export function bodyNodes(body) {
  const nodes = [];
  let last = 0;
  for (const match of body.matchAll(MENTION)) {
    if (match.index > last) nodes.push(document.createTextNode(body.slice(last, match.index)));
    const name = match[0].replace(/\.+$/, ""); // "@ana." ends a sentence
    if (name.length < 2) continue; // "@..." names nobody
    const mention = document.createElement("span");
    mention.className = "mention";
    mention.textContent = name;
    nodes.push(mention);
    last = match.index + name.length;
  }
  if (last < body.length) nodes.push(document.createTextNode(body.slice(last)));
  return nodes;
}

/** The author's colour chip, name and (for a disabled account) a mark. */
export function authorNodes(author) {
  const chip = document.createElement("span");
  chip.className = "chip";
  chip.setAttribute("aria-hidden", "true");
  if (COLOR.test(author.color)) chip.style.backgroundColor = author.color;
  const name = document.createElement("span");
  name.className = "author-name";
  name.textContent = author.name || "Someone";
  const nodes = [chip, name];
  if (author.banned) {
    const banned = document.createElement("span");
    banned.className = "banned";
    banned.textContent = "banned";
    banned.title = "This account was disabled by a moderator";
    nodes.push(banned);
  }
  return nodes;
}
