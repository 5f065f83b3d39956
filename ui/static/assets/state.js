// state.js: the conversations the inbox knows, kept current by stream events.
//
// The list is loaded a page at a time (newest activity first) and then
// patched by events: new_message moves a conversation up and sets its last
// message, conversation_update sets unread/AI/status, status_change the
// status, typing a transient indicator. An event for a conversation not
// loaded yet (a new one) fetches it. Status filtering is done by the server
// (and re-applied here as events move conversations between statuses);
// search is client-side, over the conversations loaded so far.

import { ms, leadName } from './dom.js';

const TYPING_TTL_MS = 30000; // a typing:true whose false never came expires

export class Conversations extends EventTarget {
  constructor(fetchOne) {
    super();
    this.fetchOne = fetchOne; // (id) => Promise<conversation>
    this.clear();
  }

  clear() {
    this.map = new Map();
    this.typing = new Map(); // conversation id → {role, until}
    this.fetching = new Map(); // conversation id → events waiting for it
    this.status = 'active';
    this.query = '';
    this.total = 0;
    this.offset = 0;
    this.loaded = false;
    this.changed();
  }

  /** setPage stores a page of GET /backend/conversations (first page: replace). */
  setPage(page, first) {
    if (first) this.map = new Map();
    for (const c of page.data) this.map.set(c.id, c);
    this.total = page.pagination ? page.pagination.total : page.data.length;
    this.offset = (first ? 0 : this.offset) + page.data.length;
    this.loaded = true;
    this.changed();
  }

  get hasMore() { return this.offset < this.total; }

  get(id) { return this.map.get(id); }

  /** put stores a conversation as the API returned it. */
  put(c) {
    if (!c || !c.id) return;
    const old = this.map.get(c.id);
    // Keep a newer last message seen on the stream if the API copy is older.
    if (old && old.last_message && (!c.last_message || ms(old.last_message.timestamp) > ms(c.last_message.timestamp))) {
      c = { ...c, last_message: old.last_message };
    }
    this.map.set(c.id, c);
    this.changed();
  }

  /** apply folds one stream event into the list. */
  apply(ev) {
    const d = ev.data || {};
    const id = d.conversation_id;
    if (!id) return;
    if (ev.type === 'typing') {
      if (d.is_typing) this.typing.set(id, { role: d.role, until: Date.now() + TYPING_TTL_MS });
      else this.typing.delete(id);
      this.changed();
      return;
    }
    if (this.fetching.has(id)) {
      this.fetching.get(id).push(ev);
      return;
    }
    const c = this.map.get(id);
    if (!c) {
      this.fetchMissing(id, ev);
      return;
    }
    const n = { ...c };
    switch (ev.type) {
      case 'new_message': {
        const m = d.message || {};
        n.last_message = { content: m.content, role: m.role, timestamp: m.timestamp, message_type: m.message_type };
        if (m.role !== 'user') this.typing.delete(id);
        break;
      }
      case 'conversation_update':
        for (const k of ['is_ai_active', 'unread_count', 'status']) if (k in d) n[k] = d[k];
        break;
      case 'status_change':
        n.status = d.status;
        break;
      default:
        return;
    }
    this.map.set(id, n);
    this.changed();
  }

  /** fetchMissing loads a conversation first seen on the stream, then replays its queued events. */
  async fetchMissing(id, ev) {
    if (ev.type !== 'new_message' && this.status && ev.data.status && ev.data.status !== this.status) return;
    this.fetching.set(id, []);
    try {
      const c = await this.fetchOne(id);
      this.map.set(c.id, c);
    } catch {
      // Gone or unreachable: a later event or a resync brings it.
    }
    const queued = this.fetching.get(id) || [];
    this.fetching.delete(id);
    if (this.map.has(id)) {
      this.total++;
      this.offset++;
    }
    this.changed();
    for (const q of queued) this.apply(q);
  }

  /** isTyping returns who is typing in a conversation, or null. */
  isTyping(id) {
    const t = this.typing.get(id);
    if (!t) return null;
    if (t.until < Date.now()) {
      this.typing.delete(id);
      return null;
    }
    return t.role;
  }

  /** visible is the list to show: the status filter, the search, newest activity first. */
  visible() {
    const q = this.query.trim().toLowerCase();
    const out = [];
    for (const c of this.map.values()) {
      if (this.status && c.status !== this.status) continue;
      if (q && !searchText(c).includes(q)) continue;
      out.push(c);
    }
    return out.sort((a, b) => activity(b) - activity(a) || (a.id < b.id ? 1 : -1));
  }

  /** unreadTotal counts unread messages over the loaded conversations. */
  unreadTotal() {
    let n = 0;
    for (const c of this.map.values()) if (c.status === 'active') n += c.unread_count || 0;
    return n;
  }

  changed() { this.dispatchEvent(new Event('change')); }
}

function activity(c) {
  return Math.max(ms(c.last_message && c.last_message.timestamp), ms(c.created_at));
}

function searchText(c) {
  const l = c.lead || {};
  return [leadName(c), l.name, l.phone, l.id, c.lead_id, c.id, c.last_message && c.last_message.content]
    .filter(Boolean).join('\n').toLowerCase();
}
