// The live todo page: the list, add, toggle and delete through the todos plugin's routes, the
// metrics its trigger keeps, and every change from the `todos-live` stream, through the Eddy
// client (`client/`, a copy of clients/js's build). On the first answer of the stream, and
// whenever the client says continuity was lost (a restart, a gap), the page reloads the list;
// the changes that arrive meanwhile are applied on top, so none is lost or shown twice.

import { createClient } from './client/index.js';

const eddy = createClient();
const todos = new Map(); // id -> todo, in creation order (ids are time-ordered)
let loading = null; // the reload in flight, and the changes that came during it
const $ = (id) => document.getElementById(id);

const STATUS = { idle: 'Connecting…', connecting: 'Connecting…', open: 'Live', reconnecting: 'Reconnecting…', closed: 'Offline' };
eddy.onState((state) => {
  $('connection').textContent = STATUS[state.status] ?? state.status;
  $('connection').dataset.status = state.status;
});

eddy.subscribe('todos-live', 'all', {
  onSync: () => reload(),
  onResync: () => reload(),
  onEvent: (type, data) => {
    if (type !== 'todo_changed') return;
    if (loading) loading.changes.push(data);
    else apply(data);
    render();
    refreshMetrics();
  },
});

/** Reads the list again; changes that arrive before it answers are applied after it. */
async function reload() {
  const mine = { changes: [] };
  loading = mine;
  try {
    const [list, metrics] = await Promise.all([eddy.fetch('/todos'), eddy.fetch('/todos/metrics')]);
    if (loading !== mine) return; // a newer reload took over
    todos.clear();
    for (const todo of list) todos.set(todo.id, todo);
    for (const change of mine.changes) apply(change);
    showMetrics(metrics);
  } catch (error) {
    showError(error);
  } finally {
    if (loading === mine) loading = null;
  }
  render();
}

/** One change from the stream: `{action, key, todo}` (the todo as it is, or was on delete). */
function apply({ action, key, todo }) {
  if (action === 'deleted') todos.delete(key);
  else if (todo) todos.set(key, todo);
}

let metricsTimer = null;
function refreshMetrics() {
  // The metrics trigger runs beside the stream's: ask shortly after the last change.
  clearTimeout(metricsTimer);
  metricsTimer = setTimeout(async () => {
    try {
      showMetrics(await eddy.fetch('/todos/metrics'));
    } catch (error) {
      showError(error);
    }
  }, 150);
}

function showMetrics({ total = 0, completed = 0 }) {
  $('metrics').textContent = `${total} ${total === 1 ? 'todo' : 'todos'}, ${completed} completed`;
}

function showError(error) {
  $('error').textContent = error?.message ?? String(error);
  $('error').hidden = false;
}

function render() {
  const list = $('todos');
  const items = [];
  for (const todo of [...todos.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    items.push(item(todo));
  }
  list.replaceChildren(...items);
}

function item(todo) {
  const li = document.createElement('li');
  li.dataset.id = todo.id;
  li.classList.toggle('done', todo.completed);
  const label = document.createElement('label');
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = todo.completed;
  box.addEventListener('change', () => act('/todos/toggle', { id: todo.id }));
  const title = document.createElement('span');
  title.textContent = todo.title;
  label.append(box, title);
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'delete';
  remove.textContent = 'Delete';
  remove.setAttribute('aria-label', `Delete “${todo.title}”`);
  remove.addEventListener('click', () => act('/todos/delete', { id: todo.id }));
  li.append(label, remove);
  return li;
}

/** Calls a route; what it changes comes back through the stream, like anyone else's change. */
async function act(path, body) {
  $('error').hidden = true;
  try {
    await eddy.fetch(path, { method: 'POST', json: body });
  } catch (error) {
    showError(error);
    render(); // put a checkbox back as the list says
  }
}

$('add').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('title');
  const title = input.value.trim();
  if (!title) return;
  input.value = '';
  await act('/todos', { title });
  input.focus();
});
