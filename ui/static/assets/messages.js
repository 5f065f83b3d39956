// messages.js: one message as a list item.
//
// Content is text: it goes into the page with textContent (white-space:
// pre-wrap keeps its line breaks), so a message "<script>…" shows literally.
// Media URLs are used only when they are http(s): images as <img>, audio and
// video as players, PDFs and documents as links. extracted_text (a
// transcript, a PDF's text, an image description) sits in a <details>.

import { h, safeURL, fileName, shortTime, longTime, roleLabel } from './dom.js';

const EXTRACTED_LABEL = { audio: 'Transcript', image: 'Image description', pdf: 'Extracted text', document: 'Extracted text' };

/** signature changes when anything shown of the message changes. */
export function signature(m) {
  return JSON.stringify([m.content, m.status, m.url, m.extracted_text, m.message_type, m.timestamp]);
}

/** messageEl renders a message. */
export function messageEl(m) {
  const role = ['user', 'assistant', 'human', 'system'].includes(m.role) ? m.role : 'system';
  const bubble = h('div', { class: 'bubble' });
  const media = mediaEl(m);
  if (media) bubble.append(media);
  if (m.content && m.content.trim() !== '') bubble.append(h('p', { class: 'text', text: m.content }));
  else if (!media) bubble.append(h('p', { class: 'text empty' }, '(empty message)'));
  if (m.extracted_text) {
    bubble.append(h('details', { class: 'extracted' },
      h('summary', {}, EXTRACTED_LABEL[m.message_type] || 'Extracted text'),
      h('p', { class: 'extracted-text', text: m.extracted_text })));
  }
  const meta = h('div', { class: 'meta' },
    h('span', { class: 'who' }, roleLabel(role)),
    h('time', { datetime: m.timestamp, title: longTime(m.timestamp) }, shortTime(m.timestamp)));
  if (role !== 'user' && m.status) {
    meta.append(h('span', { class: 'status status-' + m.status }, statusLabel(m.status)));
  }
  return h('li', {
    class: 'msg from-' + role,
    dataset: { messageId: m.id, role, sig: signature(m) },
  }, bubble, meta);
}

function mediaEl(m) {
  const type = m.message_type;
  if (!type || type === 'text') return null;
  const url = safeURL(m.url);
  if (!url) return h('p', { class: 'media-missing' }, `[${type}: no viewable link]`);
  const link = (cls, label) => h('a', { class: cls, href: url, target: '_blank', rel: 'noopener noreferrer' }, label);
  switch (type) {
    case 'image':
      return h('a', { class: 'media-image', href: url, target: '_blank', rel: 'noopener noreferrer' },
        h('img', { src: url, alt: m.content ? 'Image: ' + m.content.slice(0, 80) : 'Image from the conversation', loading: 'lazy', decoding: 'async' }));
    case 'audio':
      return h('div', { class: 'media-audio' },
        h('audio', { controls: true, preload: 'metadata', src: url, 'aria-label': 'Audio message' },
          link('', 'Download the audio')));
    case 'video':
      return h('video', { class: 'media-video', controls: true, preload: 'metadata', src: url, 'aria-label': 'Video message' },
        link('', 'Download the video'));
    default: // pdf, document
      return link('media-doc', [
        h('span', { class: 'doc-icon', 'aria-hidden': 'true' }, type === 'pdf' ? 'PDF' : 'DOC'),
        h('span', { class: 'doc-name' }, fileName(url)),
      ]);
  }
}

function statusLabel(s) {
  return { pending: 'Pending', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Failed' }[s] || s;
}
