// What this person may do with the document, switched live.
//
// The server tells a client its rights with an auth message (type 2, sub-type 0
// "permission denied") whose reason is JSON:
//   {"role": "owner"|"editor"|"viewer", "canWrite": true|false, "reason": "read-only"|"locked"|""}
// It sends one on joining to anyone who cannot write, whenever a role or the
// lock changes, and when a read-only connection sent changes anyway.
import { Compartment, EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import * as decoding from "lib0/decoding";

const PERMISSION_DENIED = 0;

export class Rights {
  constructor({ role, canWrite }) {
    this.role = role;
    this.canWrite = canWrite;
    this.locked = false;
    this.stopped = false; // the connection ended for good: nothing can be saved any more
    this.compartment = new Compartment();
    this.view = null;
    this.listeners = new Set();
    this.badge = document.getElementById("view-only-badge");
    this.lockBanner = document.getElementById("lock-banner");
  }

  get writable() {
    return this.canWrite && !this.stopped;
  }

  /** The editor extension for the current rights (reconfigured live). */
  extension() {
    return this.compartment.of(this._extensions());
  }

  _extensions() {
    const writable = this.writable;
    return [
      EditorState.readOnly.of(!writable),
      EditorView.editable.of(writable),
      // A read-only editor stays reachable by keyboard, to read and select.
      writable
        ? []
        : [
            EditorView.contentAttributes.of({ tabindex: "0", "aria-readonly": "true" }),
            EditorView.editorAttributes.of({ class: "cm-readonly" }),
          ],
    ];
  }

  attach(view) {
    this.view = view;
    this._apply();
  }

  onChange(fn) {
    this.listeners.add(fn);
  }

  /** Take over the provider's auth messages (it only logs them). */
  listen(provider) {
    provider.messageHandlers[2] = (_encoder, decoder) => {
      if (decoding.readVarUint(decoder) !== PERMISSION_DENIED) return;
      const reason = decoding.readVarString(decoder);
      let message;
      try {
        message = JSON.parse(reason);
      } catch {
        console.warn("collab: permission denied:", reason);
        this.update({ canWrite: false });
        return;
      }
      this.update(message);
    };
  }

  update({ role, canWrite, reason }) {
    if (role) this.role = role;
    if (typeof canWrite === "boolean") this.canWrite = canWrite;
    // "read-only" answers a refused write: it says nothing about the lock.
    if (reason === "locked") this.locked = true;
    else if (reason !== "read-only") this.locked = false;
    this._apply();
  }

  stop() {
    this.stopped = true;
    this._apply();
  }

  _apply() {
    if (this.view) this.view.dispatch({ effects: this.compartment.reconfigure(this._extensions()) });
    const app = document.getElementById("editor-app");
    if (app) {
      app.dataset.role = this.role;
      app.dataset.canWrite = String(this.canWrite);
    }
    document.body.dataset.canWrite = String(this.writable);
    if (this.badge) {
      this.badge.hidden = this.canWrite || this.stopped;
      this.badge.title = this.locked
        ? "A moderator locked this document: nobody can change it"
        : "You can read this document but not change it";
    }
    if (this.lockBanner) this.lockBanner.hidden = !this.locked || this.stopped;
    this.listeners.forEach((fn) => fn(this));
  }
}
