// conversation.js: the open conversation (right pane on desktop, its own
// screen on a phone): header and actions, messages, typing, the composer.
//
// Messages come from GET /backend/messages/{lead_id} (a lead's history, kept
// to this conversation's messages), newest page first, "Load older" pages
// back with `before`. Live messages arrive as stream events; their payload
// has no extracted_text, so a media message triggers a refetch of the tail.

import { $, ms, leadName, initials, avatarClass, roleLabel, toast } from './dom.js';
import { api } from './api.js';
import { messageEl, signature } from './messages.js';

const PAGE = 50;
const TYPING_LABEL = { assistant: 'AI is typing…', user: 'Lead is typing…', human: 'An operator is typing…' };

export class ConversationView {
  /** @param {import('./state.js').Conversations} state */
  constructor(state) {
    this.state = state;
    this.id = '';
    this.drafts = new Map(); // conversation id → unsent text
    this.sending = false;
    this.el = {
      empty: $('#conv-empty'), root: $('#conv'), name: $('#conv-name'), sub: $('#conv-sub'), avatar: $('#conv-avatar'),
      ai: $('#ai-toggle'), archive: $('#archive-toggle'), read: $('#read-btn'), scroller: $('#scroller'),
      list: $('#messages'), older: $('#load-older'), typing: $('#typing'), form: $('#composer'),
      input: $('#composer-input'), send: $('#send'), note: $('#composer-note'), announcer: $('#announcer'),
    };
    const e = this.el;
    e.ai.addEventListener('click', () => this.act({ is_ai_active: !this.conv().is_ai_active }));
    e.archive.addEventListener('click', () => this.act({ status: this.conv().status === 'archived' ? 'active' : 'archived' }));
    e.read.addEventListener('click', () => this.markRead(true));
    e.older.addEventListener('click', () => this.loadOlder());
    e.form.addEventListener('submit', (ev) => { ev.preventDefault(); this.send(); });
    e.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); this.send(); }
    });
    document.addEventListener('visibilitychange', () => { if (!document.hidden) this.markRead(false); });
  }

  conv() { return this.state.get(this.id) || {}; }

  /** open shows a conversation: its header at once, then its messages. */
  async open(id) {
    if (id === this.id) return;
    this.saveDraft();
    this.id = id;
    this.msgs = new Map();
    this.rows = new Map();
    this.oldest = '';
    this.hasMore = false;
    this.el.list.replaceChildren();
    this.el.empty.hidden = true;
    this.el.root.hidden = false;
    this.el.input.value = this.drafts.get(id) || '';
    if (!this.state.get(id)) {
      try {
        this.state.put(await api.conversation(id));
      } catch (err) {
        toast(err.status === 404 ? 'That conversation does not exist (any more).' : err.message);
        location.hash = '#/';
        return;
      }
    }
    if (id !== this.id) return;
    this.renderHead();
    await this.loadLatest();
    this.scrollToEnd();
    this.markRead(false);
  }

  /** saveDraft keeps what was typed in the open conversation until it is reopened. */
  saveDraft() {
    if (!this.id) return;
    if (this.el.input.value) this.drafts.set(this.id, this.el.input.value);
    else this.drafts.delete(this.id);
  }

  close() {
    this.saveDraft();
    this.id = '';
    this.el.list.replaceChildren();
    this.el.typing.hidden = true;
    this.el.root.hidden = true;
    this.el.empty.hidden = false;
  }

  /** reload refetches the conversation and its newest messages (after a reconnection). */
  async reload() {
    const id = this.id;
    if (!id) return;
    const c = await api.conversation(id);
    if (id !== this.id) return;
    this.state.put(c);
    this.renderHead();
    await this.loadLatest();
  }

  renderHead() {
    const c = this.conv();
    const e = this.el;
    const name = leadName(c);
    e.name.textContent = name;
    e.avatar.className = avatarClass(c.lead_id);
    e.avatar.textContent = initials(name);
    const l = c.lead || {};
    e.sub.textContent = [l.phone !== name ? l.phone : '', l.id !== name ? l.id : '', c.status === 'archived' ? 'archived' : '']
      .filter(Boolean).join(' · ');
    const on = !!c.is_ai_active;
    e.ai.textContent = on ? 'AI on' : 'AI paused';
    e.ai.setAttribute('aria-pressed', String(on));
    e.ai.setAttribute('aria-label', 'AI replies');
    e.ai.title = on ? 'The AI answers this lead. Click to pause it.' : 'The AI is paused here. Click to let it answer again.';
    e.archive.textContent = c.status === 'archived' ? 'Unarchive' : 'Archive';
    e.read.disabled = !(c.unread_count > 0);
    e.read.textContent = c.unread_count > 0 ? `Mark read (${c.unread_count})` : 'Read';
    const archived = c.status === 'archived';
    e.input.disabled = archived;
    e.send.disabled = archived || this.sending;
    e.note.hidden = !archived;
    e.note.textContent = archived ? 'This conversation is archived. Unarchive it to reply.' : '';
    this.renderTyping();
  }

  renderTyping() {
    const who = this.id ? this.state.isTyping(this.id) : null;
    this.el.typing.hidden = !who;
    this.el.typing.textContent = who ? TYPING_LABEL[who] || 'Typing…' : '';
  }

  /** apply reacts to a stream event (the list state has already taken it). */
  apply(ev) {
    const d = ev.data || {};
    if (!this.id || d.conversation_id !== this.id) return;
    if (ev.type === 'new_message' && d.message) {
      const m = { ...d.message, conversation_id: d.conversation_id, lead_id: d.lead_id };
      const isNew = !this.msgs.has(m.id);
      this.merge([m], true);
      if (m.message_type && m.message_type !== 'text') this.refreshTail();
      if (isNew && m.role !== 'human') {
        this.el.announcer.textContent = `${roleLabel(m.role)}: ${m.content || m.message_type}`;
      }
    }
    if (ev.type === 'message_status' && this.msgs.has(d.message_id)) {
      this.merge([{ ...this.msgs.get(d.message_id), status: d.status }], false);
    }
    this.renderHead();
    this.markRead(false); // the user is looking at it: new messages are read
  }

  async loadLatest() {
    const c = this.conv();
    const page = await api.messages(c.lead_id, { limit: PAGE });
    if (c.id !== this.id) return;
    if (!this.oldest) this.setPaging(page.pagination);
    this.merge(page.data, false);
  }

  async loadOlder() {
    const c = this.conv();
    if (!this.oldest) return;
    this.el.older.disabled = true;
    try {
      // `before` is exclusive at millisecond precision: ask for one ms more
      // (messages already shown are merged by id) so that messages sharing
      // the oldest one's millisecond are not skipped; if a whole page shares
      // it, step past it. A few pages at most, in case the lead's older
      // messages belong to another conversation.
      let exact = false;
      for (let i = 0; i < 5 && this.hasMore; i++) {
        const before = exact ? this.oldest : new Date(ms(this.oldest) + 1).toISOString();
        const page = await api.messages(c.lead_id, { limit: PAGE, before });
        if (c.id !== this.id) return;
        const size = this.msgs.size;
        const oldest = this.oldest;
        this.setPaging(page.pagination);
        this.merge(page.data, false, true);
        if (this.msgs.size > size) break;
        exact = this.oldest === oldest;
      }
    } catch (err) {
      toast('Could not load older messages: ' + err.message);
    } finally {
      this.el.older.disabled = false;
    }
  }

  setPaging(p) {
    const c = this.conv();
    this.oldest = (p && p.oldest_timestamp) || this.oldest;
    // Older pages can only hold this conversation's messages if they are newer than it.
    this.hasMore = !!(p && p.has_more) && ms(this.oldest) >= ms(c.created_at);
    this.el.older.hidden = !this.hasMore;
  }

  /** merge upserts messages of this conversation and renders them in order. */
  merge(list, live, older = false) {
    const sc = this.el.scroller;
    const atEnd = sc.scrollHeight - sc.scrollTop - sc.clientHeight < 80;
    const fromEnd = sc.scrollHeight - sc.scrollTop;
    for (const m of list) {
      if (m.conversation_id && m.conversation_id !== this.id) continue;
      this.msgs.set(m.id, { ...this.msgs.get(m.id), ...m });
    }
    const sorted = [...this.msgs.values()].sort((a, b) => ms(a.timestamp) - ms(b.timestamp) || (a.id < b.id ? -1 : 1));
    let prev = null;
    for (const m of sorted) {
      let li = this.rows.get(m.id);
      if (!li || li.dataset.sig !== signature(m)) {
        const fresh = messageEl(m);
        const opened = li && li.querySelector('details[open]');
        const details = fresh.querySelector('details');
        if (opened && details) details.open = true; // a re-render (status change) keeps what the user opened
        if (li) li.replaceWith(fresh);
        li = fresh;
        this.rows.set(m.id, li);
      }
      const want = prev ? prev.nextSibling : this.el.list.firstChild;
      if (want !== li) this.el.list.insertBefore(li, want);
      prev = li;
    }
    if (older) sc.scrollTop = sc.scrollHeight - fromEnd;
    else if (live && atEnd) this.scrollToEnd();
  }

  scrollToEnd() { this.el.scroller.scrollTop = this.el.scroller.scrollHeight; }

  /** refreshTail refetches the newest messages, for extracted_text that events do not carry. */
  refreshTail() {
    clearTimeout(this.tailTimer);
    this.tailTimer = setTimeout(async () => {
      const c = this.conv();
      if (!c.lead_id) return;
      try {
        const page = await api.messages(c.lead_id, { limit: 20 });
        if (c.id === this.id) this.merge(page.data, true);
      } catch { /* the next event or resync tries again */ }
    }, 700);
  }

  /** markRead clears the unread count; automatic calls only when the tab is visible. */
  markRead(explicit) {
    const c = this.conv();
    if (!this.id || !(c.unread_count > 0) || (!explicit && document.hidden)) return;
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(async () => {
      try {
        this.state.put(await api.markRead(c.id));
        if (c.id === this.id) this.renderHead();
      } catch (err) {
        if (explicit) toast('Could not mark as read: ' + err.message);
      }
    }, explicit ? 0 : 150);
  }

  async act(patch) {
    const c = this.conv();
    const btns = [this.el.ai, this.el.archive];
    btns.forEach((b) => { b.disabled = true; });
    try {
      this.state.put(await api.updateConversation(c.id, patch));
    } catch (err) {
      toast('Could not update the conversation: ' + err.message);
    } finally {
      btns.forEach((b) => { b.disabled = false; });
      if (c.id === this.id) this.renderHead();
    }
  }

  async send() {
    const c = this.conv();
    const content = this.el.input.value;
    if (!c.id || content.trim() === '' || this.sending || c.status === 'archived') return;
    this.sending = true;
    this.el.send.disabled = true;
    try {
      const m = await api.send({ lead_id: c.lead_id, channel_id: c.channel_id, content });
      if (c.id === this.id) this.el.input.value = '';
      this.drafts.delete(c.id);
      const ev = { type: 'new_message', data: { conversation_id: m.conversation_id, lead_id: m.lead_id, message: m } };
      this.state.apply(ev);
      if (m.conversation_id === this.id) {
        this.merge([m], false);
        this.scrollToEnd();
      } else {
        location.hash = '#/c/' + encodeURIComponent(m.conversation_id);
      }
    } catch (err) {
      toast('Not sent: ' + err.message);
    } finally {
      this.sending = false;
      this.el.send.disabled = this.conv().status === 'archived';
      this.el.input.focus();
    }
  }
}
