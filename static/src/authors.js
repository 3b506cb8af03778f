// "Authors": the text coloured by who wrote it, in each person's presence colour,
// their name on hover. Off by default; the choice is remembered in this browser.
//
// Every Yjs item carries the id of the client that made it, and the server records
// which person owns each client id as it stores their first edit (authors.json,
// collab/history/authorship.py). So the runs come from the live Y.Doc, not from
// the server: `toDelta` with a snapshot of now against an empty one marks each run
// "added" by its item's client (it works on a garbage-collected doc too), and the
// runs become CodeMirror mark decorations. Text under a client id the page does not
// know yet makes it ask the server again (at most every few seconds); text that
// nobody owns (written before authorship was recorded) stays uncoloured.
import * as Y from "yjs";
import { Compartment, StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView } from "@codemirror/view";

const STORAGE_KEY = "collab.authors";
const DEBOUNCE_MS = 200; // recompute this long after the last change...
const MAX_WAIT_MS = 1000; // ...but at least this often while changes go on
const REFETCH_MS = 3000; // ask the server about unknown client ids at most this often
const COLOR = /^#[0-9a-f]{6}$/i;

const setMarks = StateEffect.define();

// The marks, mapped through edits until the next recompute replaces them.
const marksField = StateField.define({
  create: () => Decoration.none,
  update(marks, tr) {
    for (const effect of tr.effects) if (effect.is(setMarks)) return effect.value;
    return tr.docChanged ? marks.map(tr.changes) : marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

// A light tint of the person's colour behind the text and an underline in it: the
// text keeps the theme's colour, so it reads the same on light and dark pages.
const authorTheme = EditorView.baseTheme({
  ".cm-author": { borderRadius: "2px" },
  "&light .cm-author": {
    backgroundColor: "color-mix(in srgb, var(--author) 13%, transparent)",
    boxShadow: "inset 0 -2px 0 var(--author)",
  },
  "&dark .cm-author": {
    backgroundColor: "color-mix(in srgb, var(--author) 30%, transparent)",
    boxShadow: "inset 0 -2px 0 color-mix(in srgb, var(--author) 55%, white)",
  },
});

function storedPreference() {
  try {
    return localStorage.getItem(STORAGE_KEY) === "true";
  } catch {
    return false; // storage blocked: off, as by default
  }
}

function remember(on) {
  try {
    localStorage.setItem(STORAGE_KEY, String(on));
  } catch {
    // private mode: the choice is not remembered
  }
}

/** Runs of [client id, length] of the visible text, in order (adjacent runs of one client merged). */
export function clientRuns(ytext) {
  const doc = ytext.doc;
  // `user` (not another key) is what toDelta compares to merge the items of one client into one run.
  const delta = ytext.toDelta(Y.snapshot(doc), Y.emptySnapshot, (type, id) => ({ type, user: id.client }));
  const runs = [];
  for (const op of delta) {
    if (typeof op.insert !== "string") continue;
    const client = op.attributes?.ychange?.user;
    const last = runs[runs.length - 1];
    if (last && last[0] === client) last[1] += op.insert.length;
    else runs.push([client, op.insert.length]);
  }
  return runs;
}

/**
 * The Authors view of the editor bound to `ytext`, toggled by `toggle` (aria-pressed).
 * `me`: the visitor ({name, color}), for this page's own text before the server has it.
 */
export class Authors {
  constructor({ ytext, url, me, toggle = null }) {
    this.view = null;
    this.ytext = ytext;
    this.url = url;
    this.me = { name: me.name, color: COLOR.test(me.color) ? me.color : "#667085" };
    this.saved = null;
    this.toggle = toggle;
    this.compartment = new Compartment();
    this.on = false;
    this.known = new Map(); // client id -> {name, color}
    this.asked = new Set(); // client ids the server was asked about
    this.unowned = new Set(); // client ids the server, having all of this page's text, did not know
    this.wanted = false; // text under a client id the server may not have claimed yet is shown
    this.lastFetch = -Infinity;
    this.fetching = null;
    this.fetchTimer = null;
    this.timer = null;
    this.pendingSince = 0;
    this.marks = new Map(); // "name\0color" -> its Decoration
    this.onText = () => this.schedule();
  }

  /** The editor extension (a slot, empty while the view is off). */
  extension() {
    return this.compartment.of([]);
  }

  /**
   * Start, on `view` made with extension(), as this browser last left it.
   * `saved`: the SavedTracker (the server has claimed every client id it confirmed).
   */
  attach(view, { saved = null } = {}) {
    this.view = view;
    this.saved = saved;
    saved?.onChange((isSaved) => {
      if (isSaved && this.on && this.wanted) this.fetchSoon();
    });
    this.toggle?.addEventListener("click", () => this.show(!this.on));
    this.show(storedPreference(), { keep: false });
  }

  /** Show or hide the colours (and remember the choice). */
  show(on, { keep = true } = {}) {
    if (on === this.on) return;
    this.on = on;
    if (keep) remember(on);
    this.toggle?.setAttribute("aria-pressed", String(on));
    this.view.dispatch({ effects: this.compartment.reconfigure(on ? [marksField, authorTheme] : []) });
    if (on) {
      this.ytext.observe(this.onText);
      this.fetch();
      this.compute();
    } else {
      this.ytext.unobserve(this.onText);
      clearTimeout(this.timer);
      clearTimeout(this.fetchTimer);
      this.timer = this.fetchTimer = null;
    }
  }

  schedule() {
    const now = performance.now();
    if (this.timer === null) this.pendingSince = now;
    else if (now - this.pendingSince >= MAX_WAIT_MS) return; // due soon anyway
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.compute(), DEBOUNCE_MS);
  }

  authorOf(client) {
    const known = this.known.get(client);
    if (known) return known;
    if (client === this.ytext.doc.clientID) return this.me; // typed here, maybe not stored yet
    return null;
  }

  mark(author) {
    const key = `${author.name}\u0000${author.color}`;
    let mark = this.marks.get(key);
    if (!mark) {
      mark = Decoration.mark({
        class: "cm-author",
        attributes: { title: author.name, style: `--author: ${author.color}` },
      });
      this.marks.set(key, mark);
    }
    return mark;
  }

  /** Colour the text as the Y.Text is now. */
  compute() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.on) return;
    const runs = clientRuns(this.ytext);
    const length = runs.reduce((sum, [, len]) => sum + len, 0);
    if (length !== this.view.state.doc.length) {
      this.schedule(); // the editor has not caught up with the Y.Text yet
      return;
    }
    const ranges = [];
    let position = 0;
    let previous = null; // the last range, extended while the person stays the same
    let unknown = false;
    let unasked = false;
    for (const [client, len] of runs) {
      const author = this.authorOf(client);
      if (!author && !this.unowned.has(client)) {
        unknown = true;
        unasked ||= !this.asked.has(client);
      }
      const mark = author && this.mark(author);
      if (mark && previous && previous.value === mark && previous.to === position) {
        previous.to += len;
      } else if (mark) {
        previous = { from: position, to: position + len, value: mark };
        ranges.push(previous);
      }
      position += len;
    }
    const marks = Decoration.set(
      ranges.map(({ from, to, value }) => value.range(from, to)),
      true,
    );
    this.view.dispatch({ effects: setMarks.of(marks) });
    // New ids: ask. Ids asked about while this page had unsaved text: ask again once it is saved.
    this.wanted = unknown;
    if (unasked) this.fetchSoon();
  }

  fetchSoon() {
    if (this.fetching || this.fetchTimer !== null) return;
    const wait = Math.max(0, this.lastFetch + REFETCH_MS - performance.now());
    this.fetchTimer = setTimeout(() => {
      this.fetchTimer = null;
      this.fetch();
    }, wait);
  }

  /** Ask the server who owns each client id of the document. */
  async fetch() {
    if (this.fetching) return this.fetching;
    this.lastFetch = performance.now();
    // Ids the server has every edit of (all, once this page is saved) and does
    // not know belong to nobody: they are not asked about again.
    const settled = !this.saved || this.saved.saved;
    const asked = new Set(this.ytext.doc.store.clients.keys());
    for (const id of asked) this.asked.add(id);
    this.fetching = (async () => {
      try {
        const response = await fetch(this.url, {
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "application/json" },
        });
        if (!response.ok) throw new Error(`authors: HTTP ${response.status}`);
        const owners = await response.json();
        for (const [id, { name, color }] of Object.entries(owners)) {
          if (typeof name === "string" && COLOR.test(color)) this.known.set(Number(id), { name, color });
        }
        if (settled) for (const id of asked) if (!this.known.has(id)) this.unowned.add(id);
      } catch (err) {
        console.warn("collab: could not load the authors", err);
      } finally {
        this.fetching = null;
      }
      if (this.on) this.compute();
    })();
    return this.fetching;
  }
}
