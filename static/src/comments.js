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
import { ThreadCard, boxKeys, commentLimit } from "./comment-cards.js";
import { limitBox, refreshTimes } from "./talk.js";

const RECOMPUTE_MS = 120; // the anchors are resolved again this long after the last change...
const RECOMPUTE_MAX_MS = 600; // ...and at least this often while changes go on
const TIMES_MS = 30_000;
const STORAGE_KEY = "collab.comments";
const NARROW = "(max-width: 800px)"; // the panel is a sheet over the editor (static/css/comments.css)
const COMMENTING_ROLES = new Set(["commenter", "editor", "owner"]);
const FILTER_EMPTY = { open: "No open comments.", resolved: "No resolved comments.", all: "No comments yet." };

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
    this.synced = false;
    this.positions = new Map(); // id -> {from, to} (from === to: detached) | null (text not here yet)
    this.draft = null; // the new thread being written: its anchor, quote and context
    this.filter = "open";
    this.activeId = null;
    this.cards = new Map(); // id -> its ThreadCard
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
    if (el.composerText) {
      boxKeys(el.composerText, () => this.cancelDraft());
      this.draftTooLong = limitBox(el.composerText, commentLimit());
    }
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
    if (!this.draft || !body || this.draftTooLong()) {
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

  /** A thread's quote was pressed: show its text in the editor (`cover`: close the sheet over it on a phone). */
  showInText(id, { cover = true } = {}) {
    this.setActive(id);
    const position = this.positions.get(id);
    if (!position || !this.view) return;
    if (cover && window.matchMedia(NARROW).matches) this.show(false);
    this.view.dispatch({ effects: EditorView.scrollIntoView(position.from, { y: "center" }) });
  }

  /** Bring the cards in line with the threads (a card is rebuilt when its thread changed). */
  render() {
    const { list } = this.el;
    if (!list) return;
    const focused = document.activeElement;
    const selection = focused && "selectionStart" in focused ? [focused.selectionStart, focused.selectionEnd] : null;
    for (const [id, card] of this.cards) {
      if (!this.threads.has(id)) {
        card.el.remove();
        this.cards.delete(id);
      }
    }
    for (const [id, thread] of this.threads) {
      let card = this.cards.get(id);
      if (!card) {
        card = new ThreadCard(id, this);
        this.cards.set(id, card);
      }
      card.show(thread);
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
      card.setDetached(detached(id));
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
