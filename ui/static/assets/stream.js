// stream.js: the live connection to /backend/conversations/stream.
//
// One EventSource (the key goes as ?token=, since EventSource cannot send
// headers). After a network drop the browser reconnects by itself and sends
// Last-Event-ID, and the server replays what was missed. When the browser
// gives up instead (an error status, the page went offline, a silent
// connection), LiveStream opens a new EventSource itself with
// ?last_event_id=<the last id seen>, with backoff, and asks the app to
// resync: refetch the list and the open conversation so that nothing shown is
// stale. The server's stream_reset event (our id is older than its log) asks
// for the same resync.

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;
// The server sends a heartbeat every 30 s by default: a stream silent for
// much longer is a dead connection that nobody noticed (laptop sleep, NAT).
const SILENCE_MS = 75000;

/**
 * State is 'connecting' (first connection), 'live', 'reconnecting' or
 * 'offline' (the browser reports no network).
 */
export class LiveStream {
  /**
   * @param {{key: string, onEvent: (ev: {type: string, data: object}) => void,
   *   onState: (state: string) => void, onResync: () => void, onGiveUp?: () => void}} opts
   */
  constructor({ key, onEvent, onState, onResync, onGiveUp }) {
    this.key = key;
    this.onGiveUp = onGiveUp || (() => {});
    this.onEvent = onEvent;
    this.onState = onState;
    this.onResync = onResync;
    this.es = null;
    this.lastId = '';
    this.attempt = 0;
    this.retryTimer = 0;
    this.silenceTimer = 0;
    this.needResync = true; // the first open loads everything
    this.state = '';
    this.online = () => this.reconnectNow();
    this.offline = () => this.dropped('offline');
  }

  start() {
    addEventListener('online', this.online);
    addEventListener('offline', this.offline);
    this.setState('connecting');
    this.open();
  }

  stop() {
    removeEventListener('online', this.online);
    removeEventListener('offline', this.offline);
    clearTimeout(this.retryTimer);
    this.close();
    this.stopped = true;
  }

  /** reconnectNow drops the current connection and opens a new one at once. */
  reconnectNow() {
    if (this.stopped) return;
    if (this.es && this.es.readyState === EventSource.OPEN) return;
    clearTimeout(this.retryTimer);
    this.needResync = true;
    this.setState('reconnecting');
    this.open();
  }

  open() {
    this.close();
    const q = new URLSearchParams({ token: this.key });
    if (this.lastId) q.set('last_event_id', this.lastId);
    const es = new EventSource('/backend/conversations/stream?' + q);
    this.es = es;
    es.onopen = () => {
      if (es !== this.es) return;
      this.attempt = 0;
      this.setState('live');
      this.watch();
      if (this.needResync) {
        this.needResync = false;
        this.onResync();
      }
    };
    es.onmessage = (e) => {
      if (es !== this.es) return;
      this.watch();
      if (e.lastEventId) this.lastId = e.lastEventId;
      let ev;
      try {
        ev = JSON.parse(e.data);
      } catch {
        return;
      }
      if (!ev || typeof ev.type !== 'string') return;
      if (ev.type === 'heartbeat') return;
      if (ev.type === 'stream_reset') {
        this.onResync();
        return;
      }
      this.onEvent(ev);
    };
    es.onerror = () => {
      if (es !== this.es) return;
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (an error status): we retry, and the app checks the key.
        this.dropped(navigator.onLine === false ? 'offline' : 'reconnecting');
        this.onGiveUp();
      } else {
        // The browser is retrying by itself with Last-Event-ID.
        clearTimeout(this.silenceTimer);
        this.setState(navigator.onLine === false ? 'offline' : 'reconnecting');
      }
    };
  }

  /** dropped closes the connection and schedules our own reconnection. */
  dropped(state) {
    if (this.stopped) return;
    this.close();
    this.needResync = true;
    this.setState(state);
    clearTimeout(this.retryTimer);
    const base = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.attempt++);
    this.retryTimer = setTimeout(() => this.open(), base / 2 + Math.random() * base / 2);
  }

  /** watch restarts the silence timer: no byte for SILENCE_MS means a dead connection. */
  watch() {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => this.dropped('reconnecting'), SILENCE_MS);
  }

  close() {
    clearTimeout(this.silenceTimer);
    if (this.es) {
      this.es.onopen = this.es.onmessage = this.es.onerror = null;
      this.es.close();
      this.es = null;
    }
  }

  setState(s) {
    if (s === this.state) return;
    this.state = s;
    this.onState(s);
  }
}
