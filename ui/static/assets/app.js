// app.js: the inbox's entry point. Sign-in, routing (#/c/<id>), and the
// wiring between the live stream, the list and the open conversation.
//
// Consistency rule: whenever the stream may have missed something (the first
// connection, a reconnection we had to make ourselves, a stream_reset), the
// list and the open conversation are refetched, and the events that arrive
// meanwhile are held and applied after the fetch, in order. Events carry
// absolute values (unread count, AI flag, status) and messages are keyed by
// id, so applying an event the fetch already reflected changes nothing.

import { $, toast } from './dom.js';
import { api, auth, onUnauthorized } from './api.js';
import { LiveStream } from './stream.js';
import { Conversations } from './state.js';
import { ListView } from './list.js';
import { ConversationView } from './conversation.js';

const state = new Conversations((id) => api.conversation(id));
const list = new ListView(state);
const view = new ConversationView(state);
let stream = null;
let held = null; // events received while a resync loads, or null
let resyncAgain = false;
let listSeq = 0;

const CONN = {
  idle: ['', ''],
  connecting: ['Connecting…', ''],
  live: ['Live', ''],
  reconnecting: ['Reconnecting…', 'Connection lost. Reconnecting… Missed messages will appear when it is back.'],
  offline: ['Offline', 'You are offline. Waiting for the network; missed messages will appear when it is back.'],
};

function setConn(s) {
  document.body.dataset.conn = s;
  const [label, banner] = CONN[s] || CONN.idle;
  $('#conn-label').textContent = label;
  const b = $('#conn-banner');
  b.textContent = banner;
  b.hidden = banner === '';
}

// Rendering is batched: many events in one tick render the list once.
let renderQueued = false;
state.addEventListener('change', () => {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    list.render();
    const n = state.unreadTotal();
    document.title = n > 0 ? `(${n}) Parley inbox` : 'Parley inbox';
  });
});

function onEvent(ev) {
  if (held) held.push(ev);
  else dispatch(ev);
}

function dispatch(ev) {
  state.apply(ev);
  view.apply(ev);
}

async function loadList(more = false) {
  const seq = ++listSeq;
  const status = state.status;
  const page = await api.conversations({ status, offset: more ? state.offset : 0 });
  if (seq === listSeq && status === state.status) state.setPage(page, !more);
}

/** resync refetches what is shown, holding live events until it is done. */
async function resync() {
  if (held) {
    resyncAgain = true;
    return;
  }
  held = [];
  try {
    await Promise.all([loadList(), view.reload()]);
  } catch (err) {
    if (err.status !== 401) toast('Could not refresh: ' + err.message);
  }
  const events = held;
  held = null;
  events.forEach(dispatch);
  if (resyncAgain) {
    resyncAgain = false;
    resync();
  }
}

function route() {
  if (!stream) return;
  const m = location.hash.match(/^#\/c\/(.+)$/);
  const id = m ? decodeURIComponent(m[1]) : '';
  const was = view.id;
  document.body.dataset.view = id ? 'conv' : 'list';
  list.select(id);
  if (id) {
    view.open(id).catch((err) => toast(err.message));
    if (matchMedia('(max-width: 799px)').matches) $('#conv-name').focus();
  } else {
    view.close();
    const row = was && document.querySelector(`[data-conversation-id="${CSS.escape(was)}"]`);
    if (row) row.focus();
  }
}

function start(settings) {
  $('#tenant-name').textContent = (settings && settings.name) || '';
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#signin-error').hidden = true;
  state.clear();
  $('#status-filter').value = state.status;
  $('#search').value = '';
  stream = new LiveStream({
    key: auth.key, onEvent, onState: setConn, onResync: resync,
    // A stream refused for a revoked key would retry forever: a 401 here signs out.
    onGiveUp: () => api.settings().catch(() => {}),
  });
  stream.start();
  route();
}

function signOut(message) {
  if (stream) stream.stop();
  stream = null;
  held = null;
  auth.clear();
  view.close();
  view.drafts.clear();
  state.clear();
  setConn('idle');
  document.body.dataset.view = 'signin';
  $('#app').hidden = true;
  $('#signin').hidden = false;
  const err = $('#signin-error');
  err.textContent = message || '';
  err.hidden = !message;
  if (location.hash) history.replaceState(null, '', location.pathname);
  $('#key-input').focus();
}

onUnauthorized(() => signOut('The API key is no longer accepted (revoked?). Sign in again.'));

$('#signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('#key-input');
  const btn = $('#signin-btn');
  const err = $('#signin-error');
  const key = input.value.trim();
  if (!key) return;
  btn.disabled = true;
  err.hidden = true;
  try {
    const settings = await api.settings(key);
    auth.set(key);
    input.value = '';
    start(settings);
  } catch (ex) {
    err.textContent = ex.status === 401 ? 'This key was not accepted. Check it and try again.' : ex.message;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
});

$('#signout').addEventListener('click', () => signOut(''));

$('#search').addEventListener('input', (e) => {
  state.query = e.target.value;
  list.render();
});

$('#status-filter').addEventListener('change', (e) => {
  state.status = e.target.value;
  state.loaded = false;
  list.render();
  loadList().catch((err) => toast('Could not load conversations: ' + err.message));
});

$('#load-more').addEventListener('click', () => {
  loadList(true).catch((err) => toast('Could not load more: ' + err.message));
});

// Arrow keys move between conversations; Escape goes back to the list.
$('#conv-list').addEventListener('keydown', (e) => {
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
  const links = [...document.querySelectorAll('#conv-list .conv-link')];
  const i = links.indexOf(document.activeElement);
  const next = links[e.key === 'ArrowDown' ? i + 1 : i - 1];
  if (next) {
    e.preventDefault();
    next.focus();
  }
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && view.id && !e.target.closest('textarea, input, select')) location.hash = '#/';
});

addEventListener('hashchange', route);

// Typing indicators expire if their "stopped" event never came.
setInterval(() => {
  list.refreshTyping();
  view.renderTyping();
}, 5000);

if (auth.key) {
  api.settings().then(start).catch((err) => {
    if (err.status === 401) signOut('The saved API key is no longer accepted. Sign in again.');
    else start(null); // the server is unreachable: the stream keeps retrying
  });
} else {
  signOut('');
}
