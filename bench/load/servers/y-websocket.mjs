// The reference y-websocket server exactly as @y/websocket-server ships it (its
// bin, src/server.js: in memory, its own `ws` dependency), on 127.0.0.1.
//
//   PORT=1234 node bench/load/servers/y-websocket.mjs
//
// It prints "running at '127.0.0.1' on port <port>" when ready and stops on SIGTERM.
process.env.HOST = '127.0.0.1'
await import(new URL('../../node_modules/@y/websocket-server/src/server.js', import.meta.url))
