'use strict';
/*
 * Talk to the License Companion from Node.js or Electron (CommonJS, no dependencies).
 *
 *   const { connect } = require('./clients/node');
 *   const c = connect({ product: 'acme-pro' });
 *   c.track('App.started', { value: 1 });   // writes the line and returns
 *   await c.flush();                        // every event so far acknowledged as stored
 *   const lic = await c.license();          // the companion's license answer
 *   c.close();
 *
 * track() never waits: the line is written and answers are read as they come. A refused
 * event is reported by the 'error' event (when listened to) and by the next flush(). Every
 * event carries an event_id of this client's own; when the connection breaks, the events sent
 * but not acknowledged go to the companion's inbox with those ids, and the companion stores an
 * id at most once, so failover never duplicates. With no companion running, events go straight
 * to the inbox (<state dir>/inbox/<pid>-<random>.jsonl, written once per turn of the event
 * loop). The protocol: docs/host-protocol.md.
 */

const crypto = require('crypto');
const { EventEmitter } = require('events');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const APP_ID = 'license-companion';
const RETRY_MS = 1000; // between connection attempts while the companion is away

/** The product id as it appears in paths: lower case letters, digits and dashes. */
function productSlug(product) {
  const slug = String(product || '').toLowerCase().replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug || 'default';
}

/** Where the companion of `product` listens (computed as app/client.py does). */
function socketPath(product, env = process.env) {
  if (env.LICENSE_COMPANION_HOST_SOCKET) return env.LICENSE_COMPANION_HOST_SOCKET;
  if (process.platform === 'win32') return pipeName(product);
  const runtime = env.XDG_RUNTIME_DIR;
  const base = runtime && path.isAbsolute(runtime) ? runtime
    : path.join('/tmp', `${APP_ID}-${process.getuid ? process.getuid() : 0}`);
  return path.join(base, `${APP_ID}-${productSlug(product)}`, 'host.sock');
}

/** The one place the Windows pipe name is made (docs/host-protocol.md, "Where the companion
 * listens"): \\.\pipe\license-companion-<product slug>-<user SID>. Node has no SID call of its
 * own, so the SID comes from `whoami /user` once per process. */
let userSid = null;
function pipeName(product, sid) {
  if (!sid) {
    if (userSid === null) {
      const out = require('child_process').execFileSync('whoami', ['/user', '/fo', 'csv', '/nh'],
        { encoding: 'utf8', windowsHide: true });
      const match = /"(S-1-[0-9-]+)"/.exec(out);
      userSid = match ? match[1] : 'unknown';
    }
    sid = userSid;
  }
  return `\\\\.\\pipe\\${APP_ID}-${productSlug(product)}-${sid}`;
}

/** The companion's state directory (LICENSE_COMPANION_HOME or the user data directory). */
function stateDir(env = process.env) {
  if (env.LICENSE_COMPANION_HOME) {
    let home = env.LICENSE_COMPANION_HOME;
    if (home === '~' || home.startsWith('~/')) home = path.join(os.homedir(), home.slice(1));
    home = path.resolve(home);
    try { return fs.realpathSync(home); } catch (_) { return home; }
  }
  if (process.platform === 'win32') {
    return path.join(env.LOCALAPPDATA || path.join(os.homedir(), 'AppData', 'Local'), APP_ID);
  }
  if (process.platform === 'darwin') {
    return path.join(os.homedir(), 'Library', 'Application Support', APP_ID);
  }
  const data = (env.XDG_DATA_HOME || '').trim();
  return path.join(data && path.isAbsolute(data) ? data
    : path.join(os.homedir(), '.local', 'share'), APP_ID);
}

class ClientError extends Error {
  constructor(code, message, field) {
    super(`${code}: ${message}`);
    this.code = code;
    this.field = field || '';
  }
}

class Client extends EventEmitter {
  constructor(options = {}) {
    super();
    const product = options.product || process.env.LICENSE_COMPANION_PRODUCT || '';
    this.socketPath = options.socketPath || socketPath(product);
    this.inbox = options.inbox || path.join(stateDir(), 'inbox');
    const tag = crypto.randomBytes(8).toString('hex');
    this._tag = tag;
    this._idPrefix = `n-${tag}`;
    this._inboxQueue = [];
    this._inboxTimer = null;
    this._inboxFiles = 0;
    this._onExit = () => this._writeInbox(); // what is queued is on disk before the process ends
    process.on('exit', this._onExit);
    this._counter = 0;
    this._sock = null;
    this._connected = false;
    this._nextTry = 0;
    this._buffer = '';
    this._pending = []; // unanswered requests, in order: {line, event, resolve, reject}
    this._waiters = []; // flush() promises waiting for _pending to empty
    this._refused = [];
    this._closed = false;
  }

  /** Hands one event over without waiting; returns its event_id. */
  track(name, { value, xy, text, payload, timestamp, session } = {}) {
    const given = [['value', value], ['xy', xy], ['text', text]].filter(([, v]) => v !== undefined);
    if (given.length !== 1) throw new ClientError('invalid_field', 'give exactly one of value, xy or text', 'value');
    const eventId = `${this._idPrefix}-${++this._counter}`;
    const event = { op: 'track', name, [given[0][0]]: given[0][1] };
    if (payload) event.payload = payload;
    if (timestamp !== undefined) event.timestamp = timestamp;
    if (session) event.session = session;
    event.event_id = eventId;
    this._send(JSON.stringify(event) + '\n', true, null);
    return eventId;
  }

  /** Resolves once every event tracked so far is acknowledged as stored (or in the inbox);
   * rejects with the first refusal since the last flush, or after timeoutMs. */
  flush(timeoutMs = 30000) {
    return new Promise((resolve, reject) => {
      const done = () => {
        this._writeInbox();
        clearTimeout(timer);
        const refused = this._refused.splice(0);
        if (refused.length) {
          const err = refused[0];
          err.refused = refused.length;
          reject(err);
        } else {
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this._waiters = this._waiters.filter((w) => w !== done);
        reject(new ClientError('timeout', `${this._pending.length} answers still outstanding`));
      }, timeoutMs);
      if (!this._pending.some((p) => p.event)) done();
      else this._waiters.push(done);
    });
  }

  /** The license answer ({license: {state, ...}, offline: {...}}). */
  license(refresh = false) {
    return this.request({ op: 'license', refresh });
  }

  /** The consent answer. */
  consent() {
    return this.request({ op: 'consent' });
  }

  /** Any request object (or a raw line as a string); resolves with its answer object. */
  request(message, timeoutMs = 30000) {
    const line = typeof message === 'string' ? message : JSON.stringify(message);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new ClientError('timeout', 'no answer in time')),
        timeoutMs);
      const entry = {
        resolve: (a) => { clearTimeout(timer); resolve(a); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this._send(line + '\n', false, entry);
    });
  }

  /** Ends the connection; what is still unacknowledged goes to the inbox. */
  close() {
    this._closed = true;
    if (this._sock) this._failover('closed by the host');
    this._writeInbox();
    process.removeListener('exit', this._onExit);
  }

  // -- plumbing ------------------------------------------------------------------------

  _connect() {
    if (this._sock || this._closed || Date.now() < this._nextTry) return this._sock;
    this._nextTry = Date.now() + RETRY_MS;
    const sock = net.connect(this.socketPath);
    sock.setEncoding('utf8');
    sock.on('data', (data) => this._data(data));
    sock.on('error', (err) => this._failover(err.code || err.message));
    sock.on('close', () => this._failover('the companion closed the connection'));
    sock.on('connect', () => { this._connected = true; });
    this._sock = sock;
    return sock;
  }

  _send(line, event, entry) {
    const sock = this._connect();
    if (!sock) {
      if (event) this._toInbox([line]);
      else entry.reject(new ClientError('not_running', `no companion answers at ${this.socketPath}`));
      return;
    }
    this._pending.push({ line: event ? line : null, event, entry });
    sock.write(line); // buffered by Node until connected; never waits
  }

  _data(data) {
    this._buffer += data;
    let i;
    while ((i = this._buffer.indexOf('\n')) >= 0) {
      const text = this._buffer.slice(0, i);
      this._buffer = this._buffer.slice(i + 1);
      let answer;
      try { answer = JSON.parse(text); } catch (_) { this._sock.destroy(); return; }
      if (answer && answer.push && answer.ok === undefined) { this.emit('push', answer); continue; }
      const head = this._pending.shift();
      if (!head) continue;
      if (head.entry) head.entry.resolve(answer);
      else if (!answer.ok) this._refuse(answer.error || {});
    }
    this._settle();
  }

  _refuse(error) {
    const err = new ClientError(error.code || 'internal', error.message || '', error.field);
    this._refused.push(err);
    if (this.listenerCount('error')) this.emit('error', err);
  }

  _settle() {
    if (this._pending.some((p) => p.event)) return;
    for (const done of this._waiters.splice(0)) done();
  }

  /** The connection broke: unacknowledged events to the inbox with their ids. */
  _failover(why) {
    if (!this._sock) return;
    const sock = this._sock;
    this._sock = null;
    this._connected = false;
    this._buffer = '';
    this._nextTry = Date.now() + RETRY_MS;
    sock.removeAllListeners('close');
    sock.on('error', () => {});
    sock.destroy();
    const pending = this._pending.splice(0);
    const lines = pending.filter((p) => p.event).map((p) => p.line);
    if (lines.length) this._toInbox(lines);
    for (const p of pending) {
      if (p.entry) p.entry.reject(new ClientError('connection', `the connection broke: ${why}`));
    }
    this._settle();
  }

  /** Queues lines for the inbox; they are written together at the end of this turn of the
   * event loop (so a burst of track calls with no companion is one file, one fsync). */
  _toInbox(lines) {
    this._inboxQueue.push(...lines);
    if (!this._inboxTimer) this._inboxTimer = setImmediate(() => this._writeInbox());
  }

  /** Writes the queued lines as one new file, atomically: a temporary name the companion does
   * not take, fsync, then the rename to <pid>-<random>.jsonl (docs/host-protocol.md, "Fallback:
   * the inbox"). Node has no flock; a file that appears whole under its name needs none. */
  _writeInbox() {
    if (this._inboxTimer) clearImmediate(this._inboxTimer);
    this._inboxTimer = null;
    if (!this._inboxQueue.length) return;
    const data = this._inboxQueue.join('');
    const name = `${process.pid}-${this._tag}-${++this._inboxFiles}`;
    const temp = path.join(this.inbox, `.${name}.tmp`);
    try {
      fs.mkdirSync(this.inbox, { recursive: true, mode: 0o700 });
      const fd = fs.openSync(temp, 'wx', 0o600);
      try {
        fs.writeSync(fd, data);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, path.join(this.inbox, `${name}.jsonl`));
      this._inboxQueue = [];
    } catch (err) {
      try { fs.unlinkSync(temp); } catch (_) { /* not created */ }
      this._refuse({ code: 'inbox', message: `cannot write the inbox ${this.inbox}: ${err.message}` });
    }
  }
}

/** A client for `product` (or LICENSE_COMPANION_PRODUCT); connects on first use. */
function connect(options = {}) {
  return new Client(options);
}

module.exports = { connect, Client, ClientError, productSlug, socketPath, stateDir, pipeName };
