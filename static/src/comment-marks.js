// Comments in the editor: a thread's anchor made from a selection, resolved back to
// a range as the text changes, and the highlights drawn over those ranges.
//
// An anchor is two Yjs relative positions (y-codemirror.next's sync config maps
// CodeMirror offsets to them and back): the start tied to the first quoted
// character (assoc 0), the end to the last one (assoc -1). Text typed just before
// or just after the range stays outside it, text typed inside it is in it, and once
// every quoted character is deleted both ends resolve to the same place: the thread
// is detached. The highlights follow edits at once (mapped through each change) and
// are computed again from the anchors shortly after (and whenever a thread changes:
// a restore that brings the text back gives a detached thread new anchors).
import * as Y from "yjs";
import { ySyncFacet } from "y-codemirror.next";
import { StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView, showTooltip } from "@codemirror/view";

export const CONTEXT = 100; // characters kept before and after a quote
export const MAX_QUOTE = 2000; // the server's limit on a quote

const setMarks = StateEffect.define();

const marksField = StateField.define({
  create: () => Decoration.none,
  update(marks, tr) {
    for (const effect of tr.effects) if (effect.is(setMarks)) return effect.value;
    return tr.docChanged ? marks.map(tr.changes) : marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

// Colours from CSS variables set on the editor's host (static/css/comments.css).
const marksTheme = EditorView.theme({
  ".cm-comment": {
    backgroundColor: "var(--comment-mark)",
    borderBottom: "2px solid var(--comment-line)",
    cursor: "pointer",
  },
  ".cm-comment .cm-comment": { backgroundColor: "var(--comment-mark-nested)" },
  ".cm-comment-active, .cm-comment .cm-comment-active": {
    backgroundColor: "var(--comment-mark-active)",
    borderBottomColor: "var(--comment-line-active)",
  },
  ".cm-comment-draft": { backgroundColor: "var(--comment-mark-draft)", borderBottom: "2px dashed var(--comment-line)" },
  ".cm-tooltip.cm-comment-tooltip": { border: "0", background: "transparent" },
  // Only while the editor (or the button itself) has the focus: not on a selection left behind.
  "&:not(.cm-focused):not(:focus-within) .cm-comment-tooltip": { display: "none" },
  ".cm-comment-button": {
    font: "600 13px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    padding: "4px 10px",
    borderRadius: "6px",
    border: "1px solid var(--comment-line)",
    backgroundColor: "var(--panel)",
    color: "var(--text)",
    boxShadow: "0 2px 6px rgba(16, 24, 40, .18)",
    cursor: "pointer",
  },
  ".cm-comment-button:hover": { backgroundColor: "var(--comment-mark)" },
});

/** The selection `from`..`to` of `state` as a new thread's anchor, quote and context. */
export function anchorFor(state, from, to) {
  const ySync = state.facet(ySyncFacet);
  const doc = state.doc;
  return {
    anchor: {
      start: Y.relativePositionToJSON(ySync.toYPos(from, 0)),
      end: Y.relativePositionToJSON(ySync.toYPos(to, -1)),
    },
    quote: doc.sliceString(from, Math.min(to, from + MAX_QUOTE)),
    prefix: doc.sliceString(Math.max(0, from - CONTEXT), from),
    suffix: doc.sliceString(to, Math.min(doc.length, to + CONTEXT)),
  };
}

/**
 * Where `anchor` is in the text now: {from, to} (from === to: detached), or null
 * when this page does not have the text it names (not synced yet, or on its way).
 */
export function resolveAnchor(state, anchor) {
  const ytext = state.facet(ySyncFacet).ytext;
  const at = (json) => {
    // Not through undone deletions: an undo writes the text anew, and only the page
    // that undid knows which old characters the new ones stand for. Every page shows
    // the same: the thread stays detached (a restore attaches it again, on the server).
    const position = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), ytext.doc, false);
    return position && position.type === ytext ? position.index : null;
  };
  try {
    const from = at(anchor.start);
    const to = at(anchor.end);
    if (from === null || to === null) return null; // an item this page does not have (yet)
    return { from, to: Math.max(from, to) };
  } catch {
    return null; // not a position at all
  }
}

/**
 * The editor side of the comments: `onClick(id)` when a highlight is clicked.
 * drawMarks(view, ranges) replaces the highlights.
 */
export function commentMarks({ onClick }) {
  return [
    marksField,
    marksTheme,
    EditorView.domEventHandlers({
      click(event) {
        const mark = event.target instanceof Element ? event.target.closest("[data-thread]") : null;
        if (mark) onClick(Number(mark.dataset.thread));
        return false; // the click still places the cursor
      },
    }),
  ];
}

const cache = new Map();

function decoration(id, active, draft) {
  const key = `${id}:${active}:${draft}`;
  let mark = cache.get(key);
  if (!mark) {
    const className = draft ? "cm-comment-draft" : active ? "cm-comment cm-comment-active" : "cm-comment";
    mark = Decoration.mark({ class: className, attributes: draft ? {} : { "data-thread": String(id) } });
    cache.set(key, mark);
  }
  return mark;
}

/** Highlight `ranges`: [{id, from, to, active, draft}] (empty ones are left out). */
export function drawMarks(view, ranges) {
  const marks = ranges
    .filter(({ from, to }) => from < to && to <= view.state.doc.length)
    .map(({ id, from, to, active, draft }) => decoration(id, Boolean(active), Boolean(draft)).range(from, to));
  view.dispatch({ effects: setMarks.of(Decoration.set(marks, true)) });
}

/** A small "Comment" button by the selection; `onPress` when it is pressed. */
export function commentButton(onPress) {
  const tooltips = (state) => {
    const range = state.selection.main;
    if (range.empty) return [];
    const create = () => {
      const dom = document.createElement("div");
      dom.className = "cm-comment-tooltip";
      const press = document.createElement("button");
      press.type = "button";
      press.className = "cm-comment-button";
      press.textContent = "Comment";
      press.title = "Comment on the selected text (Ctrl+Alt+M)";
      press.addEventListener("mousedown", (event) => event.preventDefault()); // the selection stays
      press.addEventListener("click", onPress);
      dom.append(press);
      return { dom };
    };
    return [{ pos: range.head, above: range.head < range.anchor, arrow: false, create }];
  };
  const field = StateField.define({
    create: tooltips,
    update: (value, tr) => (tr.docChanged || tr.selection ? tooltips(tr.state) : value),
    provide: (f) => showTooltip.computeN([f], (state) => state.field(f)),
  });
  return field;
}
