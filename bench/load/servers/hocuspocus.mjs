// @hocuspocus/server with its defaults (in memory, no persistence extension), on
// 127.0.0.1. With REDIS_PORT set, @hocuspocus/extension-redis joins the instances
// sharing that Redis, as its documentation deploys several.
//
//   PORT=1234 node bench/load/servers/hocuspocus.mjs
//   PORT=1235 REDIS_PORT=6380 node bench/load/servers/hocuspocus.mjs
//
// Prints one line "listening <port>" when ready; stops on SIGTERM (Hocuspocus's
// own handler).
import { Server } from '@hocuspocus/server'

const port = Number.parseInt(process.env.PORT || '0', 10)
const extensions = []
if (process.env.REDIS_PORT) {
  const { Redis } = await import('@hocuspocus/extension-redis')
  extensions.push(new Redis({ host: '127.0.0.1', port: Number.parseInt(process.env.REDIS_PORT, 10) }))
}

const server = new Server({ address: '127.0.0.1', port, quiet: true, extensions })
await server.listen()
console.log(`listening ${server.address.port}`)
