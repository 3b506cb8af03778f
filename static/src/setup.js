// The CodeMirror configuration of the editor: Markdown, wrapping, keys and theme.
import { Compartment, EditorState, Prec } from "@codemirror/state";
import {
  EditorView,
  drawSelection,
  dropCursor,
  highlightActiveLine,
  highlightSpecialChars,
  keymap,
  placeholder,
  rectangularSelection,
  ViewPlugin,
} from "@codemirror/view";
import { defaultKeymap } from "@codemirror/commands";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { markdownKeymap } from "@codemirror/lang-markdown";
import { tags } from "@lezer/highlight";

import { cursorLabels } from "./cursors.js";
import { markdownSupport } from "./markdown.js";

const MONO = 'ui-monospace, "SF Mono", SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace';
const DARK = "(prefers-color-scheme: dark)";

// Colours come from CSS variables, set for the light and the dark scheme in
// static/css/editor.css (they reach into the editor's shadow root by inheritance).
export const theme = EditorView.theme({
  "&": { height: "100%", fontSize: "15px", backgroundColor: "var(--panel)", color: "var(--text)" },
  "&.cm-focused": { outline: "none" },
  ".cm-scroller": { fontFamily: MONO, lineHeight: "1.65", overflow: "auto" },
  ".cm-content": {
    maxWidth: "76ch",
    margin: "0 auto",
    padding: "2rem var(--editor-inline-padding, 1.5rem) 40vh",
    caretColor: "var(--accent)",
  },
  ".cm-line": { padding: "0 2px" },
  ".cm-activeLine": { backgroundColor: "transparent" },
  "&.cm-focused:not(.cm-readonly) .cm-activeLine": { backgroundColor: "var(--editor-active-line)" },
  "&.cm-readonly .cm-content": { caretColor: "transparent" },
  "&.cm-readonly .cm-cursorLayer": { display: "none" },
  "&.cm-focused .cm-cursor": { borderLeftColor: "var(--accent)", borderLeftWidth: "2px" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, ::selection": {
    backgroundColor: "var(--editor-selection)",
  },
  ".cm-selectionBackground": { backgroundColor: "var(--editor-selection-blurred)" },
  ".cm-selectionMatch": { backgroundColor: "var(--editor-match)" },
  ".cm-placeholder": { color: "var(--editor-mark)", fontStyle: "italic" },
  ".cm-searchMatch": { backgroundColor: "var(--editor-search)", outline: "1px solid var(--editor-search-line)" },
  ".cm-panels": { backgroundColor: "var(--bg)", color: "var(--text)" },
  ".cm-panels.cm-panels-bottom": { borderTop: "1px solid var(--line)" },
  // Remote cursors (static/src/cursors.js): a thin caret; the name shows when the
  // person arrives or moves, and on hover (a few pixels around the caret).
  ".cm-ySelectionCaret": { borderLeftWidth: "2px", borderRightWidth: "0", marginLeft: "-1px", marginRight: "-1px" },
  ".cm-ySelectionCaret::before": { content: '""', position: "absolute", top: "0", bottom: "0", left: "-4px", right: "-4px" },
  ".cm-ySelectionInfo": {
    opacity: "0",
    transition: "opacity .2s",
    top: "-1.35em",
    left: "-2px",
    color: "var(--cursor-ink, #fff)",
    fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    fontSize: "11px",
    fontWeight: "600",
    lineHeight: "1.4",
    padding: "0 5px",
    borderRadius: "4px 4px 4px 0",
    pointerEvents: "none",
  },
  ".cm-ySelectionCaret-recent > .cm-ySelectionInfo, .cm-ySelectionCaret:hover > .cm-ySelectionInfo": { opacity: "1" },
  ".cm-ySelectionCaretDot": { display: "none" },
  // On a dark page the person's colour is too dark for a caret: their light
  // colour draws it and the label (with dark text), and text they select stays dark
  // on that light colour.
  [`@media ${DARK}`]: {
    ".cm-ySelectionCaret": { borderColor: "var(--cursor-light, #e4e7ec) !important" },
    ".cm-ySelectionInfo": { backgroundColor: "var(--cursor-light, #e4e7ec) !important", color: "#1d2330" },
    ".cm-ySelection, .cm-ySelection *, .cm-yLineSelection, .cm-yLineSelection *": { color: "#1d2330" },
  },
});

// Markdown shown as Markdown: headings larger, emphasis visible, syntax marks muted.
export const highlight = HighlightStyle.define([
  { tag: tags.heading1, fontWeight: "700", fontSize: "1.45em" },
  { tag: tags.heading2, fontWeight: "700", fontSize: "1.25em" },
  { tag: tags.heading3, fontWeight: "700", fontSize: "1.1em" },
  { tag: [tags.heading4, tags.heading5, tags.heading6], fontWeight: "700" },
  { tag: tags.strong, fontWeight: "700" },
  { tag: tags.emphasis, fontStyle: "italic" },
  { tag: tags.strikethrough, textDecoration: "line-through" },
  { tag: tags.link, color: "var(--accent)" },
  { tag: tags.url, color: "var(--muted)", textDecoration: "underline" },
  { tag: tags.monospace, color: "var(--editor-code)" },
  { tag: tags.quote, color: "var(--editor-quote)", fontStyle: "italic" },
  { tag: [tags.processingInstruction, tags.contentSeparator, tags.meta, tags.comment], color: "var(--editor-mark)" },
]);

// CodeMirror's own parts (the search panel's fields and buttons) follow the scheme too.
const scheme = new Compartment();
const darkScheme = () => EditorView.darkTheme.of(window.matchMedia(DARK).matches);
const followScheme = ViewPlugin.define((view) => {
  const query = window.matchMedia(DARK);
  const changed = () => view.dispatch({ effects: scheme.reconfigure(darkScheme()) });
  query.addEventListener("change", changed);
  return { destroy: () => query.removeEventListener("change", changed) };
});

/** The editor's extensions, apart from collaboration and rights (added by the caller). */
export function baseExtensions({ label, undoKeymap }) {
  return [
    highlightSpecialChars(),
    drawSelection(),
    dropCursor(),
    rectangularSelection(),
    EditorState.allowMultipleSelections.of(true),
    highlightActiveLine(),
    highlightSelectionMatches(),
    markdownSupport(),
    Prec.high(keymap.of(markdownKeymap)), // Enter continues lists and quotes
    syntaxHighlighting(highlight),
    EditorView.lineWrapping,
    placeholder("Start writing… Markdown works: # heading, **bold**, - list"),
    // Undo and redo go to the Y.UndoManager (own changes only), so the history
    // extension is not used. Tab is left alone: it moves the focus out of the editor.
    keymap.of([...undoKeymap, ...searchKeymap, ...defaultKeymap]),
    EditorView.contentAttributes.of({ "aria-label": label, spellcheck: "true" }),
    theme,
    scheme.of(darkScheme()),
    followScheme,
    cursorLabels,
  ];
}
