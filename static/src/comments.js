// Comment threads on the text: the "Comment" button and its box, the side panel
// of threads (replies, edit, delete, resolve, a filter) and their highlights in
// the editor (comment-marks.js).
//
// Everything travels as collab's extension messages (docs/protocol.md, "Comments
// and chat"). On every connect the page asks for the whole discussion and replaces
// what it holds with the answer; after that each thread comes whole whenever it
// changes, possibly twice or out of order (a worker catching up), so the page
// keeps, for each id, the version with the highest seq. What the page sends
// carries a `ref`; the answer (the stored thread, or a refusal) carries it back.
import { Compartment, Prec } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";

import { anchorFor, commentButton, commentMarks, drawMarks, resolveAnchor } from "./comment-marks.js";
import { loadDiscussionOnConnect, onExtension, sendExtension } from "./extensions.js";
import { authorNodes, bodyNodes, refreshTimes, timeElement } from "./talk.js";

const RECOMPUTE_MS = 120; // the anchors are resolved again this long after the last change...
const RECOMPUTE_MAX_MS = 600; // ...and at least this often while changes go on
const TIMES_MS = 30_000;
const STORAGE_KEY = "collab.comments";
const NARROW = "(max-width: 800px)"; // the panel is a sheet over the editor (static/css/comments.css)
const COMMENTING_ROLES = new Set(["commenter", "editor", "owner"]);
const FILTER_EMPTY = { open: "No open comments.", resolved: "No resolved comments.", all: "No comments yet." };

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(text, className, onClick) {
  const node = element("button", className, text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

/** Ctrl/Cmd+Enter sends a box's form; Escape runs `onEscape`. */
function boxKeys(textarea, onEscape) {
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      textarea.form?.requestSubmit();
    } else if (event.key === "Escape" && onEscape) {
      event.preventDefault();
      onEscape();
    }
  });
}

function storedPreference() {
  try {
    return localStorage.getItem(STORAGE_KEY) === "true";
  } catch {
    return false;
  }
}

export class Comments {
  /**
   * `provider`: the WebsocketProvider; `ytext`: the document's Y.Text; `app`: #editor-app
   * (its data-user-id, data-role, data-comments-on).
   */
  constructor({ provider, ytext, app }) {
    this.provider = provider;
    this.ytext = ytext;
    this.app = app;
    this.view = null;
    this.userId = app.dataset.userId ? Number(app.dataset.userId) : null;
    const on = app.dataset.commentsOn !== "false";
    this.flags = { comments_on: on, can_comment: on && COMMENTING_ROLES.has(app.dataset.role) };
    this.threads = new Map(); // id -> thread, as the server last sent it
    this.seqs = new Map(); // id -> the highest seq seen of it (removed threads included)
    this.loadedSeq = 0;
    this.loaded = false;
    this.synced = false;
    this.positions = new Map(); // id -> {from, to} (from === to: detached) | null (text not here yet)
    this.draft = null; // the new thread being written: its anchor, quote and context
    this.filter = "open";
    this.activeId = null;
    this.cards = new Map(); // id -> {el, seq, key, comments, reply, state}
    this.editing = new Map(); // comment id -> its edit box (a form)
    this.confirming = new Set(); // comment ids asking "Delete?"
    this.pending = new Map(); // ref -> {form, done(thread)}
    this.refCount = 0;
    this.layoutKey = "";
    this.timer = null;
    this.pendingSince = 0;
    this.shown = false;
    this.buttonSlot = new Compartment(); // the "Comment" button by the selection, for those who may comment
    this.button = commentButton(() => this.compose());

    const $ = (id) => document.getElementById(id);
    this.el = {
      pane: $("comments-pane"),
      toggle: $("comments-toggle"),
      count: $("comments-count"),
      add: $("comment-add"),
      close: $("comments-close"),
      list: $("comments-list"),
      empty: $("comments-empty"),
      error: $("comments-error"),
      composer: $("comment-composer"),
      composerQuote: $("comment-composer-quote"),
      composerText: $("comment-composer-text"),
      composerCancel: $("comment-composer-cancel"),
      filters: [...document.querySelectorAll("#comments-filter [data-filter]")],
    };
    this.reportUrl = this.el.pane?.dataset.reportUrl || "";
    this.linked = /^#thread-(\d+)$/.exec(location.hash); // a link to one thread (the Mentions list)
  }

  /** The editor extension: highlights, clicks on them, and Mod-Alt-m to comment on the selection. */
  extension() {
    return [
      commentMarks({ onClick: (id) => this.focusThread(id) }),
      Prec.high(keymap.of([{ key: "Mod-Alt-m", run: () => this.compose(), preventDefault: true }])),
      this.buttonSlot.of([]),
    ];
  }

  attach(view) {
    this.view = view;
    const { el } = this;
    onExtension(this.provider, "discussion", (message) => this.onDiscussion(message));
    onExtension(this.provider, "thread", (message) => this.onThread(message));
    onExtension(this.provider, "thread.removed", (message) => this.onRemoved(message));
    onExtension(this.provider, "discussion.refused", (message) => this.onRefused(message));
    loadDiscussionOnConnect(this.provider);
    this.provider.on("sync", (isSynced) => {
      this.synced = isSynced;
      this.recompute();
    });
    this.ytext.observe(() => this.schedule());

    el.toggle?.addEventListener("click", () => this.show(!this.shown));
    el.close?.addEventListener("click", () => {
      this.show(false);
      el.toggle?.focus();
    });
    el.add?.addEventListener("click", () => this.compose());
    el.composer?.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitDraft();
    });
    el.composerCancel?.addEventListener("click", () => this.cancelDraft());
    if (el.composerText) boxKeys(el.composerText, () => this.cancelDraft());
    for (const filter of el.filters) filter.addEventListener("click", () => this.setFilter(filter.dataset.filter));
    el.pane?.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && window.matchMedia(NARROW).matches && !event.defaultPrevented) {
        this.show(false);
        el.toggle?.focus();
      }
    });
    setInterval(() => el.list && refreshTimes(el.list), TIMES_MS);
    this.show(storedPreference(), { keep: false });
    this.applyFlags();
  }

  // -- what the server says ------------------------------------------------------

  onDiscussion(message) {
    this.flags = { comments_on: Boolean(message.comments_on), can_comment: Boolean(message.can_comment) };
    this.loadedSeq = Number(message.seq) || 0;
    this.threads = new Map();
    this.seqs = new Map();
    for (const thread of Array.isArray(message.threads) ? message.threads : []) {
      this.threads.set(thread.id, thread);
      this.seqs.set(thread.id, thread.seq);
    }
    // Answers lost with the last connection never come: free their boxes (their text stays).
    if (this.pending.size) {
      for (const { form } of this.pending.values()) this.setBusy(form, false);
      this.pending.clear();
      this.showError("The connection dropped before the server answered: check that your comment is there before sending it again.");
    }
    this.loaded = true;
    if (this.el.pane) this.el.pane.dataset.loaded = "true";
    this.applyFlags();
    this.render();
    this.recompute();
    if (this.linked) {
      const id = Number(this.linked[1]);
      this.linked = null;
      if (this.threads.has(id)) {
        this.focusThread(id);
        this.showInText(id);
      }
    }
  }

  /** Whether a message about `id` at `seq` is newer than what the page holds. */
  isNew(id, seq) {
    const known = this.seqs.get(id);
    if (known !== undefined) return seq > known;
    return seq > this.loadedSeq; // at or before the load: the load had it (or its removal)
  }

  onThread(message) {
    const thread = message.thread;
    if (!thread || typeof thread.id !== "number") return;
    const seq = Number(message.seq ?? thread.seq);
    if (this.isNew(thread.id, seq)) {
      this.threads.set(thread.id, thread);
      this.seqs.set(thread.id, seq);
      this.render();
      this.recompute();
    }
    this.answered(message.ref, thread);
  }

  onRemoved(message) {
    const seq = Number(message.seq);
    if (!this.isNew(message.id, seq)) return;
    this.seqs.set(message.id, seq);
    this.threads.delete(message.id);
    if (this.activeId === message.id) this.activeId = null;
    this.render();
    this.recompute();
  }

  onRefused({ ref, reason }) {
    const waiting = ref ? this.pending.get(ref) : null;
    if (ref && !waiting) return; // another tab's, or already answered
    if (waiting) {
      this.pending.delete(ref);
      this.setBusy(waiting.form, false);
    }
    this.showError(`Not saved: ${reason || "refused"}.`);
  }

  answered(ref, thread) {
    const waiting = ref ? this.pending.get(ref) : null;
    if (!waiting) return;
    this.pending.delete(ref);
    this.setBusy(waiting.form, false);
    this.showError("");
    waiting.done?.(thread);
  }

  // -- what this page sends --------------------------------------------------------

  /** Send `message`; `form` is busy until the answer, `done(thread)` runs on success. */
  send(message, { form = null, done = null } = {}) {
    const ref = `c${++this.refCount}`;
    if (!sendExtension(this.provider, { ...message, ref })) {
      this.showError("Not connected: nothing was sent. Try again once the page is connected.");
      return false;
    }
    this.pending.set(ref, { form, done });
    this.setBusy(form, true);
    return true;
  }

  setBusy(form, busy) {
    if (!form) return;
    form.classList.toggle("busy", busy);
    for (const control of form.querySelectorAll("button[type=submit]")) control.disabled = busy;
  }

  showError(text) {
    const error = this.el.error;
    if (!error) return;
    error.textContent = text;
    error.hidden = !text;
  }

  // -- the new thread --------------------------------------------------------------

  /** Comment on the editor's selection: open the box (Mod-Alt-m and the Comment button). */
  compose() {
    if (!this.flags.comments_on || !this.view) return false;
    this.show(true);
    if (!this.flags.can_comment) {
      this.showError("You can read the comments here but not write them.");
      return true;
    }
    const { from, to } = this.view.state.selection.main;
    if (from === to) {
      this.showError("Select the text you want to comment on first.");
      return true;
    }
    this.showError("");
    this.draft = anchorFor(this.view.state, from, to);
    const { composer, composerQuote, composerText } = this.el;
    composerQuote.textContent = this.draft.quote;
    composer.hidden = false;
    composerText.focus();
    this.recompute();
    return true;
  }

  submitDraft() {
    const body = this.el.composerText.value.trim();
    if (!this.draft || !body) {
      this.el.composerText.focus();
      return;
    }
    const { anchor, quote, prefix, suffix } = this.draft;
    this.send(
      { type: "thread.create", anchor, quote, prefix, suffix, body },
      {
        form: this.el.composer,
        done: (thread) => {
          this.closeDraft();
          this.setFilterFor(thread);
          this.setActive(thread.id);
          this.cards.get(thread.id)?.el.focus({ preventScroll: false });
        },
      },
    );
  }

  cancelDraft() {
    this.closeDraft();
    this.view?.focus();
  }

  closeDraft() {
    this.draft = null;
    if (this.el.composer) {
      this.el.composer.hidden = true;
      this.el.composerText.value = "";
      this.setBusy(this.el.composer, false);
    }
    this.recompute();
  }

  // -- the panel -------------------------------------------------------------------

  show(on, { keep = true } = {}) {
    const { pane, toggle } = this.el;
    if (!pane) return;
    on = on && this.flags.comments_on;
    this.shown = on;
    pane.hidden = !on;
    this.app.classList.toggle("with-comments", on);
    toggle?.setAttribute("aria-pressed", String(on));
    if (keep) {
      try {
        localStorage.setItem(STORAGE_KEY, String(on));
      } catch {
        // private mode: not remembered
      }
    }
    if (!on && this.draft) this.closeDraft();
  }

  applyFlags() {
    const { comments_on: on, can_comment: can } = this.flags;
    const { pane, toggle, add } = this.el;
    if (toggle) toggle.hidden = !on;
    if (add) add.hidden = !on || !can;
    if (!on) this.show(false, { keep: false });
    else if (pane && pane.hidden && storedPreference()) this.show(true, { keep: false });
    if (!can && this.draft) this.closeDraft();
    if (pane) pane.dataset.canComment = String(can);
    this.view?.dispatch({ effects: this.buttonSlot.reconfigure(on && can ? this.button : []) });
  }

  setFilter(filter) {
    this.filter = filter;
    for (const control of this.el.filters) control.setAttribute("aria-pressed", String(control.dataset.filter === filter));
    this.layout(true);
  }

  /** A filter that shows `thread`. */
  setFilterFor(thread) {
    if (this.filter === "all") return;
    const wanted = thread.resolved ? "resolved" : "open";
    if (this.filter !== wanted) this.setFilter(wanted);
  }

  /** Mark thread `id` (or none) as the one looked at, in the panel and in the text. */
  setActive(id) {
    if (this.activeId === id) return;
    this.cards.get(this.activeId)?.el.classList.remove("is-active");
    this.activeId = id;
    const card = this.cards.get(id);
    card?.el.classList.add("is-active");
    this.draw();
  }

  /** A highlight was clicked (or the thread is wanted): show it in the panel. */
  focusThread(id) {
    const thread = this.threads.get(id);
    if (!thread) return;
    if (!this.shown) this.show(true);
    this.setFilterFor(thread);
    this.setActive(id);
    this.cards.get(id)?.el.scrollIntoView({ block: "nearest" });
  }

  /** A thread's quote was pressed: show its text in the editor. */
  showInText(id) {
    this.setActive(id);
    const position = this.positions.get(id);
    if (!position || !this.view) return;
    if (window.matchMedia(NARROW).matches) this.show(false); // the sheet covers the text
    this.view.dispatch({ effects: EditorView.scrollIntoView(position.from, { y: "center" }) });
  }

  /** Bring the cards in line with the threads (a card is rebuilt when its thread changed). */
  render() {
    const { list } = this.el;
    if (!list) return;
    const focused = document.activeElement;
    const selection = focused && "selectionStart" in focused ? [focused.selectionStart, focused.selectionEnd] : null;
    const flagsKey = `${this.flags.can_comment}`;
    for (const [id, card] of this.cards) {
      if (!this.threads.has(id)) {
        card.el.remove();
        this.cards.delete(id);
      }
    }
    for (const [id, thread] of this.threads) {
      let card = this.cards.get(id);
      if (!card) {
        card = this.newCard(id);
        this.cards.set(id, card);
      }
      const key = `${thread.seq}:${flagsKey}`;
      if (card.key !== key) {
        card.key = key;
        this.fillCard(card, thread);
      }
    }
    this.updateCount();
    this.layout(true);
    // A box someone is typing in may have moved with its card: give it back its focus.
    if (focused && focused.isConnected && document.activeElement !== focused) {
      focused.focus({ preventScroll: true });
      if (selection) focused.setSelectionRange(...selection);
    }
  }

  updateCount() {
    const open = [...this.threads.values()].filter((t) => !t.resolved).length;
    if (this.el.count) {
      this.el.count.textContent = String(open);
      this.el.count.hidden = open === 0;
    }
    this.el.toggle?.setAttribute("aria-label", `Comments: ${open} open`);
  }

  newCard(id) {
    const el = element("li", "thread");
    el.dataset.threadId = String(id);
    el.tabIndex = -1;
    el.addEventListener("click", (event) => {
      if (event.target.closest("button, textarea, a, form")) return;
      this.setActive(id);
      const position = this.positions.get(id);
      if (position && this.view) this.view.dispatch({ effects: EditorView.scrollIntoView(position.from, { y: "center" }) });
    });
    const head = element("div", "thread-head");
    const quote = button("", "thread-quote", () => this.showInText(id));
    quote.title = "Show in the text";
    const quoteText = element("span", "thread-quote-text");
    quote.append(quoteText);
    const detached = element("span", "thread-label detached", "detached");
    detached.title = "The commented text was deleted";
    detached.hidden = true;
    const resolved = element("span", "thread-label resolved");
    head.append(quote, detached, resolved);
    const comments = element("ol", "thread-comments");
    const actions = element("div", "thread-actions");
    const resolve = button("", "link thread-resolve", () => {
      const thread = this.threads.get(id);
      if (thread) this.send({ type: "thread.resolve", thread: id, resolved: !thread.resolved });
    });
    actions.append(resolve);
    const reply = this.newReply(id);
    el.append(head, comments, actions, reply);
    return { el, key: "", quoteText, detached, resolved, comments, resolve, actions, reply };
  }

  newReply(id) {
    const form = element("form", "reply-form");
    const label = element("label", "visually-hidden", "Reply");
    const textarea = element("textarea", "comment-box");
    textarea.id = `reply-${id}`;
    label.htmlFor = textarea.id;
    textarea.rows = 1;
    textarea.placeholder = "Reply…";
    boxKeys(textarea, () => textarea.blur()); // what was written stays
    const send = element("button", "button small primary", "Reply");
    send.type = "submit";
    form.append(label, textarea, send);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = textarea.value.trim();
      if (!body) return;
      this.send({ type: "comment.create", thread: id, body }, { form, done: () => (textarea.value = "") });
    });
    return form;
  }

  fillCard(card, thread) {
    const can = this.flags.can_comment;
    card.quoteText.textContent = thread.quote || "…";
    card.el.classList.toggle("is-resolved", thread.resolved);
    card.resolved.hidden = !thread.resolved;
    card.resolved.textContent = thread.resolved_by ? `Resolved by ${thread.resolved_by}` : "Resolved";
    card.resolve.textContent = thread.resolved ? "Reopen" : "Resolve";
    card.actions.hidden = !can;
    card.reply.hidden = !can || thread.resolved;
    const comments = Array.isArray(thread.comments) ? thread.comments : [];
    card.comments.replaceChildren(...comments.map((comment) => this.commentItem(comment)));
  }

  mine(comment) {
    return this.userId !== null && comment.author?.user_id === this.userId && !comment.deleted;
  }

  commentItem(comment) {
    const item = element("li", "comment");
    item.dataset.commentId = String(comment.id);
    const author = comment.author || {};
    const meta = element("div", "comment-meta");
    meta.append(...authorNodes(author), timeElement(comment.created));
    if (comment.edited && !comment.deleted) {
      const edited = element("span", "edited", "(edited)");
      edited.title = new Date(comment.edited).toLocaleString();
      meta.append(edited);
    }
    item.append(meta);
    if (author.banned) item.classList.add("by-banned");
    if (comment.deleted) {
      item.classList.add("is-deleted");
      item.append(element("p", "comment-body deleted", "Comment deleted"));
      return item;
    }
    const editing = this.editing.get(comment.id);
    if (editing) {
      item.append(editing);
      return item;
    }
    const body = element("p", "comment-body");
    body.append(...bodyNodes(comment.body || ""));
    item.append(body);
    if (this.mine(comment)) {
      if (this.flags.can_comment) item.append(this.ownActions(comment));
    } else if (this.reportUrl) {
      const actions = element("div", "comment-actions");
      const report = element("a", "comment-report", "Report");
      report.href = `${this.reportUrl}?comment=${comment.id}`;
      report.setAttribute("aria-label", `Report this comment by ${author.name || "someone"}`);
      actions.append(report);
      item.append(actions);
    }
    return item;
  }

  ownActions(comment) {
    const actions = element("div", "comment-actions");
    if (this.confirming.has(comment.id)) {
      const question = element("span", "confirm", "Delete this comment?");
      const yes = button("Delete", "link danger", () => {
        this.confirming.delete(comment.id);
        this.rerender(comment.id, ".comment-edit");
        this.send({ type: "comment.delete", comment: comment.id });
      });
      const no = button("Cancel", "link", () => {
        this.confirming.delete(comment.id);
        this.rerender(comment.id, ".comment-edit");
      });
      actions.append(question, yes, no);
      return actions;
    }
    const edit = button("Edit", "link comment-edit", () => this.startEdit(comment));
    const remove = button("Delete", "link comment-delete", () => {
      this.confirming.add(comment.id);
      this.rerender(comment.id, ".confirm + button");
    });
    actions.append(edit, remove);
    return actions;
  }

  startEdit(comment) {
    const form = element("form", "edit-form");
    const label = element("label", "visually-hidden", "Edit your comment");
    const textarea = element("textarea", "comment-box");
    textarea.id = `edit-${comment.id}`;
    label.htmlFor = textarea.id;
    textarea.value = comment.body;
    const stop = () => {
      this.editing.delete(comment.id);
      this.rerender(comment.id, ".comment-edit");
    };
    boxKeys(textarea, stop);
    const save = element("button", "button small primary", "Save");
    save.type = "submit";
    const cancel = button("Cancel", "button small", stop);
    const row = element("div", "form-row");
    row.append(save, cancel);
    form.append(label, textarea, row);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = textarea.value.trim();
      if (!body) return;
      if (body === comment.body) {
        stop();
        return;
      }
      this.send({ type: "comment.edit", comment: comment.id, body }, { form, done: stop });
    });
    this.editing.set(comment.id, form);
    this.rerender(comment.id);
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
  }

  /** Draw the comment `id`'s thread again (its edit or delete state changed); focus `selector` in it. */
  rerender(commentId, selector = null) {
    for (const [id, thread] of this.threads) {
      if (!thread.comments?.some((c) => c.id === commentId)) continue;
      const card = this.cards.get(id);
      this.fillCard(card, thread);
      if (selector) card.el.querySelector(`[data-comment-id="${commentId}"] ${selector}`)?.focus();
    }
  }

  // -- anchors -----------------------------------------------------------------------

  schedule() {
    const now = performance.now();
    if (this.timer === null) this.pendingSince = now;
    else if (now - this.pendingSince >= RECOMPUTE_MAX_MS) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.recompute(), RECOMPUTE_MS);
  }

  /** Resolve every anchor against the text as it is now, then draw. */
  recompute() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.view) return;
    const state = this.view.state;
    if (this.ytext.length !== state.doc.length) {
      this.schedule(); // the editor has not caught up with the Y.Text yet
      return;
    }
    this.positions = new Map();
    for (const [id, thread] of this.threads) this.positions.set(id, resolveAnchor(state, thread.anchor));
    if (this.draft) this.draft.position = resolveAnchor(state, this.draft.anchor);
    this.draw();
    this.layout();
  }

  draw() {
    if (!this.view) return;
    const ranges = [];
    if (this.flags.comments_on) {
      for (const [id, thread] of this.threads) {
        const position = this.positions.get(id);
        if (thread.resolved || !position || position.from >= position.to) continue;
        ranges.push({ id, ...position, active: id === this.activeId });
      }
      if (this.draft?.position) ranges.push({ id: 0, ...this.draft.position, draft: true });
    }
    drawMarks(this.view, ranges);
  }

  /** The cards in document order, filtered, with their "detached" labels; the DOM touched only on change. */
  layout(force = false) {
    const { list, empty } = this.el;
    if (!list) return;
    const where = (id) => {
      const position = this.positions.get(id);
      return position ? [0, position.from, position.to] : [1, 0, 0]; // text not here yet: last
    };
    const ids = [...this.threads.keys()].sort((a, b) => {
      const [pa, fa, ta] = where(a);
      const [pb, fb, tb] = where(b);
      return pa - pb || fa - fb || ta - tb || a - b;
    });
    const detached = (id) => {
      const position = this.positions.get(id);
      // Text this page does not have, once synced, is gone as far as it can tell.
      return position ? position.from >= position.to : this.synced;
    };
    const key = ids.map((id) => `${id}${detached(id) ? "d" : ""}`).join(",");
    if (!force && key === this.layoutKey) return;
    this.layoutKey = key;
    const focused = document.activeElement;
    let visible = 0;
    let previous = null;
    for (const id of ids) {
      const card = this.cards.get(id);
      const thread = this.threads.get(id);
      if (!card || !thread) continue;
      const isDetached = detached(id);
      card.detached.hidden = !isDetached;
      card.el.classList.toggle("is-detached", isDetached);
      card.el.classList.toggle("is-active", id === this.activeId);
      const shown = this.filter === "all" || (this.filter === "resolved") === Boolean(thread.resolved);
      card.el.hidden = !shown;
      if (shown) visible++;
      // Move a card only when it is out of place.
      const expected = previous ? previous.nextElementSibling : list.firstElementChild;
      if (expected !== card.el) {
        if (previous) previous.after(card.el);
        else list.prepend(card.el);
      }
      previous = card.el;
    }
    if (focused && focused.isConnected && document.activeElement !== focused) focused.focus({ preventScroll: true });
    if (empty) {
      empty.hidden = visible > 0;
      empty.textContent = FILTER_EMPTY[this.filter] || "";
      if (this.filter !== "resolved" && this.flags.can_comment) {
        empty.textContent += " Select text and press Comment to start one.";
      }
    }
  }
}
