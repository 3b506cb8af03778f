// "Saved" means: everything this browser holds is stored on the server.
//
// The server sends a client only what it has stored (it echoes our own updates
// back after they are committed), so every sync message from the server tells
// us what the server has:
//   - its sync step 1 carries its state vector;
//   - sync step 2 and update messages carry updates: the clock each client's
//     structs reach (Y.parseUpdateMeta(update).to) and their delete set.
// We keep the highest clock the server has confirmed per client id. Inserts are
// saved when, for every client id in our document (our own doc.clientID, and
// older ones restored from IndexedDB), the confirmed clock is >= our clock
// (Y.getState). Deletions do not advance a clock, so the ranges we delete are
// kept as pending until a delete set from the server covers them.
import * as Y from "yjs";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import * as syncProtocol from "y-protocols/sync";

const STEP1 = 0;
const STEP2 = 1;
const UPDATE = 2;
const RESYNC_AFTER_MS = 2500;

export class SavedTracker {
  constructor(doc, provider, { canSend = () => true } = {}) {
    this.doc = doc;
    this.provider = provider;
    this.canSend = canSend; // a read-only page's leftovers are refused, not pending
    this.confirmed = new Map(); // client id -> clock the server has confirmed
    this.pendingDeletes = new Map(); // client id -> [[from, to), ...]
    this.listeners = new Set();
    this.saved = true;
    this.unsavedSince = 0;
    this._scheduled = false;

    doc.on("afterTransaction", (tr) => {
      if (tr.origin !== provider) {
        tr.deleteSet.clients.forEach((items, client) => {
          for (const { clock, len } of items) this._addPending(client, clock, clock + len);
        });
      }
      this.schedule();
    });

    // Peek at every sync message from the server before y-websocket handles it.
    const handleSync = provider.messageHandlers[0];
    provider.messageHandlers[0] = (encoder, decoder, prov, fromServer, messageType) => {
      if (fromServer) {
        try {
          this._peek(decoding.clone(decoder));
        } catch (err) {
          console.warn("collab: could not read a sync message", err);
        }
      }
      handleSync(encoder, decoder, prov, fromServer, messageType);
      this.schedule();
    };
    setInterval(() => this._resyncIfStuck(), 1000);
  }

  _peek(decoder) {
    const step = decoding.readVarUint(decoder);
    const payload = decoding.readVarUint8Array(decoder);
    if (step === STEP1) {
      this._confirm(Y.decodeStateVector(payload));
    } else if (step === STEP2 || step === UPDATE) {
      // Where the update ends, per client. (Y.encodeStateVectorFromUpdate only
      // counts clients whose structs start at clock 0: not the echo of an edit.)
      this._confirm(Y.parseUpdateMeta(payload).to);
      if (this.pendingDeletes.size) {
        Y.decodeUpdate(payload).ds.clients.forEach((items, client) => {
          for (const { clock, len } of items) this._removePending(client, clock, clock + len);
        });
      }
    }
  }

  _confirm(stateVector) {
    stateVector.forEach((clock, client) => {
      if (clock > (this.confirmed.get(client) || 0)) this.confirmed.set(client, clock);
    });
  }

  _addPending(client, from, to) {
    const ranges = this.pendingDeletes.get(client) || [];
    ranges.push([from, to]);
    this.pendingDeletes.set(client, ranges);
  }

  _removePending(client, from, to) {
    const ranges = this.pendingDeletes.get(client);
    if (!ranges) return;
    const left = [];
    for (const [a, b] of ranges) {
      if (b <= from || a >= to) {
        left.push([a, b]);
        continue;
      }
      if (a < from) left.push([a, from]);
      if (b > to) left.push([to, b]);
    }
    if (left.length) this.pendingDeletes.set(client, left);
    else this.pendingDeletes.delete(client);
  }

  /** Is everything we hold stored on the server? */
  isSaved() {
    if (this.pendingDeletes.size) return false;
    // Our own client id first: that is where new edits land.
    if (Y.getState(this.doc.store, this.doc.clientID) > (this.confirmed.get(this.doc.clientID) || 0)) return false;
    for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(this.doc))) {
      if (clock > (this.confirmed.get(client) || 0)) return false;
    }
    return true;
  }

  schedule() {
    if (this._scheduled) return;
    this._scheduled = true;
    queueMicrotask(() => {
      this._scheduled = false;
      this.refresh();
    });
  }

  refresh() {
    const saved = this.isSaved();
    if (!saved && this.saved) this.unsavedSince = Date.now();
    const changed = saved !== this.saved;
    this.saved = saved;
    if (changed) this.listeners.forEach((fn) => fn(saved));
  }

  onChange(fn) {
    this.listeners.add(fn);
  }

  // If, while connected and synced, something stays unconfirmed (a delete the
  // server already had, so no echo came), ask for the server's state: it answers
  // a sync step 1 with a sync step 2 holding its whole delete set.
  _resyncIfStuck() {
    const { provider } = this;
    if (this.saved || !this.canSend() || !provider.wsconnected || !provider.synced) return;
    if (Date.now() - this.unsavedSince < RESYNC_AFTER_MS) return;
    this.unsavedSince = Date.now();
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, 0); // a sync message
    syncProtocol.writeSyncStep1(encoder, this.doc);
    provider.ws.send(encoding.toUint8Array(encoder));
  }
}
