// collab's own messages from the server (type 100: a JSON object with a "type"
// field), after y-protocols' sync, awareness, auth and query-awareness (0-3).
// The server sends them only to connections that ask with `?ext=1`: a stock
// y-websocket client logs an error for a message type it does not know.
//   {"type": "title", "title": "..."}  the document's title, on joining and when it changes
import * as decoding from "lib0/decoding";

export const EXTENSION_MESSAGE = 100;

const handlers = new WeakMap(); // provider -> Map(type -> handler)

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
      const handle = message && byType.get(message.type);
      if (handle) handle(message); // a type this page does not know (a newer server): ignored
    };
  }
  byType.set(type, handler);
}
