// Load generator for bench/load/compare.py: y-websocket clients (the reference
// yjs, y-protocols and lib0 packages over the `ws` client) that every server is
// measured with.
//
// Two dialects:
//   "y"          plain y-websocket (collab, @y/websocket-server): one document per
//                socket, named by the URL.
//   "hocuspocus" every message starts with varString(documentName); a client
//                first sends an Auth message (type 2, Token, token, provider
//                version), then its sync step 1 and awareness state, exactly as
//                HocuspocusProvider does. @hocuspocus/server queues everything
//                for a document until that Auth message has been handled, even
//                without an onAuthenticate hook.
//
// The parent process reads one JSON line of configuration on stdin, forks
// `procs` child processes (rooms are dealt out to them, a room never spans two)
// and walks them through phases. After each phase it prints one JSON line on
// stdout and waits for a line "go" on stdin, so the driver can sample the
// servers' CPU and memory at the right moments:
//
//   {"event":"ready"}      warm-up done (if any)
//   {"event":"connected"}  every client connected and synced (or failed)
//   {"event":"edited"}     every edit sent (load mode)
//   {"event":"settled"}    missing deliveries awaited, texts compared (load mode)
//   {"event":"result",...} figures; the process then exits
//
// Modes: "load" (rooms of clients editing at a rate, or closed-loop), "idle"
// (connections only) and "join" (time from connect to synced of a large
// document). Everything is bounded in time; all traffic goes to the URLs given,
// which compare.py only ever points at 127.0.0.1.

import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import WebSocket from 'ws'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'

const SELF = fileURLToPath(import.meta.url)
const REMOTE = Symbol('remote')
const MARKER = /\[c(\d+)-(\d+)\]/g

// y-websocket message types, and Hocuspocus's additions (@hocuspocus/server MessageType).
const MSG_SYNC = 0
const MSG_AWARENESS = 1
const MSG_AUTH = 2
const MSG_PING = 9
const MSG_PONG = 10
const AUTH_TOKEN = 0
const AUTH_PERMISSION_DENIED = 1
const AUTH_AUTHENTICATED = 2
const SYNC_STEP2 = 1
const SYNC_UPDATE = 2

const AWARENESS_RENEW_MS = 15000 // y-protocols renews the local state every outdatedTimeout / 2

const HOCUSPOCUS_VERSION = (() => {
  try {
    const url = new URL('../node_modules/@hocuspocus/server/package.json', import.meta.url)
    return JSON.parse(readFileSync(url, 'utf8')).version
  } catch {
    return 'unknown'
  }
})()

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function cpuSeconds () {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

function percentile (sorted, p) {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

function stats (values) {
  const sorted = Float64Array.from(values).sort()
  if (sorted.length === 0) return { n: 0 }
  let sum = 0
  for (const v of sorted) sum += v
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    mean: sum / sorted.length
  }
}

// -- one client -------------------------------------------------------------------

class Client {
  constructor ({ id, room, url, headers, dialect, name, onSync }) {
    this.id = id
    this.room = room
    this.url = url
    this.headers = headers || {}
    this.hocuspocus = dialect === 'hocuspocus'
    this.name = name
    this.onSync = onSync // (client, frame, now) for sync messages, before they are applied
    this.doc = new Y.Doc()
    this.text = this.doc.getText('content')
    this.ws = null
    this.synced = false
    this.closed = false
    this.closeCode = null
    this.closedByUs = false
    this.error = null
    this.awarenessClock = 0
    this.awarenessTimer = null
    this.updatesReceived = 0
    this.framesReceived = 0
    this.openedAt = 0
    this.syncedAt = 0
    this.doc.on('update', (update, origin) => {
      if (origin !== REMOTE) this.sendUpdate(update)
    })
  }

  encoder () {
    const e = encoding.createEncoder()
    if (this.hocuspocus) encoding.writeVarString(e, this.room)
    return e
  }

  send (bytes) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes)
  }

  sendUpdate (update) {
    const e = this.encoder()
    encoding.writeVarUint(e, MSG_SYNC)
    syncProtocol.writeUpdate(e, update)
    this.send(encoding.toUint8Array(e))
  }

  sendAwareness () {
    this.awarenessClock += 1
    const inner = encoding.createEncoder()
    encoding.writeVarUint(inner, 1)
    encoding.writeVarUint(inner, this.doc.clientID)
    encoding.writeVarUint(inner, this.awarenessClock)
    encoding.writeVarString(inner, JSON.stringify({ user: { name: this.name } }))
    const e = this.encoder()
    encoding.writeVarUint(e, MSG_AWARENESS)
    encoding.writeVarUint8Array(e, encoding.toUint8Array(inner))
    this.send(encoding.toUint8Array(e))
  }

  // Resolves once synced (sync step 2 received); rejects on close or timeout.
  connect (timeoutMs) {
    return new Promise((resolve, reject) => {
      let done = false
      const finish = (err) => {
        if (done) return
        done = true
        clearTimeout(timer)
        err ? reject(err) : resolve(this)
      }
      const timer = setTimeout(() => {
        finish(new Error(`${this.name}: not synced within ${timeoutMs} ms`))
        this.close()
      }, timeoutMs)
      this.resolveSynced = () => finish(null)
      this.openedAt = performance.now()
      const ws = new WebSocket(this.url, { headers: this.headers, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 })
      this.ws = ws
      ws.binaryType = 'nodebuffer'
      ws.on('open', () => {
        if (this.hocuspocus) {
          const e = this.encoder()
          encoding.writeVarUint(e, MSG_AUTH)
          encoding.writeVarUint(e, AUTH_TOKEN)
          encoding.writeVarString(e, '')
          encoding.writeVarString(e, HOCUSPOCUS_VERSION)
          this.send(encoding.toUint8Array(e))
        }
        const e = this.encoder()
        encoding.writeVarUint(e, MSG_SYNC)
        syncProtocol.writeSyncStep1(e, this.doc)
        this.send(encoding.toUint8Array(e))
        this.sendAwareness()
        this.awarenessTimer = setInterval(() => this.sendAwareness(), AWARENESS_RENEW_MS)
      })
      ws.on('message', (data) => {
        try {
          this.receive(data)
        } catch (err) {
          this.error = String(err && err.stack ? err.stack : err)
        }
      })
      ws.on('unexpected-response', (_req, res) => {
        this.error = `handshake refused: HTTP ${res.statusCode}`
        finish(new Error(`${this.name}: ${this.error}`))
        ws.terminate()
      })
      ws.on('error', (err) => {
        this.error = this.error || String(err.message || err)
        finish(new Error(`${this.name}: ${this.error}`))
      })
      ws.on('close', (code) => {
        this.closed = true
        this.closeCode = code
        clearInterval(this.awarenessTimer)
        finish(new Error(`${this.name}: closed with ${code} before synced`))
      })
    })
  }

  receive (data) {
    const now = performance.now()
    this.framesReceived += 1
    if (this.hocuspocus && data.length === 1 && data[0] === MSG_PING) {
      this.send(Uint8Array.of(MSG_PONG))
      return
    }
    const decoder = decoding.createDecoder(data)
    if (this.hocuspocus) decoding.readVarString(decoder)
    const type = decoding.readVarUint(decoder)
    if (type === MSG_SYNC) {
      if (this.onSync) this.onSync(this, data, now)
      const reply = this.encoder()
      encoding.writeVarUint(reply, MSG_SYNC)
      const empty = encoding.length(reply)
      const step = syncProtocol.readSyncMessage(decoder, reply, this.doc, REMOTE)
      if (encoding.length(reply) > empty + 1) this.send(encoding.toUint8Array(reply))
      if (step === SYNC_UPDATE || step === SYNC_STEP2) this.updatesReceived += 1
      if (step === SYNC_STEP2 && !this.synced) {
        this.synced = true
        this.syncedAt = now
        if (this.resolveSynced) this.resolveSynced()
      }
    } else if (type === MSG_AUTH && this.hocuspocus) {
      const sub = decoding.readVarUint(decoder)
      if (sub === AUTH_PERMISSION_DENIED) {
        this.error = `permission denied: ${decoding.readVarString(decoder)}`
      } else if (sub === AUTH_AUTHENTICATED) {
        this.authenticated = true
      }
    }
    // Awareness (1), collab's rights messages (2), Hocuspocus's SyncStatus (8):
    // nothing to do for the benchmark.
  }

  value () {
    return this.text.toString()
  }

  close () {
    clearInterval(this.awarenessTimer)
    if (!this.ws) return Promise.resolve()
    this.closedByUs = true
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.ws.terminate()
        resolve()
      }, 5000)
      this.ws.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
      try {
        this.ws.close(1000)
      } catch {
        this.ws.terminate()
      }
    })
  }
}

// -- a child process: some rooms and their clients ------------------------------------

class Worker {
  constructor (config, rooms) {
    this.c = config
    this.rooms = rooms // [{index, name}]
    this.clients = [] // all clients, by id order
    this.byRoom = new Map() // room index -> clients
    this.sent = new Map() // marker -> {t, sender, seen: Set}
    this.latencies = []
    this.crossing = [] // the deliveries whose sender and receiver are on different server processes
    this.echoes = []
    this.lags = []
    this.edits = 0
    this.expected = 0
    this.delivered = 0
    this.connectFailures = []
    this.windowStart = Infinity
    this.windowEnd = -Infinity
    this.windowDeliveries = 0
    this.echoWaiters = new Map() // marker -> resolve
    this.slow = [] // deliveries of 50 ms or more: when the edit went out (s into the edit phase) and how long
    this.slowCount = 0
    this.editStart = performance.now()
  }

  urlFor (room, k) {
    const ep = this.c.endpoints[k % this.c.endpoints.length]
    return { url: ep.url.replace('{room}', encodeURIComponent(room)), headers: ep.headers || {} }
  }

  onSync (client, data, now) {
    const s = data.toString('latin1')
    MARKER.lastIndex = 0
    let m
    while ((m = MARKER.exec(s)) !== null) {
      const rec = this.sent.get(m[0])
      if (rec === undefined || rec.seen.has(client.id)) continue
      rec.seen.add(client.id)
      if (rec.sender === client.id) {
        this.echoes.push(now - rec.t)
        const waiter = this.echoWaiters.get(m[0])
        if (waiter) {
          this.echoWaiters.delete(m[0])
          waiter()
        }
      } else {
        const latency = now - rec.t
        this.latencies.push(latency)
        if (rec.endpoint !== client.endpoint) this.crossing.push(latency)
        this.delivered += 1
        if (latency >= 50) this.slowCount += 1
        if (latency >= 50 && this.slow.length < 5000) this.slow.push({ at: (rec.t - this.editStart) / 1000, ms: latency, marker: m[0], to: client.id })
        if (now >= this.windowStart && now <= this.windowEnd) this.windowDeliveries += 1
      }
    }
  }

  async connectAll (roomsToConnect, clientsPerRoom, { withMarkers = true } = {}) {
    const jobs = []
    for (const room of roomsToConnect) {
      const list = []
      for (let k = 0; k < clientsPerRoom; k++) {
        const id = room.index * clientsPerRoom + k
        // A room's clients alternate between the endpoints, or all sit on one.
        const place = this.c.placeByRoom ? room.index : k
        const { url, headers } = this.urlFor(room.name, place)
        const client = new Client({
          id,
          room: room.name,
          url,
          headers,
          dialect: this.c.dialect,
          name: `c${id}`,
          onSync: withMarkers ? (cl, data, now) => this.onSync(cl, data, now) : null
        })
        client.roomClients = list
        client.endpoint = place % this.c.endpoints.length
        list.push(client)
        this.clients.push(client)
        jobs.push(client)
      }
      this.byRoom.set(room.index, list)
    }
    const started = performance.now()
    let next = 0
    const lane = async () => {
      while (next < jobs.length) {
        const client = jobs[next++]
        try {
          await client.connect(this.c.connectTimeoutMs)
        } catch (err) {
          this.connectFailures.push(String(err.message || err))
        }
      }
    }
    await Promise.all(Array.from({ length: this.c.connectConcurrency }, lane))
    return (performance.now() - started) / 1000
  }

  boundary (client) {
    // A random position between two markers: inserting only there keeps every
    // marker whole, so it stays verbatim in any update a server re-encodes.
    const s = client.value()
    const starts = []
    for (let i = s.indexOf('['); i !== -1; i = s.indexOf('[', i + 1)) starts.push(i)
    starts.push(s.length)
    return starts[Math.floor(Math.random() * starts.length)]
  }

  edit (client, n) {
    const marker = `[c${client.id}-${n}]`
    const pos = this.boundary(client)
    this.sent.set(marker, { t: performance.now(), sender: client.id, endpoint: client.endpoint, seen: new Set() })
    client.text.insert(pos, marker)
    this.edits += 1
    this.expected += client.roomClients.length - 1
    return marker
  }

  async runOpenLoop () {
    const { rate, durationS } = this.c
    const count = Math.max(1, Math.round(rate * durationS))
    const start = performance.now() + 50
    this.editStart = start
    this.windowStart = start + durationS * 1000 * 0.2
    this.windowEnd = start + durationS * 1000
    const one = async (client) => {
      const offset = Math.random() * (1000 / rate)
      for (let n = 0; n < count; n++) {
        const due = start + offset + (n * 1000) / rate
        const delay = due - performance.now()
        if (delay > 0) await sleep(delay)
        this.lags.push(Math.max(0, performance.now() - due)) // how late the edit goes out: the generator's own delay
        if (client.closed || !client.synced) return
        this.edit(client, n)
      }
    }
    await Promise.all(this.clients.map(one))
  }

  async runClosedLoop () {
    // Every client keeps one edit in flight: the next goes out when the server
    // has echoed the previous one (or after 5 s), at most maxRate a second.
    const { durationS, maxRate } = this.c
    const start = performance.now() + 50
    this.editStart = start
    const end = start + durationS * 1000
    this.windowStart = start + durationS * 1000 * 0.2
    this.windowEnd = end
    const gap = 1000 / maxRate
    const one = async (client) => {
      await sleep(50 + Math.random() * gap)
      let n = 0
      while (performance.now() < end && !client.closed && client.synced) {
        const t = performance.now()
        const marker = this.edit(client, n++)
        await new Promise((resolve) => {
          const timer = setTimeout(() => {
            this.echoWaiters.delete(marker)
            resolve()
          }, 5000)
          this.echoWaiters.set(marker, () => {
            clearTimeout(timer)
            resolve()
          })
        })
        const wait = t + gap - performance.now()
        if (wait > 0) await sleep(wait)
      }
    }
    await Promise.all(this.clients.map(one))
  }

  async settle () {
    const deadline = performance.now() + this.c.settleTimeoutMs
    while (this.delivered < this.expected && performance.now() < deadline) await sleep(50)
    await sleep(500) // a quiet moment before comparing texts
    let converged = 0
    const divergent = []
    for (const [index, list] of this.byRoom) {
      const values = new Set(list.map((c) => c.value()))
      if (values.size === 1) converged += 1
      else divergent.push(index)
    }
    return { converged, rooms: this.byRoom.size, divergent: divergent.slice(0, 10) }
  }

  serverCloses () {
    const codes = {}
    for (const c of this.clients) {
      if (c.closed && !c.closedByUs && c.synced) codes[c.closeCode] = (codes[c.closeCode] || 0) + 1
    }
    return codes
  }

  clientErrors () {
    return this.clients.filter((c) => c.error && c.synced).map((c) => `${c.name}: ${c.error}`).slice(0, 10)
  }

  async closeAll () {
    await Promise.race([Promise.all(this.clients.map((c) => c.close())), sleep(15000)])
    for (const c of this.clients) if (c.ws && !c.closed) c.ws.terminate()
  }

  // -- join mode ----------------------------------------------------------------

  async seed () {
    // One client types the document in chunks, waiting for the echo of each (a
    // stored update, for collab), at most chunkBytes every 0.2 s (collab's default
    // rate limit is 1 MiB/s per connection). One more client per other endpoint
    // holds the room open there.
    const room = this.rooms[0]
    const { bytes, chunkBytes } = this.c.join
    const seeder = new Client({ id: 0, room: room.name, ...this.urlFor(room.name, 0), dialect: this.c.dialect, name: 'seeder' })
    const seen = new Set()
    const waiters = new Map()
    seeder.onSync = (_cl, data) => {
      const s = data.toString('latin1', 0, Math.min(data.length, 64))
      const m = /\[j(\d+)\]/.exec(s) || /\[j(\d+)\]/.exec(data.toString('latin1'))
      if (m && !seen.has(m[0])) {
        seen.add(m[0])
        const w = waiters.get(m[0])
        if (w) w()
      }
    }
    await seeder.connect(this.c.connectTimeoutMs)
    this.clients.push(seeder)
    const line = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n'
    let total = 0
    for (let i = 0; total < bytes; i++) {
      const head = `[j${i}]`
      const size = Math.min(chunkBytes, bytes - total)
      const body = line.repeat(Math.ceil(size / line.length)).slice(0, size - head.length)
      const t = performance.now()
      const echoed = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`seeding: no echo of chunk ${i} in 30 s`)), 30000)
        waiters.set(head, () => {
          clearTimeout(timer)
          resolve()
        })
      })
      seeder.text.insert(seeder.text.length, head + body)
      await echoed
      total += size
      const wait = t + 200 - performance.now()
      if (wait > 0) await sleep(wait)
    }
    const length = seeder.text.length
    for (let k = 1; k < this.c.endpoints.length; k++) {
      const holder = new Client({ id: k, room: room.name, ...this.urlFor(room.name, k), dialect: this.c.dialect, name: `holder${k}` })
      await holder.connect(this.c.connectTimeoutMs)
      this.clients.push(holder)
    }
    const deadline = performance.now() + 30000
    while (this.clients.some((c) => c.text.length !== length) && performance.now() < deadline) await sleep(50)
    return { length, holdersComplete: this.clients.every((c) => c.text.length === length) }
  }

  async joins (length) {
    const room = this.rooms[0]
    const times = []
    const failures = []
    for (let i = 0; i < this.c.join.joins; i++) {
      const k = i % this.c.endpoints.length
      const client = new Client({ id: 100 + i, room: room.name, ...this.urlFor(room.name, k), dialect: this.c.dialect, name: `joiner${i}` })
      try {
        await client.connect(this.c.connectTimeoutMs)
        times.push(client.syncedAt - client.openedAt)
        if (client.text.length !== length) failures.push(`joiner${i}: ${client.text.length} of ${length} characters`)
      } catch (err) {
        failures.push(String(err.message || err))
      }
      await client.close()
      await sleep(200)
    }
    return { times, failures }
  }
}

// -- child process ----------------------------------------------------------------------

// How a worker's connections went, as every result reports it.
function connections (worker, connectS) {
  return {
    connectS,
    connected: worker.clients.filter((cl) => cl.synced).length,
    connectFailures: worker.connectFailures.slice(0, 10),
    connectFailureCount: worker.connectFailures.length
  }
}

async function childMain () {
  let worker = null
  let resolveCommand = null
  const commands = []
  process.on('message', (msg) => {
    commands.push(msg)
    if (resolveCommand) {
      const r = resolveCommand
      resolveCommand = null
      r()
    }
  })
  const nextCommand = async () => {
    while (commands.length === 0) await new Promise((resolve) => { resolveCommand = resolve })
    return commands.shift()
  }
  const send = (msg) => new Promise((resolve) => process.send(msg, resolve))

  const init = await nextCommand()
  const c = init.config
  worker = new Worker(c, init.rooms)
  const cpu0 = cpuSeconds()
  try {
    if (init.warmup) {
      const w = new Worker(c, [init.warmup])
      await w.connectAll([init.warmup], 3)
      if (c.mode !== 'join') {
        w.clients.forEach((cl, n) => cl.synced && w.edit(cl, n))
        await sleep(500)
      }
      await w.closeAll()
    }
    await send({ event: 'ready' })
    await nextCommand()

    if (c.mode === 'join') {
      const seeded = await worker.seed()
      await send({ event: 'connected', seeded })
      await nextCommand()
      const { times, failures } = await worker.joins(seeded.length)
      await worker.closeAll()
      await send({ event: 'result', times, failures, seeded, cpu: cpuSeconds() - cpu0, serverCloses: worker.serverCloses() })
      return
    }

    const connectS = await worker.connectAll(init.rooms, c.clientsPerRoom)
    await send({ event: 'connected', connectS, failures: worker.connectFailures.length, cpu: cpuSeconds() })
    await nextCommand()

    if (c.mode === 'idle') {
      const closes = worker.serverCloses()
      await worker.closeAll()
      await send({
        event: 'result',
        ...connections(worker, connectS),
        serverCloses: closes,
        cpu: cpuSeconds() - cpu0
      })
      return
    }

    const editCpu0 = cpuSeconds()
    const editWall0 = performance.now()
    if (c.closedLoop) await worker.runClosedLoop()
    else await worker.runOpenLoop()
    const editCpu = cpuSeconds() - editCpu0
    const editWall = (performance.now() - editWall0) / 1000
    await send({ event: 'edited' })
    await nextCommand()
    const settled = await worker.settle()
    const updatesReceived = worker.clients.reduce((a, cl) => a + cl.updatesReceived, 0)
    const closes = worker.serverCloses()
    const errors = worker.clientErrors()
    await send({ event: 'settled', cpu: cpuSeconds() })
    await nextCommand()
    await worker.closeAll()
    await send({
      event: 'result',
      ...connections(worker, connectS),
      latencies: worker.latencies,
      crossing: worker.crossing,
      echoes: worker.echoes,
      lags: worker.lags,
      edits: worker.edits,
      expected: worker.expected,
      delivered: worker.delivered,
      windowDeliveries: worker.windowDeliveries,
      windowS: Math.max(0, (worker.windowEnd - worker.windowStart) / 1000),
      updatesReceived,
      slow: worker.slow,
      slowCount: worker.slowCount,
      ...settled,
      serverCloses: closes,
      clientErrors: errors,
      editCpu,
      editWall,
      cpu: cpuSeconds() - cpu0
    })
  } catch (err) {
    await send({ event: 'error', error: String(err && err.stack ? err.stack : err) })
  } finally {
    setTimeout(() => process.exit(0), 100)
  }
}

// -- parent process ----------------------------------------------------------------------

function out (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

async function parentMain () {
  const rl = createInterface({ input: process.stdin })
  const lines = []
  let wake = null
  let stdinClosed = false
  rl.on('line', (line) => {
    lines.push(line)
    if (wake) wake()
  })
  rl.on('close', () => {
    stdinClosed = true
    if (wake) wake()
  })
  const readLine = async (timeoutMs) => {
    const deadline = performance.now() + timeoutMs
    while (lines.length === 0) {
      if (stdinClosed) throw new Error('stdin closed')
      const left = deadline - performance.now()
      if (left <= 0) throw new Error('timed out waiting for the driver')
      await new Promise((resolve) => {
        wake = resolve
        setTimeout(resolve, Math.min(left, 1000))
      })
      wake = null
    }
    return lines.shift()
  }

  const config = JSON.parse(await readLine(60000))
  const defaults = { connectConcurrency: 16, connectTimeoutMs: 30000, settleTimeoutMs: 10000, procs: 1, maxRate: 20 }
  const c = { ...defaults, ...config }
  const procs = Math.max(1, Math.min(c.procs, c.rooms.length))
  const rooms = c.rooms.map((name, index) => ({ index, name }))
  const children = []
  for (let i = 0; i < procs; i++) {
    const child = fork(SELF, ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const state = { child, inbox: [], wake: null, exited: false }
    child.on('message', (msg) => {
      state.inbox.push(msg)
      if (state.wake) state.wake()
    })
    child.on('exit', (code) => {
      state.exited = true
      state.exitCode = code
      if (state.wake) state.wake()
    })
    children.push(state)
    const mine = rooms.filter((r) => r.index % procs === i)
    const warmup = i === 0 && c.warmupRoom ? { index: rooms.length, name: c.warmupRoom } : null
    child.send({ config: { ...c, connectConcurrency: Math.max(1, Math.ceil(c.connectConcurrency / procs)) }, rooms: mine, warmup })
  }

  const gather = async (event, timeoutMs) => {
    const deadline = performance.now() + timeoutMs
    const got = []
    for (const s of children) {
      while (s.inbox.length === 0) {
        if (s.exited) throw new Error(`generator child exited (${s.exitCode}) while waiting for ${event}`)
        const left = deadline - performance.now()
        if (left <= 0) throw new Error(`generator children did not report ${event} in ${timeoutMs} ms`)
        await new Promise((resolve) => {
          s.wake = resolve
          setTimeout(resolve, Math.min(left, 1000))
        })
        s.wake = null
      }
      const msg = s.inbox.shift()
      if (msg.event === 'error') throw new Error(`generator child failed: ${msg.error}`)
      if (msg.event !== event) throw new Error(`expected ${event}, got ${msg.event}`)
      got.push(msg)
    }
    return got
  }
  const proceed = async () => {
    const line = await readLine(c.driverTimeoutMs || 600000)
    if (line.trim() !== 'go') throw new Error(`driver said ${JSON.stringify(line)}`)
    for (const s of children) s.child.send('go')
  }
  const phaseTimeout = c.connectTimeoutMs * 4 + 120000

  try {
    await gather('ready', phaseTimeout)
    out({ event: 'ready' })
    await proceed()
    const connected = await gather('connected', phaseTimeout + c.rooms.length * (c.clientsPerRoom || 1) * 100)
    out({
      event: 'connected',
      cpu: connected.reduce((a, m) => a + (m.cpu || 0), 0) + cpuSeconds(),
      connectS: Math.max(...connected.map((m) => m.connectS || 0)),
      failures: connected.reduce((a, m) => a + (m.failures || 0), 0),
      seeded: connected[0].seeded
    })
    await proceed()

    if (c.mode === 'join') {
      const [r] = await gather('result', phaseTimeout + c.join.joins * 60000)
      out({ event: 'result', mode: 'join', join: stats(r.times), times: r.times, failures: r.failures, seeded: r.seeded, serverCloses: r.serverCloses, generators: [{ cpu: r.cpu }] })
      return
    }
    if (c.mode === 'idle') {
      const rs = await gather('result', phaseTimeout)
      out({
        event: 'result',
        mode: 'idle',
        connected: rs.reduce((a, r) => a + r.connected, 0),
        connectS: Math.max(...rs.map((r) => r.connectS)),
        connectFailureCount: rs.reduce((a, r) => a + r.connectFailureCount, 0),
        connectFailures: rs.flatMap((r) => r.connectFailures).slice(0, 10),
        serverCloses: mergeCounts(rs.map((r) => r.serverCloses)),
        generators: rs.map((r) => ({ cpu: r.cpu }))
      })
      return
    }

    await gather('edited', c.durationS * 1000 + phaseTimeout)
    out({ event: 'edited' })
    await proceed()
    const settled = await gather('settled', c.settleTimeoutMs + 60000)
    out({ event: 'settled', cpu: settled.reduce((a, m) => a + m.cpu, 0) + cpuSeconds() })
    await proceed()
    const rs = await gather('result', 120000)
    const latencies = rs.flatMap((r) => r.latencies)
    const windowS = Math.max(...rs.map((r) => r.windowS))
    out({
      event: 'result',
      mode: 'load',
      clients: rs.reduce((a, r) => a + r.connected + r.connectFailureCount, 0),
      connected: rs.reduce((a, r) => a + r.connected, 0),
      connectS: Math.max(...rs.map((r) => r.connectS)),
      connectFailureCount: rs.reduce((a, r) => a + r.connectFailureCount, 0),
      connectFailures: rs.flatMap((r) => r.connectFailures).slice(0, 10),
      fanout: stats(latencies),
      crossing: stats(rs.flatMap((r) => r.crossing)),
      echo: stats(rs.flatMap((r) => r.echoes)),
      lag: stats(rs.flatMap((r) => r.lags)),
      edits: rs.reduce((a, r) => a + r.edits, 0),
      expected: rs.reduce((a, r) => a + r.expected, 0),
      delivered: rs.reduce((a, r) => a + r.delivered, 0),
      windowDeliveries: rs.reduce((a, r) => a + r.windowDeliveries, 0),
      windowS,
      updatesReceived: rs.reduce((a, r) => a + r.updatesReceived, 0),
      slowCount: rs.reduce((a, r) => a + r.slowCount, 0),
      slowest: rs.flatMap((r) => r.slow).sort((x, y) => y.ms - x.ms).slice(0, 10),
      slowBySecond: bySecond(rs.flatMap((r) => r.slow)),
      converged: rs.reduce((a, r) => a + r.converged, 0),
      rooms: rs.reduce((a, r) => a + r.rooms, 0),
      divergent: rs.flatMap((r) => r.divergent).slice(0, 10),
      serverCloses: mergeCounts(rs.map((r) => r.serverCloses)),
      clientErrors: rs.flatMap((r) => r.clientErrors).slice(0, 10),
      generators: rs.map((r) => ({ editCpu: r.editCpu, editWall: r.editWall, cpu: r.cpu, clients: r.connected }))
    })
  } catch (err) {
    out({ event: 'error', error: String(err && err.stack ? err.stack : err) })
    process.exitCode = 1
  } finally {
    for (const s of children) if (!s.exited) s.child.kill('SIGTERM')
    setTimeout(() => process.exit(), 200).unref()
    rl.close()
  }
}

function bySecond (slow) {
  const counts = {}
  for (const s of slow) {
    const k = Math.floor(s.at)
    counts[k] = (counts[k] || 0) + 1
  }
  return counts
}

function mergeCounts (list) {
  const total = {}
  for (const counts of list) for (const [k, v] of Object.entries(counts || {})) total[k] = (total[k] || 0) + v
  return total
}

if (process.argv.includes('--child')) childMain()
else parentMain()
