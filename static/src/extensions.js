// collab's own messages from the server (type 100: a JSON object with a "type"
// field), after y-protocols' sync, awareness, auth and query-awareness (0-3).
// The server sends them only to connections that ask with `?ext=1`: a stock
// y-websocket client logs an error for a message type it does not know.
//   {"type": "title", "title": "..."}  the document's title, on joining and when it changes
// The page sends its own the same way (comments and chat: docs/protocol.md).
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";

export const EXTENSION_MESSAGE = 100;

const handlers = new WeakMap(); // provider -> Map(type -> Set of handlers)

/** Call `handler(message)` for each extension message of `type` (opting in on the next connect). */
export function onExtension(provider, type, handler) {
  let byType = handlers.get(provider);
  if (!byType) {
    byType = new Map();
    handlers.set(provider, byType);
    provider.params = { ...provider.params, ext: "1" };
    provider.messageHandlers[EXTENSION_MESSAGE] = (_encoder, decoder) => {
      let message;
      try {
        message = JSON.parse(decoding.readVarString(decoder));
      } catch (err) {
        console.warn("collab: unreadable extension message", err);
        return;
      }
      // A type this page does not know (a newer server): ignored.
      for (const handle of (message && byType.get(message.type)) || []) handle(message);
    };
  }
  if (!byType.has(type)) byType.set(type, new Set());
  byType.get(type).add(handler);
}

/** Send `message` (an object with a "type") to the server; false when not connected (nothing sent). */
export function sendExtension(provider, message) {
  const ws = provider.ws;
  if (!provider.wsconnected || !ws || ws.readyState !== WebSocket.OPEN) return false;
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, EXTENSION_MESSAGE);
  encoding.writeVarString(encoder, JSON.stringify(message));
  ws.send(encoding.toUint8Array(encoder));
  return true;
}

const loading = new WeakSet();

/**
 * Ask for the comments and chat (`discussion.load`) on every connect, once however
 * many parts of the page call this: the answer, `discussion`, replaces what they hold.
 */
export function loadDiscussionOnConnect(provider) {
  if (loading.has(provider)) return;
  loading.add(provider);
  provider.on("status", ({ status }) => {
    if (status === "connected") sendExtension(provider, { type: "discussion.load" });
  });
}
