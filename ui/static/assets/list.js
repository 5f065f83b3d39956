// list.js: the conversation list (left pane on desktop, the home screen on a phone).
//
// Each conversation is a link to #/c/<id>, so the list works with the
// keyboard, middle-click and the browser's back button. Rows are keyed by id
// and updated in place: a live update never steals the focus from the row
// the user is on.

import { $, h, shortTime, longTime, leadName, initials, avatarClass, roleLabel } from './dom.js';

export class ListView {
  /** @param {import('./state.js').Conversations} state */
  constructor(state) {
    this.state = state;
    this.ul = $('#conv-list');
    this.note = $('#list-note');
    this.more = $('#load-more');
    this.rows = new Map(); // id → li
    this.selected = '';
    this.loading = true;
  }

  select(id) {
    this.selected = id || '';
    this.render();
  }

  render() {
    const list = this.state.visible();
    const keep = new Set();
    let prev = null;
    for (const c of list) {
      keep.add(c.id);
      let li = this.rows.get(c.id);
      if (!li) {
        li = h('li', { class: 'conv-row' });
        this.rows.set(c.id, li);
      }
      this.fill(li, c);
      const want = prev ? prev.nextSibling : this.ul.firstChild;
      if (want !== li) this.ul.insertBefore(li, want);
      prev = li;
    }
    for (const [id, li] of this.rows) {
      if (!keep.has(id)) {
        li.remove();
        this.rows.delete(id);
      }
    }
    this.renderNote(list.length);
    this.more.hidden = !this.state.hasMore;
  }

  renderNote(shown) {
    const s = this.state;
    let text = '';
    if (!s.loaded) text = this.loading ? 'Loading conversations…' : '';
    else if (s.map.size === 0) {
      text = s.status === 'archived' ? 'No archived conversations.'
        : 'No conversations yet. They appear here as soon as a lead writes.';
    } else if (shown === 0 && s.query.trim()) {
      text = `Nothing matches “${s.query.trim()}” in the ${s.map.size} loaded conversations.`;
    } else if (shown === 0) {
      text = 'No conversations with this status.';
    } else if (s.query.trim()) {
      text = `${shown} of ${s.map.size} loaded conversations match (search covers the loaded conversations only).`;
    }
    this.note.textContent = text;
    this.note.hidden = text === '';
  }

  /** fill writes one row; it rebuilds the row's content but keeps the link element (and its focus). */
  fill(li, c) {
    const name = leadName(c);
    const typing = this.state.isTyping(c.id);
    const lm = c.last_message;
    const sig = JSON.stringify([name, c.lead && c.lead.phone, lm, c.unread_count, c.is_ai_active, c.status, typing,
      this.selected === c.id, shortTime(lm && lm.timestamp)]);
    if (li.dataset.sig === sig) return;
    li.dataset.sig = sig;

    let a = li.firstElementChild;
    if (!a) {
      a = h('a', { class: 'conv-link', href: '#/c/' + encodeURIComponent(c.id), dataset: { conversationId: c.id } });
      li.append(a);
    }
    if (this.selected === c.id) a.setAttribute('aria-current', 'true');
    else a.removeAttribute('aria-current');
    a.classList.toggle('unread', c.unread_count > 0);

    const preview = typing
      ? h('span', { class: 'preview typing-text' }, typing === 'assistant' ? 'AI is typing…' : 'typing…')
      : h('span', { class: 'preview' }, lm ? previewText(lm) : 'No messages yet');
    const badges = h('span', { class: 'badges' });
    if (!c.is_ai_active) badges.append(h('span', { class: 'pill paused', title: 'AI paused' }, 'AI paused'));
    if (c.status === 'archived') badges.append(h('span', { class: 'pill' }, 'Archived'));
    if (c.unread_count > 0) {
      badges.append(h('span', { class: 'count' }, h('span', { 'aria-hidden': 'true' }, String(c.unread_count)),
        h('span', { class: 'sr-only' }, ` ${c.unread_count} unread`)));
    }
    const sub = c.lead && c.lead.name && c.lead.phone ? c.lead.phone : '';
    a.replaceChildren(
      h('span', { class: avatarClass(c.lead_id), 'aria-hidden': 'true' }, initials(name)),
      h('span', { class: 'conv-main' },
        h('span', { class: 'conv-top' },
          h('span', { class: 'name' }, name),
          sub ? h('span', { class: 'phone' }, sub) : null,
          h('time', { class: 'when', datetime: lm ? lm.timestamp : c.created_at, title: longTime(lm && lm.timestamp) },
            shortTime(lm ? lm.timestamp : c.created_at))),
        h('span', { class: 'conv-bottom' }, preview, badges)),
    );
  }

  /** refreshTyping re-renders rows whose typing indicator may have expired. */
  refreshTyping() {
    if (this.state.typing.size) this.render();
  }
}

function previewText(lm) {
  const who = lm.role === 'user' ? '' : roleLabel(lm.role) + ': ';
  const body = lm.content && lm.content.trim() ? lm.content.trim() : mediaLabel(lm.message_type);
  return who + body.replace(/\s+/g, ' ').slice(0, 140);
}

function mediaLabel(type) {
  return { image: '📷 Image', audio: '🎤 Audio', pdf: '📄 PDF', document: '📄 Document', video: '🎬 Video' }[type] || 'Message';
}
