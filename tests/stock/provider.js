// A page with nothing but the stock y-websocket provider, bundled for a test
// (tests/test_stock_provider.py): it syncs a Y.Doc and exposes what happened.
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";

window.stockClient = (serverUrl, room) => {
  const doc = new Y.Doc();
  const text = doc.getText("content");
  const provider = new WebsocketProvider(serverUrl, room, doc);
  const state = { synced: false, closes: [] };
  provider.on("sync", (synced) => (state.synced = synced));
  provider.on("connection-close", (event) => event && state.closes.push(event.code));
  return {
    state,
    text: () => text.toString(),
    type: (chars) => text.insert(text.length, chars),
  };
};
