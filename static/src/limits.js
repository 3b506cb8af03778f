// The server's size limits, applied in the page before a change enters the
// document: one message may hold at most `maxMessage` bytes (4413 above it,
// and daphne drops the connection above that plus 1 MiB) and a document's whole
// encoded state at most `maxDocument` bytes (4507). A change the server would
// refuse never enters the local Y document, where IndexedDB would keep it and
// every reconnection would send it again.
import * as Y from "yjs";
import * as decoding from "lib0/decoding";
import { EditorState } from "@codemirror/state";
import { ySyncAnnotation } from "y-codemirror.next";

const STEP1 = 0;
// Bytes an update adds around its text: the message header, and per change a
// struct's client, clock, origins and parent, plus a deleted range.
const MESSAGE_OVERHEAD = 16;
const CHANGE_OVERHEAD = 96;
// An applied update can grow the encoded document a little more than its own
// size (a deletion splits a struct in two).
const SPLIT_SLACK = 32;

/** UTF-8 bytes of a string, or of a CodeMirror Text's chunks. */
export function utf8Length(chunks) {
  let bytes = 0;
  for (const chunk of typeof chunks === "string" ? [chunks] : chunks) {
    for (let i = 0; i < chunk.length; i++) {
      const code = chunk.charCodeAt(i);
      if (code < 0x80) bytes += 1;
      else if (code < 0x800) bytes += 2;
      else if (code >= 0xd800 && code <= 0xdbff && i + 1 < chunk.length) {
        bytes += 4; // a surrogate pair: one code point of four bytes
        i++;
      } else bytes += 3;
    }
  }
  return bytes;
}

/** "812 KB", "4.2 MB" (1024-based, as the settings are). */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.ceil(bytes / 1024)} KB`;
  const mb = bytes / (1024 * 1024);
  return `${mb < 10 && !Number.isInteger(mb) ? mb.toFixed(1) : Math.round(mb)} MB`;
}

/** A file name made of `title`: no path separators or characters file systems refuse. */
export function fileName(title, suffix = ".md") {
  const base = (title || "")
    .replace(/[\\/:*?"<>|\u0000-\u001f\u007f]+/g, " ")
    .replace(/\s+/g, " ")
    .slice(0, 120)
    .replace(/^[\s.]+|[\s.]+$/g, "");
  return `${base || "document"}${suffix}`;
}

/** Bytes of a sync message carrying an update of `updateBytes`. */
const messageBytes = (updateBytes) => updateBytes + MESSAGE_OVERHEAD;

export class SizeLimits {
  constructor(doc, { maxMessage, maxDocument }) {
    this.doc = doc;
    this.maxMessage = maxMessage > 0 ? maxMessage : Infinity;
    this.maxDocument = maxDocument > 0 ? maxDocument : Infinity;
    // The document's encoded size: measured when a change comes near a limit,
    // plus the updates applied since (an upper bound: they add up to more than
    // the document they make), so that ordinary typing measures nothing. Created
    // with the empty document, before anything is loaded into it.
    this.measured = Y.encodeStateAsUpdate(doc).length;
    this.grown = 0;
    this.exact = true;
    this.listeners = new Set();
    doc.on("update", (update) => {
      this.grown += update.length + SPLIT_SLACK;
      this.exact = false;
    });
  }

  /** "One change may be at most 5 MB and a document at most 4 MB." */
  describe() {
    return `One change may be at most ${formatBytes(this.maxMessage)} and a document at most ${formatBytes(this.maxDocument)}.`;
  }

  onRefused(fn) {
    this.listeners.add(fn);
  }

  /** The CodeMirror extension that drops a change over the limits (and says why). */
  extension() {
    return EditorState.changeFilter.of((tr) => {
      const refusal = this.refusal(tr);
      if (!refusal) return true;
      queueMicrotask(() => this.listeners.forEach((fn) => fn(refusal)));
      return false;
    });
  }

  /** Why the editor transaction `tr` must not enter the document, or null. */
  refusal(tr) {
    // Changes from the Y document (remote edits, undo) are in it already.
    if (!tr.docChanged || tr.annotation(ySyncAnnotation)) return null;
    let units = 0;
    let changes = 0;
    tr.changes.iterChanges((_fromA, _toA, _fromB, _toB, inserted) => {
      units += inserted.length; // line breaks included
      changes += 1;
    });
    const overhead = MESSAGE_OVERHEAD + CHANGE_OVERHEAD * changes;
    // Cheap first: a UTF-16 unit is at most 3 bytes of UTF-8, and the running
    // estimate of the document is at least its size.
    const bound = units * 3 + overhead;
    if (bound <= this.maxMessage && this.measured + this.grown + bound <= this.maxDocument) return null;

    let inserted = 0;
    let deleted = 0;
    tr.changes.iterChanges((fromA, toA, _fromB, _toB, text) => {
      inserted += utf8Length(text.iter());
      if (toA > fromA) deleted += utf8Length(tr.startState.doc.iterRange(fromA, toA));
    });
    const what = tr.isUserEvent("input.paste") ? "paste" : tr.isUserEvent("input.drop") ? "drop" : "change";
    const change = inserted + overhead;
    if (change > this.maxMessage) return { what, over: "message", bytes: change, limit: this.maxMessage };
    // The server drops deleted text from its copy: what this change removes does not count.
    const after = this._exactSize() - deleted + change;
    if (after > this.maxDocument) return { what, over: "document", bytes: after, limit: this.maxDocument };
    return null;
  }

  /**
   * The size the server's copy has: ours also keeps the text we deleted (the
   * undo manager holds on to it), which the server's garbage collection drops.
   * Measured on a copy of the document, only when a change comes near a limit.
   */
  _exactSize() {
    if (!this.exact) {
      const copy = new Y.Doc();
      Y.applyUpdate(copy, Y.encodeStateAsUpdate(this.doc));
      this.measured = Y.encodeStateAsUpdate(copy).length;
      copy.destroy();
      this.grown = 0;
      this.exact = true;
    }
    return this.measured;
  }

  /**
   * Before answering the server's sync step 1, check what the answer would be:
   * every change the server does not have yet, in one message. Over the message
   * limit the server would refuse it (4413) or daphne drop the connection
   * (1006), after every reconnection; call `onTooLarge` and send nothing.
   */
  guard(provider, onTooLarge) {
    const handle = provider.messageHandlers[0];
    provider.messageHandlers[0] = (encoder, decoder, prov, fromServer, messageType) => {
      if (fromServer && this._answerTooLarge(decoding.clone(decoder))) {
        onTooLarge();
        return;
      }
      handle(encoder, decoder, prov, fromServer, messageType);
    };
  }

  _answerTooLarge(decoder) {
    if (decoding.readVarUint(decoder) !== STEP1) return false;
    const serverState = decoding.readVarUint8Array(decoder);
    return messageBytes(Y.encodeStateAsUpdate(this.doc, serverState).length) > this.maxMessage;
  }

  /** Show each refusal in `el`, in plain words, with a way to dismiss it. */
  showRefusalsIn(el) {
    if (!el) return;
    this.onRefused(({ what, over, bytes, limit }) => {
      const title = document.createElement("strong");
      title.textContent = what === "change" ? "This change was not made." : `This ${what} was not added.`;
      const text = document.createElement("span");
      text.textContent =
        over === "message"
          ? ` It is ${formatBytes(bytes)}, and one change can be at most ${formatBytes(limit)}: add it in smaller parts.`
          : ` It would make the document ${formatBytes(bytes)}, and a document can be at most ${formatBytes(limit)}.`;
      const close = button("Dismiss", "button small", () => {
        el.hidden = true;
      });
      el.replaceChildren(title, text, close);
      el.dataset.over = over;
      el.hidden = false;
    });
  }
}

function button(text, className, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = text;
  element.addEventListener("click", onClick);
  return element;
}

/**
 * The way out after the server refused this browser's changes as too large: a
 * copy of the local text to download (so nothing is lost), discarding the
 * unsaved changes to reload the server's version, and perhaps trying again.
 */
export function wayOut({ text, title, discard, retry = null }) {
  const actions = document.createElement("span");
  actions.className = "banner-actions";
  const copy = document.createElement("a");
  copy.className = "button small primary";
  copy.href = URL.createObjectURL(new Blob([text], { type: "text/markdown;charset=utf-8" }));
  copy.download = fileName(title, " (copy from this browser).md");
  copy.textContent = "Download a copy of my text";
  const discardButton = button("Discard my unsaved changes and reload", "button small danger-outline", () => {
    discardButton.disabled = true;
    discardButton.textContent = "Discarding…";
    discard();
  });
  actions.append(copy, discardButton);
  if (retry) actions.append(button("Try again", "button small", retry));
  return actions;
}
