// dom.js: small DOM and formatting helpers.
//
// Every string coming from the server enters the page as text (text nodes,
// textContent, attribute values), never as HTML: no HTML-parsing DOM API is
// used anywhere. URLs are checked with safeURL before they become href or src.

/** $ is querySelector. */
export const $ = (sel, root = document) => root.querySelector(sel);

/**
 * h builds an element. props: class, text, dataset, on<event> (a listener),
 * anything else is an attribute (true = present, false/null = absent).
 * Children are nodes or strings (strings become text nodes).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null && c !== false) el.append(c);
  }
  return el;
}

/** safeURL returns an absolute http(s) URL, or null for anything else (javascript:, data:…). */
export function safeURL(raw) {
  if (typeof raw !== 'string' || raw === '') return null;
  try {
    const u = new URL(raw, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/** fileName is the last path segment of a URL, for document links. */
export function fileName(url) {
  try {
    const seg = new URL(url).pathname.split('/').filter(Boolean).pop();
    return seg ? decodeURIComponent(seg) : url;
  } catch {
    return url;
  }
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** ms parses an RFC 3339 timestamp (0 when missing or bad). */
export const ms = (ts) => (ts ? Date.parse(ts) || 0 : 0);

/** shortTime is "14:05" today, "3 Mar" before. */
export function shortTime(ts) {
  const t = ms(ts);
  if (!t) return '';
  const d = new Date(t);
  return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dayFmt.format(d);
}

/** longTime is the full local date and time, for title attributes. */
export const longTime = (ts) => (ms(ts) ? fullFmt.format(new Date(ms(ts))) : '');

/**
 * leadName is what a conversation is called: the lead's name or phone. A lead
 * with neither (a web visitor of the agent-conversation API, whose id the
 * server made up) is called by the conversation's meta name when it has one,
 * else "Visitor" and the last characters of its id: a raw UUID tells an
 * operator nothing, and its first characters are a timestamp that visitors
 * of the same hour share. Other ids (a WhatsApp JID) are shown as they are.
 */
export function leadName(c) {
  const l = (c && c.lead) || {};
  if (l.name) return l.name;
  if (l.phone) return l.phone;
  const meta = (c && c.meta) || {};
  const given = [meta.name, meta.nome, meta.lead_name].find((v) => typeof v === 'string' && v.trim());
  if (given) return given.trim();
  const id = l.id || (c && c.lead_id) || '';
  if (UUID.test(id)) return 'Visitor ' + id.slice(-4);
  return prettyId(id) || 'Unknown lead';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** prettyId shows a WhatsApp JID (5511999999999@s.whatsapp.net) as its number. */
export function prettyId(id) {
  const m = /^(\d{6,15})@(s\.whatsapp\.net|c\.us)$/.exec(id || '');
  return m ? '+' + m[1] : id;
}

/** initials are one or two letters for an avatar. */
export function initials(name) {
  const words = String(name).replace(/[^\p{L}\p{N} ]/gu, ' ').trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  if (/^\d/.test(words[0])) return '#';
  return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : '')).toUpperCase();
}

/** avatarClass picks one of eight colours from an id, always the same one. */
export function avatarClass(id) {
  let n = 0;
  for (const ch of String(id)) n = (n * 31 + ch.codePointAt(0)) >>> 0;
  return 'avatar c' + (n % 8);
}

/** roleLabel names who wrote a message. */
export function roleLabel(role) {
  return { user: 'Lead', assistant: 'AI', human: 'Operator', system: 'System' }[role] || role;
}

let toastTimer = 0;
/** toast shows a short message (errors, confirmations) for a few seconds. */
export function toast(text) {
  const el = $('#toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 5000);
}
