// The API key prompt: a modal form, shown when the API answers 401. The key is kept in this
// tab's sessionStorage only (gone when the tab closes) and never written anywhere else.
import { h } from './dom.js';

export function askForKey(reason: string): Promise<string> {
  return new Promise((resolve) => {
    const input = h('input', { type: 'password', name: 'key', autocomplete: 'off', required: true, 'aria-label': 'API key' });
    const form = h(
      'form',
      { method: 'dialog', class: 'key-form' },
      h('h2', {}, 'API key'),
      h('p', {}, reason, ' It is kept for this tab only.'),
      input,
      h('button', { type: 'submit', class: 'primary' }, 'Use this key'),
    );
    const dialog = h('dialog', { class: 'key-dialog' }, form);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (key === '') return;
      dialog.close();
      dialog.remove();
      resolve(key);
    });
    // Escape would leave every request waiting: the dialog stays until a key is given.
    dialog.addEventListener('cancel', (event) => event.preventDefault());
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}
