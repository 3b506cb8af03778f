// The CodeMirror configuration of the editor: Markdown, wrapping, keys and theme.
import { EditorState, Prec } from "@codemirror/state";
import {
  EditorView,
  drawSelection,
  dropCursor,
  highlightActiveLine,
  highlightSpecialChars,
  keymap,
  placeholder,
  rectangularSelection,
} from "@codemirror/view";
import { defaultKeymap } from "@codemirror/commands";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { markdownKeymap } from "@codemirror/lang-markdown";
import { tags } from "@lezer/highlight";

import { markdownSupport } from "./markdown.js";

const MONO = 'ui-monospace, "SF Mono", SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace';

export const theme = EditorView.theme({
  "&": { height: "100%", fontSize: "15px", backgroundColor: "#fff", color: "#1d2330" },
  "&.cm-focused": { outline: "none" },
  ".cm-scroller": { fontFamily: MONO, lineHeight: "1.65", overflow: "auto" },
  ".cm-content": {
    maxWidth: "76ch",
    margin: "0 auto",
    padding: "2rem 1.5rem 40vh",
    caretColor: "#3b5bdb",
  },
  ".cm-line": { padding: "0 2px" },
  ".cm-activeLine": { backgroundColor: "transparent" },
  "&.cm-focused:not(.cm-readonly) .cm-activeLine": { backgroundColor: "#f5f7ff" },
  "&.cm-readonly .cm-content": { caretColor: "transparent" },
  "&.cm-readonly .cm-cursorLayer": { display: "none" },
  "&.cm-focused .cm-cursor": { borderLeftColor: "#3b5bdb", borderLeftWidth: "2px" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, ::selection": {
    backgroundColor: "#d0dcff",
  },
  ".cm-selectionBackground": { backgroundColor: "#e3e8f7" },
  ".cm-selectionMatch": { backgroundColor: "#fff3bf" },
  ".cm-placeholder": { color: "#98a2b3", fontStyle: "italic" },
  ".cm-searchMatch": { backgroundColor: "#ffec99", outline: "1px solid #fcc419" },
  ".cm-panels": { backgroundColor: "#f6f7f9", color: "#1d2330" },
  ".cm-panels.cm-panels-bottom": { borderTop: "1px solid #e3e6ec" },
  // Remote cursors: the name stays visible, in the person's colour.
  ".cm-ySelectionCaret": { borderLeftWidth: "2px", borderRightWidth: "0", marginLeft: "-1px", marginRight: "-1px" },
  ".cm-ySelectionInfo": {
    opacity: "1",
    top: "-1.35em",
    left: "-2px",
    fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    fontSize: "11px",
    fontWeight: "600",
    lineHeight: "1.4",
    padding: "0 5px",
    borderRadius: "4px 4px 4px 0",
    pointerEvents: "none",
  },
  ".cm-ySelectionCaretDot": { display: "none" },
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
  { tag: tags.link, color: "#3b5bdb" },
  { tag: tags.url, color: "#667085", textDecoration: "underline" },
  { tag: tags.monospace, color: "#c2255c" },
  { tag: tags.quote, color: "#475467", fontStyle: "italic" },
  { tag: [tags.processingInstruction, tags.contentSeparator], color: "#98a2b3" },
  { tag: tags.meta, color: "#98a2b3" },
  { tag: tags.comment, color: "#98a2b3" },
]);

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
  ];
}
