// todo-search: finds todos by the words of their titles.
//
// The index lives in the state scope `todo-search-index`: one key per word and todo,
// `<word>/<todo id>`, whose value is the todo's id. `index`, a state trigger on `todos`, sets
// and deletes a todo's keys as its title comes, changes and goes: a create costs one write per
// word of its title, however many todos share the word, and two todos indexed at once touch
// different keys. A search lists each word's keys by prefix (`milk/`): words hold no `/`, so
// the prefix of one word never matches another.

import { fail, http, log, onState, plugin, queryParam, state } from 'eddy';

const TODOS = 'todos';
const INDEX = 'todo-search-index';
/** Longer "words" are not indexed: they are not words, and keys should stay short. */
const MAX_WORD = 64;

/**
 * What separates words: white space, ASCII punctuation and symbols, and the Latin-1, general
 * and CJK punctuation blocks. (The engine has no Unicode property classes such as \p{L}.)
 */
const SEPARATORS = /[\s!-\/:-@[-`{-~\u00a0-\u00bf\u00d7\u00f7\u2000-\u206f\u3000-\u303f]+/;

// The engine interprets this code (SpiderMonkey in wasm has no JIT), so what a search runs is
// written with plain loops: a spread, an iterator chain or a destructuring each costs an
// interpreted trip through the iterator protocol. With loops a warm search went from 66 to 57
// µs (`cargo run --release -p eddy-bench calls`), 32 of which any JavaScript call costs.

/** The lower-case words of `text`, each once, in order. */
export function words(text) {
  const found = String(text ?? '').toLowerCase().split(SEPARATORS);
  const seen = new Set();
  const wanted = [];
  for (let i = 0; i < found.length; i++) {
    const word = found[i];
    if (word.length > 0 && word.length <= MAX_WORD && !seen.has(word)) {
      seen.add(word);
      wanted.push(word);
    }
  }
  return wanted;
}

/**
 * `GET /todo-search?q=WORDS`: the todos whose titles hold every word of `q`, oldest first.
 * @param {import('eddy').HttpRequest} request
 */
function search(request) {
  const q = queryParam(request, 'q') ?? '';
  const wanted = words(q);
  if (wanted.length === 0) {
    fail('bad-request', 'q is required: GET /todo-search?q=WORD');
  }
  let ids = null;
  for (let i = 0; i < wanted.length; i++) {
    // In key order, so in id order: ids are ULIDs, which sort in creation order.
    const holding = state.list(INDEX, { prefix: `${wanted[i]}/` });
    if (ids === null) {
      ids = holding;
    } else {
      const set = new Set(holding);
      ids = ids.filter((id) => set.has(id));
    }
  }
  // A todo deleted since it was indexed (its trigger not yet run) is skipped.
  const todos = [];
  for (let i = 0; i < ids.length; i++) {
    const todo = state.get(TODOS, ids[i]);
    if (todo !== undefined && todo !== null) {
      todos.push(todo);
    }
  }
  return { query: q, words: wanted, todos };
}

/**
 * State trigger on `todos`: moves the todo's id from the words it lost to the words it gained.
 * @param {import('eddy').StateChange} change
 */
function index(change) {
  const before = new Set(words(change.oldValue?.title));
  const after = new Set(words(change.newValue?.title));
  const id = change.key;
  for (const word of before) {
    if (!after.has(word)) state.delete(INDEX, `${word}/${id}`);
  }
  for (const word of after) {
    if (!before.has(word)) state.set(INDEX, `${word}/${id}`, id);
  }
  log.debug('indexed todo', { id, words: [...after] });
  return null;
}

/** The functions the host may call, each for its kind of event. */
const FUNCTIONS = {
  search: http(search),
  index: onState(index),
};

/**
 * What the host calls: `eddy:plugin/handler`. (`eddy.d.ts` declares the SDK and the host's
 * interfaces for editors; `jsconfig.json` has them check this file.)
 */
export const handler = plugin(FUNCTIONS);
