// The connection to the server: what the status shows, when to reconnect, and
// the close codes after which reconnecting cannot help.

// Close codes after which the page stops: the server decided, retrying cannot fix it.
// `keepLocal`: the copy in this browser's IndexedDB stays (otherwise it is deleted);
// `offerCopy`: the page offers to save a copy of its text and to discard its changes;
// `tooLarge`: that too, after naming the server's size limits.
export const TERMINAL_CLOSES = {
  4401: {
    title: "Your session has ended.",
    text: "Log in again to continue; anything typed here and not yet saved is kept in this browser until then.",
    login: true,
    keepLocal: true,
  },
  4403: { title: "You no longer have access to this document.", text: "The owner removed your access." },
  4404: { title: "This document has been deleted.", text: "Its owner deleted it; nothing more can be saved." },
  4409: {
    title: "A moderator disconnected everyone from this document.",
    text: "Reload the page to join again; anything not yet saved is kept in this browser.",
    keepLocal: true,
  },
  4410: { title: "Your account has been disabled.", text: "Contact the site's administrator." },
  4413: {
    title: "The server refused a change from this browser: it is too large.",
    text: "Nothing typed here since can be saved while this change waits to be sent.",
    keepLocal: true,
    tooLarge: true,
  },
  4507: {
    title: "The server refused changes from this browser: the document would become too large.",
    text: "Nothing typed here since can be saved while these changes wait to be sent.",
    keepLocal: true,
    tooLarge: true,
  },
  4422: {
    title: "The server refused changes from this page: they were started under another person's name.",
    text: "This page was opened by someone else, or before you signed in or out here. Save a copy of your text, then discard and reload.",
    keepLocal: true,
    offerCopy: true,
  },
  // Not close codes: the handshake keeps failing and the page itself answers 404;
  // the page found its unsent changes too large to send in one message (413);
  // connections keep being dropped before this page's changes are saved.
  404: { title: "This document is not available any more.", text: "It was deleted, or your access to it was removed." },
  413: {
    title: "The changes kept in this browser are too large to send.",
    text: "They were made earlier, or offline, and together are more than the server accepts at once, so the page did not send them.",
    keepLocal: true,
    tooLarge: true,
  },
  dropped: {
    title: "The server keeps dropping the connection before this browser's changes are saved.",
    text: "The likeliest cause is a change too large to send.",
    keepLocal: true,
    tooLarge: true,
    retry: true,
  },
};

// After this many attempts in a row that never opened, ask the page itself why.
const PROBE_AFTER = 2;
const PROBE_EVERY = 3;
// Connections in a row that opened, then were dropped (1006) while this page had
// changes the server had not confirmed, before the page stops: a change over
// daphne's own cap drops every connection, and each reconnection that opened
// resets y-websocket's backoff.
const DROPPED_LIMIT = 3;

/**
 * Show the provider's connection state in #connection-status and on
 * body[data-connection]: connecting, connected, reconnecting (with the seconds
 * until the next try), offline, closed.
 */
export class ConnectionStatus {
  constructor(provider, { onTerminal = () => {}, onChange = () => {}, saved = null } = {}) {
    this.provider = provider;
    this.onTerminal = onTerminal;
    this.onChange = onChange;
    this.el = document.getElementById("connection-status");
    this.state = "";
    this.nextTryAt = 0;
    this.timer = null;
    this.closed = null; // the terminal close, once one came
    this.everConnected = false;
    this.opened = false; // did the current attempt open?
    this.refusedInARow = 0;
    this.droppedInARow = 0;
    saved?.onChange((isSaved) => {
      if (isSaved) this.droppedInARow = 0;
    });

    provider.on("status", ({ status }) => {
      if (this.closed) return;
      if (status === "connected") {
        this.everConnected = true;
        this.opened = true;
        this.refusedInARow = 0;
        this._stopCountdown();
        this.set("connected", "Connected");
      } else if (status === "connecting") {
        this.opened = false;
        this._stopCountdown();
        if (!navigator.onLine) this.set("offline", "Offline");
        else if (this.everConnected || provider.wsUnsuccessfulReconnects > 0) this.set("reconnecting", "Reconnecting…");
        else this.set("connecting", "Connecting…");
      }
    });

    provider.on("connection-close", (event) => {
      if (this.closed || !provider.shouldConnect) return; // we disconnected on purpose
      if (event && TERMINAL_CLOSES[event.code]) return; // handled on "closed"
      if (!navigator.onLine) {
        this.set("offline", "Offline");
        return;
      }
      if (this.opened && event?.code === 1006 && saved && !saved.saved) {
        if (++this.droppedInARow >= DROPPED_LIMIT) {
          queueMicrotask(() => this.stop("dropped", "dropped before saving"));
          return;
        }
      } else if (this.opened) {
        this.droppedInARow = 0;
      }
      // y-websocket waits min(2^n * 100 ms, maxBackoffTime) before the next try,
      // n being the count of failed attempts it increments right after this event.
      const delay = Math.min(2 ** (provider.wsUnsuccessfulReconnects + 1) * 100, provider.maxBackoffTime);
      this._startCountdown(Date.now() + delay);
      // A refused handshake (HTTP 403) has no close code: only 1006, again and again.
      if (!this.opened && ++this.refusedInARow >= PROBE_AFTER && (this.refusedInARow - PROBE_AFTER) % PROBE_EVERY === 0) {
        this._probe();
      }
    });

    provider.on("closed", ({ code, reason }) => this.stop(code, reason));

    window.addEventListener("offline", () => {
      if (this.closed) return;
      provider.disconnect();
      this._stopCountdown();
      this.set("offline", "Offline");
    });
    window.addEventListener("online", () => {
      if (this.closed) return;
      this.connect();
    });

    this.retryEl = document.getElementById("connection-retry");
    this.retryEl?.addEventListener("click", () => this.connect());

    this.set(navigator.onLine ? "connecting" : "offline", navigator.onLine ? "Connecting…" : "Offline");
  }

  /** Stop for good, for one of TERMINAL_CLOSES. */
  stop(code, reason = "") {
    const info = TERMINAL_CLOSES[code];
    if (!info || this.closed) return;
    this.closed = { code, reason, ...info };
    this.provider.disconnect();
    this._stopCountdown();
    this.set("closed", "Disconnected");
    this.onTerminal(this.closed);
  }

  /**
   * The socket keeps failing before it opens: the session may have ended or the
   * document may be gone, which the handshake cannot say. The page can: a
   * redirect (to the login page) or a 404. Anything else, keep retrying.
   */
  async _probe() {
    let response;
    try {
      response = await fetch(location.pathname, { credentials: "same-origin", redirect: "manual", cache: "no-store" });
    } catch {
      return; // the server is unreachable: retrying is right
    }
    if (response.type === "opaqueredirect") this.stop(4401, "session ended");
    else if (response.status === 404) this.stop(404, "not found");
  }

  /** Connect now (first time, after coming back online, or "Retry now"). */
  connect() {
    if (this.closed) return;
    if (!navigator.onLine) {
      this.set("offline", "Offline");
      return;
    }
    this._stopCountdown();
    this.provider.connect();
  }

  get connected() {
    return this.state === "connected";
  }

  /** `detail` (the countdown) is shown but not announced: screen readers hear each state once. */
  set(state, text, detail = "") {
    const changed = state !== this.state || text !== this.text;
    this.state = state;
    this.text = text;
    document.body.dataset.connection = state;
    if (this.el) {
      if (changed) {
        this.el.dataset.state = state;
        this.el.textContent = text;
        this.detailEl = document.createElement("span");
        this.detailEl.setAttribute("aria-hidden", "true");
        this.el.append(this.detailEl);
      }
      if (this.detailEl.textContent !== detail) this.detailEl.textContent = detail;
    }
    if (this.retryEl) this.retryEl.hidden = state !== "reconnecting";
    if (changed) this.onChange(state);
  }

  _startCountdown(at) {
    this.nextTryAt = at;
    const tick = () => {
      const seconds = Math.max(1, Math.ceil((this.nextTryAt - Date.now()) / 1000));
      this.set("reconnecting", "Reconnecting", ` in ${seconds} s`);
    };
    clearInterval(this.timer);
    tick();
    this.timer = setInterval(tick, 250);
  }

  _stopCountdown() {
    clearInterval(this.timer);
    this.timer = null;
  }
}
