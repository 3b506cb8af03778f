// Entry point of the editor page: CodeMirror 6 bound to a Y.Text that
// y-websocket keeps in sync with the server (and y-indexeddb with this browser).
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import { IndexeddbPersistence } from "y-indexeddb";
import { removeAwarenessStates } from "y-protocols/awareness";
import { yCollab, yUndoManagerKeymap } from "y-codemirror.next";
import { EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";

import { Authors } from "./authors.js";
import { setupChat } from "./chat.js";
import { Comments } from "./comments.js";
import { baseExtensions } from "./setup.js";
import { ConnectionStatus, TERMINAL_CLOSES } from "./connection.js";
import { SavedTracker } from "./saved.js";
import { SizeLimits, wayOut } from "./limits.js";
import { Rights } from "./rights.js";
import { announceToNewcomers, sendOwnAwareness, trackPresence } from "./presence.js";
import { setupPreview } from "./preview.js";
import { followRestores } from "./restored.js";
import { followTitle, setupRename, showTitle } from "./title.js";

const IDB_WAIT_MS = 1500; // how long local edits may take to load before we connect anyway

function start(app) {
  const data = app.dataset;
  const documentId = data.documentId;
  const user = { name: data.userName, color: data.userColor, colorLight: data.userColorLight };

  const doc = new Y.Doc();
  const ytext = doc.getText("content");
  const undoManager = new Y.UndoManager(ytext);

  // The server route is /ws/docs/<uuid>/: y-websocket appends "/" + roomname.
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const provider = new WebsocketProvider(`${scheme}://${location.host}/ws/docs`, `${documentId}/`, doc, {
    connect: false,
    disableBc: true, // the server is the only source: what we receive is stored
    maxBackoffTime: 10000,
    shouldReconnect: (event) => !TERMINAL_CLOSES[event.code],
  });
  const awareness = provider.awareness;
  sendOwnAwareness(provider);
  followTitle(provider); // asks for extension messages (?ext=1) before the first connect
  followRestores(provider, {
    banner: document.getElementById("restore-notice"),
    text: document.getElementById("restore-notice-text"),
    dismiss: document.getElementById("restore-notice-dismiss"),
  });
  awareness.setLocalStateField("user", user);
  const chat = setupChat({ provider, me: user }); // asks for its messages on every connect

  // -- rights and the editor ----------------------------------------------------
  const rights = new Rights({ role: data.role, canWrite: data.canWrite === "true" });
  rights.listen(provider);
  const guard = (command) => (view) => (rights.writable ? command(view) : true);
  const undoKeymap = yUndoManagerKeymap.map((binding) => ({ ...binding, run: guard(binding.run) }));
  // The server's limits: a change over them never enters the document.
  const limits = new SizeLimits(doc, {
    maxMessage: Number(data.maxMessageBytes),
    maxDocument: Number(data.maxDocumentBytes),
  });
  limits.showRefusalsIn(document.getElementById("limit-notice"));
  // Who wrote what (only for those who may see the history: the page has the toggle then).
  const authorsToggle = document.getElementById("authors-toggle");
  const authors = authorsToggle
    ? new Authors({ ytext, url: data.authorsUrl, me: user, toggle: authorsToggle })
    : null;
  // Comment threads anchored to the text, and their panel.
  const comments = new Comments({ provider, ytext, app });

  // CodeMirror injects its styles (style-mod) as a <style> element into a document,
  // which the page's Content-Security-Policy (style-src 'self') blocks; into a shadow
  // root it adopts constructed stylesheets instead, which CSP allows.
  const host = document.getElementById("editor");
  const root = host.attachShadow({ mode: "open" });
  const view = new EditorView({
    root,
    parent: root,
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        baseExtensions({ label: "Document text", undoKeymap }),
        yCollab(ytext, awareness, { undoManager }),
        rights.extension(),
        limits.extension(),
        authors ? authors.extension() : [],
        comments.extension(),
      ],
    }),
  });
  rights.attach(view);
  comments.attach(view);

  // -- connection, saved state, notices -----------------------------------------
  const saved = new SavedTracker(doc, provider, { canSend: () => rights.writable });
  authors?.attach(view, { saved });
  const saveEl = document.getElementById("save-status");
  const notice = document.getElementById("connection-notice");
  let persistence = null;
  let leaving = false; // the page reloads on purpose: no warning about unsaved changes
  const reload = () => {
    leaving = true;
    location.reload();
  };
  const discardAndReload = async () => {
    leaving = true;
    // The local copy holds the refused changes: without it the page loads the server's version.
    if (persistence) await persistence.clearData().catch((err) => console.warn("collab: could not clear", err));
    reload();
  };

  const showSaved = () => {
    const isSaved = saved.saved;
    document.body.dataset.saved = String(isSaved);
    let state = "saved";
    let text = "Saved";
    if (!isSaved) {
      if (!rights.canWrite) [state, text] = ["refused", "Not saved: view only"];
      else if (document.body.dataset.connection === "connected") [state, text] = ["saving", "Saving…"];
      else if (document.body.dataset.connection === "closed") [state, text] = ["offline", "Not saved"];
      else [state, text] = ["offline", "Offline – unsaved changes"];
    }
    if (saveEl && (saveEl.dataset.state !== state || saveEl.textContent !== text)) {
      saveEl.dataset.state = state;
      saveEl.textContent = text;
    }
    // Someone who cannot write has nothing to save: no "Saved" to reassure them.
    if (saveEl) saveEl.hidden = isSaved && !rights.canWrite;
  };

  const showTerminal = (closed) => {
    rights.stop();
    if (!closed.keepLocal && persistence) {
      // Access is gone: do not keep a copy of the document in this browser.
      persistence.clearData().catch(() => {});
    }
    if (notice) {
      const title = document.createElement("strong");
      title.textContent = closed.title;
      const text = document.createElement("span");
      text.textContent = ` ${closed.text}`;
      const parts = [title, text];
      if (closed.tooLarge || closed.offerCopy) {
        if (closed.tooLarge) {
          text.textContent +=
            ` ${limits.describe()} Download a copy of your text to keep it, then discard the unsaved changes` +
            " to go on with the version saved on the server.";
        }
        const retry = closed.retry ? reload : null;
        parts.push(" ", wayOut({ text: ytext.toString(), title: data.title, discard: discardAndReload, retry }));
      } else if (closed.login) {
        const link = document.createElement("a");
        link.href = `/accounts/login/?next=${encodeURIComponent(location.pathname)}`;
        link.className = "button small primary";
        link.textContent = "Log in";
        parts.push(" ", link);
      } else {
        const link = document.createElement("a");
        link.href = "/";
        link.className = "button small";
        link.textContent = "Back to documents";
        parts.push(" ", link);
      }
      notice.replaceChildren(...parts);
      notice.dataset.code = String(closed.code);
      notice.hidden = false;
    }
    document.body.dataset.closeCode = String(closed.code);
  };

  const connection = new ConnectionStatus(provider, { onTerminal: showTerminal, onChange: showSaved, saved });
  limits.guard(provider, () => connection.stop(413, "too large to send"));
  saved.onChange(showSaved);
  rights.onChange(showSaved);
  provider.on("sync", (isSynced) => {
    document.body.dataset.synced = String(isSynced);
  });
  document.body.dataset.synced = "false";
  showSaved();
  // Leaving (closing the tab, a link, a reload) with changes the server does not have: ask first.
  window.addEventListener("beforeunload", (event) => {
    if (leaving || document.body.dataset.saved !== "false") return;
    event.preventDefault();
    event.returnValue = ""; // browsers that ask only when it is set
  });

  // -- unsent edits survive a reload in IndexedDB ------------------------------
  let connectStarted = false;
  const connectOnce = () => {
    if (connectStarted) return;
    connectStarted = true;
    connection.connect();
  };
  try {
    persistence = new IndexeddbPersistence(`collab-doc-${documentId}`, doc);
    persistence.whenSynced.then(connectOnce);
    setTimeout(connectOnce, IDB_WAIT_MS);
  } catch (err) {
    console.warn("collab: no IndexedDB, unsent edits will not survive a reload", err);
    connectOnce();
  }

  // -- presence ----------------------------------------------------------------
  trackPresence(document.getElementById("presence"), awareness);
  announceToNewcomers(awareness);
  // Leave the presence bar of others at once when the tab goes away.
  window.addEventListener("pagehide", () => {
    removeAwarenessStates(awareness, [doc.clientID], "window unload");
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) awareness.setLocalStateField("user", user);
  });

  // -- preview and title ---------------------------------------------------------
  setupPreview({
    ytext,
    app,
    pane: document.getElementById("preview-pane"),
    output: document.getElementById("preview"),
    toggle: document.getElementById("preview-toggle"),
  });
  showTitle(data.title);
  setupRename();

  // Hooks for the browser tests (and the console).
  window.collab = {
    doc,
    provider,
    view,
    awareness,
    undoManager,
    rights,
    saved,
    limits,
    authors,
    chat,
    comments,
    text: () => ytext.toString(),
  };
  document.body.dataset.ready = "true";
}

const app = document.getElementById("editor-app");
if (app) start(app);
