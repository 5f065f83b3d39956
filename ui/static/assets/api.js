// api.js: the REST calls the inbox makes, and where the API key lives.
//
// The key is kept in sessionStorage (this tab only, gone when it closes) and
// sent as `Authorization: Bearer`. Errors are the server's problem JSON,
// turned into ApiError; a 401 on any call signs the user out.

const KEY = 'parley.apiKey';

/** auth holds the API key of this tab. */
export const auth = {
  get key() { return sessionStorage.getItem(KEY) || ''; },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

/** ApiError is a failed call: HTTP status (0 when the server was unreachable), code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};
/** onUnauthorized sets what happens when the key stops working (revoked, wrong server). */
export function onUnauthorized(fn) { unauthorized = fn; }

/** seg escapes one path segment, keeping the characters lead ids use (@ : +) readable. */
export function seg(s) {
  return encodeURIComponent(s).replace(/%40/g, '@').replace(/%3A/gi, ':').replace(/%2B/gi, '+');
}

async function request(method, path, { query, body, key } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const headers = { Accept: 'application/json', Authorization: 'Bearer ' + (key ?? auth.key) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(url, {
      method, headers, cache: 'no-store', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The server cannot be reached. Check your connection.');
  }
  const json = /json/.test(res.headers.get('Content-Type') || '') ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const msg = (json && (json.detail || (json.error && json.error.message))) || res.statusText || 'Request failed';
    const err = new ApiError(res.status, (json && json.error && json.error.code) || 'HTTP_' + res.status, msg);
    if (res.status === 401 && key === undefined) unauthorized(err);
    throw err;
  }
  return json;
}

const data = (r) => r.data;

export const api = {
  /** settings checks a key (key given) or the stored one, and names the tenant. */
  settings: (key) => request('GET', '/backend/settings', { key }).then(data),

  /** conversations is one page of the list: {data, pagination}. */
  conversations: ({ status, limit = 100, offset = 0 } = {}) =>
    request('GET', '/backend/conversations', { query: { status, limit, offset } }),

  conversation: (id) => request('GET', `/backend/conversations/${seg(id)}`).then(data),

  updateConversation: (id, patch) =>
    request('PUT', `/backend/conversations/${seg(id)}`, { body: patch }).then(data),

  markRead: (id) => request('POST', `/backend/conversations/${seg(id)}/read`).then(data),

  /** messages is a page of a lead's history, chronological: {data, pagination:{has_more, oldest_timestamp}}. */
  messages: (leadId, { before, limit = 50 } = {}) =>
    request('GET', `/backend/messages/${seg(leadId)}`, { query: { limit, before } }),

  /** send stores an operator message (role human) on the lead's conversation of that channel. */
  send: ({ lead_id, channel_id, content }) =>
    request('POST', '/backend/messages/send', { body: channel_id ? { lead_id, channel_id, content } : { lead_id, content } })
      .then(data),
};
