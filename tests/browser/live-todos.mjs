// The live todo page (plugins/todos/public) in headless Chromium, two pages side by side:
// a todo added, toggled and deleted in one shows in the other within a second; both recover
// from a host restart without a reload, with no duplicate and no missing todo; a page whose
// network drops catches up when it returns. Screenshots go to ARTIFACTS.
//
// Run by tests/e2e/page.rs: `node live-todos.mjs BASE_URL ARTIFACTS`. It prints `restart` when
// it wants the host restarted (on the same address) and waits for a `restarted` line on stdin.
// Exits non-zero with the reason when a check fails.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [base, artifacts] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
// As root, and on a closed network: no sandbox, no background traffic (docs in the README).
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

function check(ok, message) {
  if (!ok) throw new Error(message);
}

/** The server's todos and metrics, to compare pages with. */
async function server() {
  const [todos, metrics] = await Promise.all(
    ['/todos', '/todos/metrics'].map((path) => fetch(base + path).then((r) => r.json())),
  );
  return { todos, metrics };
}

/** What a page shows: its todos (id, title, done) in order, and its metrics line. */
async function shown(page) {
  return page.evaluate(() => ({
    todos: [...document.querySelectorAll('#todos li')].map((li) => ({
      id: li.dataset.id,
      title: li.querySelector('span').textContent,
      done: li.querySelector('input').checked,
    })),
    metrics: document.getElementById('metrics').textContent,
    status: document.getElementById('connection').dataset.status,
  }));
}

/** Waits until `page` shows exactly what the server holds (no duplicate, none missing). */
async function agrees(page, name, within) {
  const deadline = Date.now() + within;
  let last;
  for (;;) {
    const [{ todos, metrics }, view] = await Promise.all([server(), shown(page)]);
    const want = todos.map((t) => ({ id: t.id, title: t.title, done: t.completed }));
    const metricsText = `${metrics.total} ${metrics.total === 1 ? 'todo' : 'todos'}, ${metrics.completed} completed`;
    if (JSON.stringify(view.todos) === JSON.stringify(want) && view.metrics === metricsText) return;
    last = { view, want, metricsText };
    if (Date.now() > deadline) {
      throw new Error(`${name} does not show what the host holds after ${within} ms: ${JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function status(page, wanted, within) {
  await page.waitForFunction(
    (wanted) => document.getElementById('connection').dataset.status === wanted,
    wanted,
    { timeout: within },
  );
}

/** Ms from now until `predicate` holds in `page`. */
async function timeUntil(page, predicate, arg) {
  const started = Date.now();
  await page.waitForFunction(predicate, arg, { timeout: 5_000 });
  return Date.now() - started;
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
mkdirSync(artifacts, { recursive: true });
const pages = [];
try {
  for (let i = 0; i < 2; i++) {
    // A context each, so one page's network can drop alone.
    const context = await browser.newContext({ viewport: { width: 720, height: 640 } });
    const page = await context.newPage();
    page.on('pageerror', (error) => console.error(`page ${i} error: ${error.message}`));
    await page.goto(base + '/');
    pages.push(page);
  }
  const [one, two] = pages;
  await status(one, 'open', 5_000);
  await status(two, 'open', 5_000);

  // Added in one, shown in the other within a second.
  await one.getByLabel('New todo').fill('Buy milk');
  await one.keyboard.press('Enter');
  const added = await timeUntil(two, () => [...document.querySelectorAll('#todos span')].some((s) => s.textContent === 'Buy milk'));
  check(added <= 1_000, `the other page showed the new todo after ${added} ms`);

  // Toggled in the other, shown in the first.
  await two.getByRole('checkbox', { name: 'Buy milk' }).check();
  const toggled = await timeUntil(one, () => document.querySelector('#todos li input')?.checked === true);
  check(toggled <= 1_000, `the first page showed the toggle after ${toggled} ms`);

  // Deleted in the first (by keyboard), gone from the other.
  await one.getByRole('button', { name: 'Delete “Buy milk”' }).focus();
  await one.keyboard.press('Enter');
  const deleted = await timeUntil(two, () => document.querySelectorAll('#todos li').length === 0);
  check(deleted <= 1_000, `the other page dropped the deleted todo after ${deleted} ms`);
  console.error(`live: add ${added} ms, toggle ${toggled} ms, delete ${deleted} ms`);

  for (const title of ['Water the plants', 'Call mom', 'Book the flight']) {
    await one.getByLabel('New todo').fill(title);
    await one.keyboard.press('Enter');
  }
  await two.getByRole('checkbox', { name: 'Call mom' }).check();
  await agrees(one, 'the first page', 2_000);
  await agrees(two, 'the second page', 2_000);
  await one.screenshot({ path: join(artifacts, 'todos.png') });

  // The host restarts while both pages are open: both recover without a reload.
  console.log('restart');
  check((await lines.next()).value === 'restarted', 'the test did not restart the host');
  await status(one, 'open', 20_000);
  await status(two, 'open', 20_000);
  await two.getByLabel('New todo').fill('After the restart');
  await two.keyboard.press('Enter');
  await agrees(one, 'the first page after the restart', 3_000);
  await agrees(two, 'the second page after the restart', 3_000);

  // The second page's network drops; changes happen meanwhile; it catches up when it returns.
  await two.context().setOffline(true);
  await status(two, 'reconnecting', 15_000);
  for (const title of ['Made while it was offline', 'And another']) {
    await one.getByLabel('New todo').fill(title);
    await one.keyboard.press('Enter');
  }
  await one.getByRole('checkbox', { name: 'Water the plants' }).check();
  await agrees(one, 'the first page while the second is offline', 2_000);
  await two.screenshot({ path: join(artifacts, 'offline.png') });
  await two.context().setOffline(false);
  await status(two, 'open', 20_000);
  await agrees(two, 'the second page back online', 3_000);
  await two.screenshot({ path: join(artifacts, 'caught-up.png') });
  console.error('ok');
} catch (error) {
  for (const [i, page] of pages.entries()) {
    await page.screenshot({ path: join(artifacts, `failure-${i}.png`) }).catch(() => {});
  }
  console.error(`FAILED: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  stdin.close();
}
