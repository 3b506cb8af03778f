// Remote cursors: a thin caret in the person's colour, their name only for a
// moment when they arrive, move or type, and on hover (as in Google Docs), so
// that names do not sit on the text of the line above.
//
// y-codemirror.next draws each caret (.cm-ySelectionCaret, its name in
// .cm-ySelectionInfo); this plugin marks the recent ones and gives each the
// colours the theme needs (static/src/setup.js). CodeMirror ignores changes
// inside widgets, so marking them costs no redraw.
import { ViewPlugin } from "@codemirror/view";
import { ySyncFacet } from "y-codemirror.next";

export const LABEL_MS = 2500; // how long a name shows after its cursor arrives, moves or types
const INK = "#1d2330"; // dark text, for a label whose colour is too light for white

function luminance(hex) {
  const match = /^#([0-9a-f]{6})$/i.exec(hex || "");
  if (!match) return 0;
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(match[1].slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** White or dark text, whichever reads better on `color`. */
export function inkFor(color) {
  const l = luminance(color);
  return (1.05 / (l + 0.05) >= (l + 0.05) / (luminance(INK) + 0.05)) ? "#fff" : INK;
}

class CursorLabels {
  constructor(view) {
    this.view = view;
    const config = view.state.facet(ySyncFacet);
    this.awareness = config && config.awareness;
    this.ytext = config && config.ytext;
    this.shownUntil = new Map(); // name -> when its label hides
    this.cursors = new Map(); // client id -> its last cursor, as JSON
    this.timer = null;
    this.onChange = ({ added, updated, removed }) => this.changed([...added, ...updated], removed);
    // Typing keeps a cursor's awareness state (it points at the character after
    // it): who typed is read from the clocks that the incoming text advanced.
    this.onText = (event, transaction) => {
      if (transaction.local) return;
      const authors = [];
      transaction.afterState.forEach((clock, client) => {
        if (clock !== transaction.beforeState.get(client)) authors.push(client);
      });
      this.show(authors);
    };
    if (this.awareness) {
      this.awareness.on("change", this.onChange);
      this.ytext.observe(this.onText);
    }
  }

  changed(ids, removed) {
    const states = this.awareness.getStates();
    const moved = ids.filter((id) => {
      const cursor = states.get(id)?.cursor;
      const json = cursor ? JSON.stringify(cursor) : null;
      if (json === null || json === this.cursors.get(id)) return false;
      this.cursors.set(id, json);
      return true;
    });
    for (const id of removed) this.cursors.delete(id);
    this.show(moved);
  }

  /** Show the names of these clients (others than us) for a moment. */
  show(ids) {
    const states = this.awareness.getStates();
    const until = Date.now() + LABEL_MS;
    for (const id of ids) {
      const user = states.get(id)?.user;
      if (id !== this.awareness.clientID && user) this.shownUntil.set(user.name, until);
    }
    this.mark();
  }

  docViewUpdate() {
    this.mark();
  }

  /** Mark the carets whose label shows now, and come back when the next one hides. */
  mark() {
    if (!this.awareness) return;
    const users = new Map();
    this.awareness.getStates().forEach((state) => {
      if (state && state.user) users.set(state.user.name, state.user);
    });
    const now = Date.now();
    let next = Infinity;
    for (const caret of this.view.contentDOM.querySelectorAll(".cm-ySelectionCaret")) {
      const name = caret.querySelector(".cm-ySelectionInfo")?.textContent ?? "";
      const until = this.shownUntil.get(name) ?? 0;
      caret.classList.toggle("cm-ySelectionCaret-recent", until > now);
      if (until > now) next = Math.min(next, until);
      const user = users.get(name);
      if (user && caret.dataset.color !== user.color) {
        caret.dataset.color = user.color;
        caret.style.setProperty("--cursor-ink", inkFor(user.color));
        caret.style.setProperty("--cursor-light", user.colorLight || user.color);
      }
    }
    for (const [name, until] of this.shownUntil) if (until <= now) this.shownUntil.delete(name);
    clearTimeout(this.timer);
    this.timer = next < Infinity ? setTimeout(() => this.mark(), next - now) : null;
  }

  destroy() {
    clearTimeout(this.timer);
    if (this.awareness) {
      this.awareness.off("change", this.onChange);
      this.ytext.unobserve(this.onText);
    }
  }
}

export const cursorLabels = ViewPlugin.fromClass(CursorLabels);
