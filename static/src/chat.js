// The chat beside the document: the conversation kept with it on the server,
// over the document's socket as extension messages (docs/protocol.md, "Comments
// and chat"). On every (re)connect the page asks for `discussion.load`; the
// answer holds the last messages and what this connection may do. Older
// messages come in pages (`chat.older`) when the list is scrolled to the top.
// A message may arrive twice or out of order: for each id the one with the
// highest seq is kept. Bodies are shown as text, never as HTML.
import { loadDiscussionOnConnect, onExtension, sendExtension } from "./extensions.js";
import { inkFor } from "./cursors.js";
import { initials } from "./presence.js";
import { limitBox } from "./talk.js";

const NEAR_TOP_PX = 48; // scrolled this close to the top: load older messages
const NEAR_BOTTOM_PX = 64; // this close to the bottom: follow new messages
const CLOCK_MS = 30_000; // relative times are redrawn this often

/** "just now", "5 min ago", "3 h ago", "yesterday", or the date. */
export function ago(iso, now = new Date()) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  const seconds = Math.max(0, (now - at) / 1000);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min ago`;
  if (seconds < 86400 && at.getDate() === now.getDate()) return `${Math.floor(seconds / 3600)} h ago`;
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (at.toDateString() === yesterday.toDateString()) return "yesterday";
  return at.toLocaleDateString(undefined, {
    day: "numeric",
    month: "short",
    ...(at.getFullYear() !== now.getFullYear() && { year: "numeric" }),
  });
}

const COLOR = /^#[0-9a-fA-F]{6}$/;

function chip(author) {
  const color = COLOR.test(author.color || "") ? author.color : "#667085";
  const element = document.createElement("span");
  element.className = "chat-chip";
  element.setAttribute("aria-hidden", "true");
  element.style.backgroundColor = color;
  element.style.color = inkFor(color);
  element.textContent = initials(author.name);
  return element;
}

export class ChatPanel {
  constructor({ provider, panel, toggle, badge, list, older, form, input, error, me }) {
    this.provider = provider;
    this.panel = panel;
    this.toggle = toggle;
    this.badge = badge;
    this.list = list;
    this.older = older;
    this.form = form;
    this.input = input;
    this.tooLong = limitBox(input, Number(input.dataset.maxChars) || 0); // COLLAB_MAX_CHAT_CHARS
    this.error = error;
    this.me = me; // { name, color }
    const documentId = document.getElementById("editor-app")?.dataset.documentId;
    this.reportUrl = documentId ? `/docs/${documentId}/report/` : "";
    this.messages = new Map(); // id -> C (the highest seq seen)
    this.items = new Map(); // id -> its element
    this.more = false;
    this.chatOn = false;
    this.canChat = false;
    this.isOpen = false;
    this.unread = 0;
    this.loadingOlder = false;
    this.pending = new Map(); // ref -> body, until stored (or refused)
    this.sent = 0;

    onExtension(provider, "discussion", (m) => this.onDiscussion(m));
    onExtension(provider, "chat.message", (m) => this.onMessage(m));
    onExtension(provider, "chat.page", (m) => this.onPage(m));
    onExtension(provider, "discussion.refused", (m) => this.onRefused(m));
    loadDiscussionOnConnect(provider);
    provider.on("status", ({ status }) => {
      if (status !== "connected") this.loadingOlder = false; // its answer will not come
      this.showComposer();
    });

    toggle.addEventListener("click", () => this.setOpen(!this.isOpen));
    panel.querySelector("[data-chat-close]")?.addEventListener("click", () => {
      this.setOpen(false);
      toggle.focus();
    });
    older.addEventListener("click", () => this.loadOlder());
    list.addEventListener("scroll", () => {
      if (list.scrollTop < NEAR_TOP_PX) this.loadOlder();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    input.addEventListener("input", () => this.showError(""));
    setInterval(() => this.redrawTimes(), CLOCK_MS);
    this.apply();
  }

  // -- from the server --------------------------------------------------------

  onDiscussion(message) {
    this.chatOn = message.chat_on === true;
    this.canChat = message.can_chat === true;
    this.messages.clear();
    for (const item of this.items.values()) item.remove();
    this.items.clear();
    this.more = message.chat_more === true;
    this.loadingOlder = false;
    this.merge(Array.isArray(message.chat) ? message.chat : []);
    this.apply();
    this.render({ follow: true });
  }

  onMessage({ message, ref }) {
    if (!message || typeof message.id !== "number") return;
    const isNew = !this.messages.has(message.id);
    if (!this.merge([message])) return;
    if (ref) this.pending.delete(ref);
    const mine = Boolean(ref) && ref.startsWith("chat-");
    if (isNew && !mine && !message.deleted && !this.isOpen) this.setUnread(this.unread + 1);
    this.render({ follow: mine || this.nearBottom() });
  }

  onPage({ messages, more }) {
    if (!Array.isArray(messages)) return;
    this.loadingOlder = false;
    this.more = more === true;
    // Keep the message in view where it was: measure from the bottom.
    const fromBottom = this.list.scrollHeight - this.list.scrollTop;
    this.merge(messages);
    this.render({ follow: false });
    this.list.scrollTop = this.list.scrollHeight - fromBottom;
  }

  onRefused({ ref, reason }) {
    if (typeof ref !== "string" || !this.pending.has(ref)) return; // another part of the page sent it
    const body = this.pending.get(ref);
    this.pending.delete(ref);
    if (!this.input.value.trim()) this.input.value = body; // nothing is lost
    this.showError(`Not sent: ${typeof reason === "string" ? reason : "refused"}.`);
  }

  /** Keep the newer of each; whether anything changed. */
  merge(messages) {
    let changed = false;
    for (const message of messages) {
      if (!message || typeof message.id !== "number") continue;
      const known = this.messages.get(message.id);
      if (known && (known.seq ?? 0) >= (message.seq ?? 0)) continue;
      this.messages.set(message.id, message);
      changed = true;
    }
    return changed;
  }

  // -- from the person ---------------------------------------------------------

  send() {
    const body = this.input.value.trim();
    if (!body || !this.canChat || this.tooLong()) return;
    const ref = `chat-${++this.sent}`;
    if (!sendExtension(this.provider, { type: "chat.send", body, ref })) {
      this.showError("Not sent: not connected. It will be possible again once reconnected.");
      return;
    }
    this.pending.set(ref, body);
    this.input.value = "";
    this.showError("");
  }

  loadOlder() {
    if (!this.more || this.loadingOlder || !this.isOpen) return;
    const first = Math.min(...this.messages.keys());
    if (!Number.isFinite(first)) return;
    if (sendExtension(this.provider, { type: "chat.older", before: first })) {
      this.loadingOlder = true;
      this.older.setAttribute("aria-busy", "true");
    }
  }

  setOpen(open) {
    this.isOpen = open && this.chatOn;
    this.panel.hidden = !this.isOpen;
    this.toggle.setAttribute("aria-pressed", String(this.isOpen));
    document.body.classList.toggle("chat-open", this.isOpen);
    if (this.isOpen) {
      this.setUnread(0);
      this.render({ follow: true });
      if (this.canChat) this.input.focus();
      else this.list.focus();
    }
  }

  setUnread(count) {
    this.unread = count;
    this.badge.hidden = count === 0;
    this.badge.textContent = count > 99 ? "99+" : String(count);
    this.toggle.setAttribute("aria-label", count ? `Chat, ${count} unread` : "Chat");
    this.toggle.dataset.unread = String(count);
  }

  // -- on the page ---------------------------------------------------------------

  apply() {
    this.toggle.hidden = !this.chatOn;
    if (!this.chatOn) {
      this.setOpen(false);
      this.setUnread(0);
    }
    this.showComposer();
  }

  showComposer() {
    this.form.hidden = !this.canChat;
    const connected = this.provider.wsconnected;
    this.form.querySelector("button[type=submit]").disabled = !connected;
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  nearBottom() {
    const list = this.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
  }

  render({ follow }) {
    const ids = [...this.messages.keys()].sort((a, b) => a - b);
    let before = null; // each item goes after the one before it
    for (const id of ids) {
      const message = this.messages.get(id);
      let item = this.items.get(id);
      if (!item || item.dataset.seq !== String(message.seq ?? 0)) {
        const fresh = this.item(message);
        if (item) item.replaceWith(fresh);
        item = fresh;
        this.items.set(id, item);
      }
      const want = before ? before.nextElementSibling : this.list.querySelector(".chat-message");
      if (want !== item) {
        if (before) before.after(item);
        else this.older.after(item);
      }
      before = item;
    }
    this.older.hidden = !this.more;
    this.older.removeAttribute("aria-busy");
    this.panel.querySelector(".chat-empty").hidden = ids.length > 0;
    if (follow) this.list.scrollTop = this.list.scrollHeight;
    // A short conversation cannot be scrolled: fetch the older ones at once.
    if (this.isOpen && this.more && this.list.scrollHeight <= this.list.clientHeight) this.loadOlder();
  }

  item(message) {
    const author = message.author || {};
    const item = document.createElement("div");
    item.className = "chat-message";
    item.dataset.id = String(message.id);
    item.dataset.seq = String(message.seq ?? 0);
    const mine = author.name === this.me.name && author.color === this.me.color;
    if (mine) item.classList.add("is-mine");

    const head = document.createElement("div");
    head.className = "chat-head";
    const name = document.createElement("span");
    name.className = "chat-author";
    name.textContent = String(author.name || "?");
    head.append(chip(author), name);
    if (author.banned) {
      const banned = document.createElement("span");
      banned.className = "chat-banned";
      banned.textContent = "banned";
      banned.title = "This account was banned by a moderator";
      head.append(banned);
    }
    const time = document.createElement("time");
    time.className = "chat-time";
    time.dateTime = String(message.created || "");
    time.title = new Date(message.created).toLocaleString();
    time.textContent = ago(message.created);
    head.append(time);
    if (!mine && !message.deleted && this.reportUrl) {
      const report = document.createElement("a");
      report.className = "chat-report";
      report.href = `${this.reportUrl}?chat_message=${message.id}`;
      report.textContent = "Report";
      report.setAttribute("aria-label", `Report this message by ${author.name || "someone"}`);
      head.append(report);
    }

    const body = document.createElement("p");
    body.className = "chat-body";
    if (message.deleted) {
      item.classList.add("is-deleted");
      body.textContent = "Message deleted by a moderator";
    } else {
      body.textContent = String(message.body ?? "");
    }
    item.append(head, body);
    return item;
  }

  redrawTimes() {
    if (!this.isOpen) return;
    for (const time of this.list.querySelectorAll("time.chat-time")) time.textContent = ago(time.dateTime);
  }
}

/** The chat panel, if the page has one. */
export function setupChat({ provider, me }) {
  const panel = document.getElementById("chat-panel");
  const toggle = document.getElementById("chat-toggle");
  if (!panel || !toggle) return null;
  return new ChatPanel({
    provider,
    panel,
    toggle,
    me,
    badge: document.getElementById("chat-unread"),
    list: document.getElementById("chat-list"),
    older: document.getElementById("chat-older"),
    form: document.getElementById("chat-form"),
    input: document.getElementById("chat-input"),
    error: document.getElementById("chat-error"),
  });
}
