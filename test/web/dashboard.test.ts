/**
 * The dashboard in a real browser (Debian chromium through playwright-core) against a real
 * engine: keyboard-only sign-in, agents created through the form (the API's validation errors
 * beside their fields), phone numbers and trunks, a live SIPp call that appears in the live list
 * and leaves it when it ends with no reload, its detail page with the timeline, analytics as
 * SVG, the softphone's error when the engine has no `POST /api/v1/calls/web`, and a screenshot
 * of every page at 375 px and 1280 px (test-artifacts/screenshots/dashboard-*.png).
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { defaultDashboardDir } from '../../api/dashboard/dashboard-pages.js';
import { hashPassword } from '../../api/auth/passwords.js';
import { browserSkipReason, launchBrowser, screenshot } from '../helpers/browser.js';
import { request, waitFor } from '../helpers/http.js';
import { inboundSetup, scenario, sippCall, type InboundSetup } from '../helpers/inbound.js';
import { sippMissing } from '../helpers/sipp.js';

const built = fs.existsSync(path.join(defaultDashboardDir, 'index.html'));
const skipReason = browserSkipReason || (built ? '' : ' (skipped: dist/web is not built; run node scripts/build-web.mjs)');
const sippReason = sippMissing();
const run = skipReason ? test.serial.skip : test.serial;

let s: InboundSetup;
let browser: Browser;
let users = 0;

test.before(async () => {
  if (skipReason) return;
  s = await inboundSetup();
  browser = await launchBrowser();
});
test.after.always(async () => {
  await browser?.close();
  await s?.close();
});

/** A user of the tenant with a known password (each test its own: the API limits each user to 100 requests a minute). */
async function newUser(role: 'owner' | 'admin' = 'owner'): Promise<{ email: string; password: string }> {
  const email = `web${++users}-${s.tenant.tenantId.slice(0, 8)}@example.test`;
  const password = `dashboard password ${users}`;
  s.app.engine.store.users.create({ tenantId: s.tenant.tenantId, email, name: `Web ${users}`, passwordHash: await hashPassword(password), role });
  return { email, password };
}

interface Opened {
  context: BrowserContext;
  page: Page;
  /** Page errors, console errors and CSP violations seen so far. */
  problems: string[];
}

async function open(width = 1280): Promise<Opened> {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A refused request (the 404 of a missing endpoint) is logged by chromium as a console error: expected there.
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.goto(`${s.base}/app/`);
  await js(page, "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))");
  return { context, page, problems };
}

/** An expression evaluated in the page (as text: the engine's tsconfig has no DOM types). */
const js = <T = unknown>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;

async function signIn(page: Page, who: { email: string; password: string }): Promise<void> {
  await page.getByLabel('E-mail').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

async function go(page: Page, hash: string, heading: string | RegExp): Promise<void> {
  await js(page, `location.hash = ${JSON.stringify(hash)}`);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

run(`keyboard only: Tab to the fields, type, Enter signs in; focus is visible; only the refresh token is stored (sessionStorage)${skipReason}`, async (t) => {
  const who = await newUser();
  const { context, page, problems } = await open();
  t.teardown(() => context.close());
  await screenshot(page, 'dashboard-sign-in-1280');
  const focused = () => js<string>(page, "document.activeElement?.name || document.activeElement?.tagName || ''");
  let tabs = 0;
  for (; (await focused()) !== 'email' && tabs < 10; tabs++) await page.keyboard.press('Tab');
  t.is(await focused(), 'email', 'Tab reaches the e-mail field');
  t.not(await js(page, 'getComputedStyle(document.activeElement).outlineStyle'), 'none', 'the focused field shows it');
  await page.keyboard.type(who.email);
  await page.keyboard.press('Tab');
  t.is(await focused(), 'password');
  await page.keyboard.type(who.password);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Calls' }).waitFor();
  // The navigation is reachable by keyboard too: Tab to "Agents", Enter.
  tabs = 0;
  for (; (await js(page, 'document.activeElement?.textContent')) !== 'Agents' && tabs < 15; tabs++) await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Agents' }).waitFor();
  const stored = await js<{ local: Record<string, string>; session: Record<string, string> }>(page, '({ local: { ...localStorage }, session: { ...sessionStorage } })');
  t.deepEqual(stored.local, {}, 'nothing in localStorage');
  t.deepEqual(Object.keys(stored.session), ['agent-studio.refreshToken'], 'only the refresh token, in sessionStorage');
  // A reload keeps the session (the refresh token is exchanged), and the old refresh token is spent.
  const before = stored.session['agent-studio.refreshToken']!;
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Agents' }).waitFor();
  const after = await js<string | null>(page, "sessionStorage.getItem('agent-studio.refreshToken')");
  t.truthy(after);
  t.not(after, before, 'the refresh token rotated');
  const reuse = await request(s.base, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: before } });
  t.is(reuse.status, 401, 'the old refresh token is spent');
  // Reusing a spent token ends the session: the page goes back to sign-in on its next request.
  await page.reload();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  t.deepEqual(await js(page, '({ ...sessionStorage })'), {}, 'a refused refresh forgets the token');
  t.deepEqual(problems, []);
});

run(`a wrong password shows the API's error; sign out forgets the session${skipReason}`, async (t) => {
  const who = await newUser();
  const { context, page, problems } = await open(375);
  t.teardown(() => context.close());
  await page.getByLabel('E-mail').fill(who.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  t.regex((await alert.textContent()) ?? '', /\(authentication_error, HTTP 401\)$/);
  await screenshot(page, 'dashboard-sign-in-error-375');
  await signIn(page, who);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  t.deepEqual(await js(page, '({ ...sessionStorage })'), {});
  t.deepEqual(problems, []);
});

run(`agents: the form shows the API's validation errors beside their fields, creates the agent, and the list shows it${skipReason}`, async (t) => {
  const who = await newUser();
  const { context, page, problems } = await open();
  t.teardown(() => context.close());
  await signIn(page, who);
  await go(page, '#/agents/new', 'New agent');
  await page.getByLabel('Name', { exact: true }).fill('Front desk');
  await page.getByLabel('LLM provider').fill('openai');
  await page.getByRole('button', { name: 'Create agent' }).click();
  // The empty prompt and the LLM without a model are the API's findings, shown beside their fields.
  const promptError = page.locator('.field.invalid', { has: page.getByLabel('Prompt (system)') }).locator('.field-error');
  await promptError.waitFor();
  t.is(await page.getByLabel('Prompt (system)').getAttribute('aria-invalid'), 'true');
  t.truthy(await promptError.textContent());
  t.regex((await page.getByRole('alert').textContent()) ?? '', /Invalid request body \(validation_error, HTTP 422\)/);
  await screenshot(page, 'dashboard-agent-errors-1280');
  await page.getByLabel('Prompt (system)').fill('You answer the front desk of a small hotel.');
  await page.getByLabel('LLM provider').fill('');
  await page.getByLabel('First message (greeting)').fill('Hello, front desk.');
  await page.getByLabel('Voice provider').fill('flite');
  await page.getByLabel('Voice id').fill('kal');
  await page.getByRole('button', { name: 'Create agent' }).click();
  await page.getByRole('heading', { level: 1, name: 'Agent: Front desk' }).waitFor();
  const id = decodeURIComponent(await js<string>(page, "location.hash.split('/')[2]"));
  const stored = await request<{ name: string; config: Record<string, unknown> }>(s.base, 'GET', `/api/v1/agents/${id}`, { headers: s.tenant.headers });
  t.is(stored.status, 200);
  t.like(stored.body, { name: 'Front desk', config: { prompt: { system: 'You answer the front desk of a small hotel.' }, firstMessage: 'Hello, front desk.', voice: { provider: 'flite', voiceId: 'kal' } } });
  // Edit: the prompt changes, the voice is cleared (null: back to the default).
  await page.getByLabel('Prompt (system)').fill('You answer the front desk.');
  await page.getByLabel('Voice provider').fill('');
  await page.getByLabel('Voice id').fill('');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  const edited = await request<{ config: Record<string, unknown> }>(s.base, 'GET', `/api/v1/agents/${id}`, { headers: s.tenant.headers });
  t.is((edited.body.config['prompt'] as { system: string }).system, 'You answer the front desk.');
  t.is(edited.body.config['voice'], undefined);
  await screenshot(page, 'dashboard-agent-edit-1280');
  // An agent that is your own program: only its socket is sent, none of the built-in settings.
  await go(page, '#/agents/new', 'New agent');
  await page.getByLabel('Name', { exact: true }).fill('Own bot');
  await page.getByLabel('Prompt (system)').fill('Unused by the engine.');
  await page.getByLabel('Runs').selectOption('websocket');
  await page.getByLabel('WebSocket URL').fill('wss://bot.example.com/agent');
  await page.getByLabel('Audio framing').selectOption('l16');
  await page.getByRole('button', { name: 'Create agent' }).click();
  await page.getByRole('heading', { level: 1, name: 'Agent: Own bot' }).waitFor();
  const botId = decodeURIComponent(await js<string>(page, "location.hash.split('/')[2]"));
  const bot = await request<{ config: Record<string, unknown> }>(s.base, 'GET', `/api/v1/agents/${botId}`, { headers: s.tenant.headers });
  t.like(bot.body.config, { kind: 'websocket', websocket: { url: 'wss://bot.example.com/agent', audio: 'l16' } });
  t.is(bot.body.config['bargeIn'], undefined);
  await go(page, '#/agents', 'Agents');
  await page.getByRole('link', { name: 'Front desk' }).waitFor();
  t.true(await page.getByRole('cell', { name: 'Echo', exact: true }).isVisible(), 'the agent made through the API is listed too');
  await screenshot(page, 'dashboard-agents-1280');
  t.deepEqual(problems, []);
});

run(`phone numbers and trunks: create, see listed, edit; errors beside fields${skipReason}`, async (t) => {
  const who = await newUser();
  const { context, page, problems } = await open();
  t.teardown(() => context.close());
  await signIn(page, who);
  await go(page, '#/trunks', 'SIP trunks');
  await page.getByRole('button', { name: 'New trunk' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Carrier B');
  await page.getByLabel('Allowed addresses').fill('127.0.0.2, 10.0.0.0/8');
  await page.getByLabel('Digest username').fill('carrierb');
  await page.getByLabel('Digest password').fill('short');
  await page.getByRole('button', { name: 'Create trunk' }).click();
  const pwError = page.locator('.field.invalid', { has: page.getByLabel('Digest password') }).locator('.field-error');
  await pwError.waitFor();
  t.regex((await pwError.textContent()) ?? '', /8/);
  await page.getByLabel('Digest password').fill('long enough secret');
  await page.getByRole('button', { name: 'Create trunk' }).click();
  await page.getByRole('button', { name: 'Edit Carrier B' }).waitFor();
  t.true(await page.getByRole('cell', { name: /127\.0\.0\.2, 10\.0\.0\.0\/8 \(digest: carrierb\)/ }).isVisible());
  await page.getByRole('button', { name: 'Edit Carrier B' }).click();
  await page.getByLabel('Gateway host').fill('127.0.0.1');
  await page.getByLabel('Port', { exact: true }).fill('5080');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('cell', { name: 'udp:127.0.0.1:5080' }).waitFor();
  await screenshot(page, 'dashboard-trunks-1280');

  // A SIP user made through the API, for a number that rings it (below).
  const desk = await request(s.base, 'POST', '/api/v1/sip-users', { headers: s.tenant.headers, body: { username: 'frontdesk', password: 'front-desk-secret' } });
  t.is(desk.status, 201, JSON.stringify(desk.body));
  await go(page, '#/numbers', 'Phone numbers');
  await page.getByRole('button', { name: 'Edit service', exact: true }).waitFor(); // the number made through the API
  await page.getByRole('button', { name: 'New phone number' }).click();
  await page.getByLabel('Number', { exact: true }).fill('+123');
  await page.getByRole('button', { name: 'Create number' }).click();
  const numError = page.locator('.field.invalid', { has: page.getByLabel('Number', { exact: true }) }).locator('.field-error');
  await numError.waitFor();
  await page.getByLabel('Number', { exact: true }).fill('+15550007777');
  await page.getByLabel('Label').fill('Reception');
  await page.getByLabel('Agent').selectOption({ label: 'Echo' });
  await page.getByLabel('SIP trunk').selectOption({ label: 'Carrier B' });
  await page.getByRole('button', { name: 'Create number' }).click();
  const row = page.getByRole('row', { name: /\+15550007777/ });
  await row.waitFor();
  t.regex((await row.textContent()) ?? '', /Reception.*Echo.*Carrier B/);
  await page.getByRole('button', { name: 'Edit +15550007777' }).click();
  await page.getByLabel('Label').fill('Front');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('row', { name: /\+15550007777.*Front/ }).waitFor();
  // A number that rings a SIP user: both an agent and a user is refused beside the field, then the user alone.
  await page.getByRole('button', { name: 'New phone number' }).click();
  await page.getByLabel('Number', { exact: true }).fill('+15550008888');
  await page.getByLabel('Agent').selectOption({ label: 'Echo' });
  await page.getByLabel('SIP user').selectOption({ label: 'frontdesk' });
  await page.getByRole('button', { name: 'Create number' }).click();
  const bothError = page.locator('.field.invalid', { has: page.getByLabel('SIP user') }).locator('.field-error');
  await bothError.waitFor();
  t.regex((await bothError.textContent()) ?? '', /agent or a SIP user, not both/);
  await page.getByLabel('Agent').selectOption({ label: 'none' });
  await page.getByRole('button', { name: 'Create number' }).click();
  const userRow = page.getByRole('row', { name: /\+15550008888/ });
  await userRow.waitFor();
  t.regex((await userRow.textContent()) ?? '', /—frontdesk/, 'no agent, the SIP user');
  await screenshot(page, 'dashboard-numbers-1280');
  t.deepEqual(problems, []);
});

const live = sippReason ? test.serial.skip : run;

live(`a live SIPp call appears in the live list and leaves it when it ends, without a reload; its detail shows the timeline, transcript and recording${skipReason || (sippReason ? ` (skipped: ${sippReason})` : '')}`, async (t) => {
  // The number answers with a greeting agent that records, so the detail has a transcript and a recording.
  const h = s.tenant.headers;
  const greeter = await request<{ id: string }>(s.base, 'POST', '/api/v1/agents', {
    headers: h,
    body: { name: 'Greeter', config: { prompt: { system: 'Greets.' }, firstMessage: 'Hello from the front desk.', voice: { provider: 'flite', voiceId: 'kal' }, recording: true } },
  });
  t.is(greeter.status, 201);
  const numbers = await request<{ items: { id: string; number: string }[] }>(s.base, 'GET', '/api/v1/phone-numbers?limit=100', { headers: h });
  const service = numbers.body.items.find((n) => n.number === 'service')!;
  t.is((await request(s.base, 'PATCH', `/api/v1/phone-numbers/${service.id}`, { headers: h, body: { agentId: greeter.body.id } })).status, 200);
  t.teardown(() => request(s.base, 'PATCH', `/api/v1/phone-numbers/${service.id}`, { headers: h, body: { agentId: s.agentId } }).then(() => undefined));
  const who = await newUser();
  const { context, page, problems } = await open();
  t.teardown(() => context.close());
  await signIn(page, who);
  await page.locator('[data-feed="live"]').waitFor();
  await js(page, 'window.marker = 42');
  const caller = sippCall(s, scenario('crash-call.xml', { minHoldMs: 5000, maxHoldMs: 5000 }));
  const liveRow = page.locator('[data-testid="live-calls"] tr[data-call-id]');
  await liveRow.first().waitFor({ timeout: 10_000 });
  const callId = (await liveRow.first().getAttribute('data-call-id'))!;
  t.regex((await liveRow.first().textContent()) ?? '', /inbound.*\+15550100.*service.*in_progress/);
  await screenshot(page, 'dashboard-calls-live-1280');
  const sipp = await caller;
  t.is(sipp.code, 0, sipp.output.slice(-500));
  const ended = page.locator(`[data-testid="recent-calls"] tr[data-call-id="${callId}"]`);
  await ended.waitFor({ timeout: 10_000 });
  t.regex((await ended.textContent()) ?? '', /completed.*caller_hangup/);
  t.is(await page.locator('[data-testid="live-calls"] tr[data-call-id]').count(), 0, 'the live list is empty again');
  t.is(await js(page, 'window.marker'), 42, 'no reload happened');
  t.is(await js(page, "performance.getEntriesByType('navigation').length"), 1);
  await screenshot(page, 'dashboard-calls-ended-1280');

  await ended.getByRole('link').click();
  await page.getByRole('heading', { level: 1, name: 'Call' }).waitFor();
  const timeline = page.getByRole('list', { name: 'Timeline' });
  await timeline.waitFor();
  const types = await timeline.locator('li strong').allTextContents();
  t.deepEqual([types[0], types.at(-1)], ['call.started', 'call.ended']);
  t.true(types.includes('call.answered'), types.join(', '));
  t.regex((await page.locator('.facts').textContent()) ?? '', /End reasoncaller_hangup/);
  t.regex((await timeline.textContent()) ?? '', /endReason: caller_hangup/);
  t.true(types.includes('call.agent_said'), types.join(', '));
  t.regex((await page.getByRole('list', { name: 'Transcript' }).textContent()) ?? '', /agent\s*Hello from the front desk\./);
  await page.getByRole('button', { name: 'Load recording' }).click();
  const player = page.getByLabel('Call recording');
  await player.waitFor();
  t.regex((await player.getAttribute('src')) ?? '', /^blob:/, 'the WAV was fetched with the access token');
  const seconds = await waitFor(() => js<number>(page, "document.querySelector('audio[aria-label=\"Call recording\"]').duration"), 5000);
  t.true(seconds > 3 && seconds < 10, `the recording lasts ${seconds} s`);
  await screenshot(page, 'dashboard-call-detail-1280');
  await page.setViewportSize({ width: 375, height: 800 });
  await screenshot(page, 'dashboard-call-detail-375');
  await js(page, "location.hash = '#/calls'");
  await page.locator(`[data-testid="recent-calls"] tr[data-call-id="${callId}"]`).waitFor();
  await screenshot(page, 'dashboard-calls-ended-375');
  t.deepEqual(problems, []);
});

live(`the engine ends the event stream: the page shows it, reconnects with a new ticket, and the next call still shows up live${skipReason || (sippReason ? ` (skipped: ${sippReason})` : '')}`, async (t) => {
  const who = await newUser();
  const { context, page, problems } = await open();
  t.teardown(() => context.close());
  const tickets: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/events?')) tickets.push(new URL(r.url()).searchParams.get('ticket') ?? '');
  });
  await signIn(page, who);
  await page.locator('[data-feed="live"]').waitFor();
  t.is(tickets.length, 1);
  // Every open stream is ended from the server's side (as at a stop, or a dropped slow client).
  s.app.realtime.connections.close();
  await page.locator('[data-feed="reconnecting"]').waitFor({ timeout: 5000 });
  await page.locator('[data-feed="live"]').waitFor({ timeout: 10_000 });
  t.is(tickets.length, 2, 'one new stream');
  t.not(tickets[1], tickets[0], 'with a new ticket (the first is spent)');
  const caller = sippCall(s, scenario('crash-call.xml', { minHoldMs: 3000, maxHoldMs: 3000 }));
  const liveRow = page.locator('[data-testid="live-calls"] tr[data-call-id]');
  await liveRow.first().waitFor({ timeout: 10_000 });
  const callId = (await liveRow.first().getAttribute('data-call-id'))!;
  t.is((await caller).code, 0);
  await page.locator(`[data-testid="recent-calls"] tr[data-call-id="${callId}"]`).waitFor({ timeout: 10_000 });
  t.deepEqual(problems.filter((p) => !/401/.test(p)), []);
});

run(`analytics: calls per day, talk time, end reasons and errors as inline SVG${skipReason}`, async (t) => {
  // At least one ended call exists when the live test ran; the charts render (with zeros) either way.
  const who = await newUser();
  const { context, page, problems } = await open();
  t.teardown(() => context.close());
  await signIn(page, who);
  await go(page, '#/analytics', 'Analytics');
  const charts = page.locator('figure.chart svg[role="img"]');
  await charts.first().waitFor();
  t.is(await charts.count(), 4);
  t.deepEqual(await page.locator('figure.chart figcaption').allTextContents(), [
    'Calls per day',
    (await page.locator('figure.chart figcaption').nth(1).textContent())!,
    'End reasons',
    'Errors by kind',
  ]);
  t.regex((await page.locator('figure.chart figcaption').nth(1).textContent())!, /^Talk time of \d+ answered calls \(seconds\)$/);
  t.is(await page.locator('figure.chart').first().locator('rect.bar').count(), 14, 'one bar per day of the range');
  const calls = await request<{ total: number }>(s.base, 'GET', '/api/v1/calls?limit=1', { headers: s.tenant.headers });
  const today = new Date().toISOString().slice(0, 10);
  const desc = await page.locator('figure.chart').first().locator('desc').textContent();
  t.true(desc!.includes(`${today}: ${calls.body.total}`), `${desc} has today's ${calls.body.total} calls`);
  await page.getByLabel('Range').selectOption('7');
  await waitFor(async () => (await page.locator('figure.chart').first().locator('rect.bar').count()) === 7);
  await screenshot(page, 'dashboard-analytics-1280');
  await page.setViewportSize({ width: 375, height: 800 });
  await screenshot(page, 'dashboard-analytics-375');
  t.deepEqual(problems, []);
});

/**
 * Whether this build has `POST /api/v1/calls/web` (another part of issue 10): a route module of
 * the compiled engine names the path. Without it the engine answers 405 (the path matches
 * `/api/v1/calls/:id`, which has GET and DELETE) or 404.
 */
const routesDir = path.resolve('dist/api/routes');
const webCallsRoute = fs.existsSync(routesDir) && fs.readdirSync(routesDir).some((f) => f.endsWith('.js') && /['"`]\/api\/v1\/calls\/web['"`]/.test(fs.readFileSync(path.join(routesDir, f), 'utf8')));
const missingWebCalls = (status: number) => status === 404 || status === 405;

const noEndpoint = webCallsRoute ? test.serial.skip : run;
noEndpoint(`softphone: with no POST /api/v1/calls/web on this engine, Call shows the API's error and the call ends with it${skipReason || (webCallsRoute ? ' (skipped: this build has POST /api/v1/calls/web; the call test covers it)' : '')}`, async (t) => {
  const probe = await request(s.base, 'POST', '/api/v1/calls/web', { headers: s.tenant.headers, body: { agentId: s.agentId } });
  t.true(missingWebCalls(probe.status), `POST /api/v1/calls/web answers ${probe.status}`);
  const who = await newUser();
  const { context, page, problems } = await open();
  t.teardown(() => context.close());
  await signIn(page, who);
  await go(page, '#/softphone', 'Softphone');
  await page.getByLabel('Call', { exact: true }).selectOption({ label: 'Echo' });
  await page.getByRole('button', { name: 'Call', exact: true }).click();
  await page.locator('.phone-state[data-state="ended"]').waitFor();
  const { code, message } = (probe.body as { error: { code: string; message: string } }).error;
  t.is(await page.getByRole('alert').textContent(), `${message} (${code}, HTTP ${probe.status})`);
  t.is(await page.locator('.phone-state').textContent(), `Call ended: the engine refused the call: ${code}`);
  t.true(await page.getByRole('button', { name: 'Call', exact: true }).isEnabled(), 'a new call can be tried');
  t.true(await page.getByRole('button', { name: 'Hang up' }).isDisabled());
  await screenshot(page, 'dashboard-softphone-refused-1280');
  t.deepEqual(problems, []);
});

const callTest = webCallsRoute ? run : test.serial.skip;
callTest(
  `softphone: calls the echo agent with the fake microphone, hears it back (getStats: packets, bytes, audio level > 0), sends a key, hangs up; the call ends caller_hangup${skipReason || (webCallsRoute ? '' : ' (skipped: POST /api/v1/calls/web is not on this build, which answers it 404 or 405; the test runs once the endpoint is merged)')}`,
  async (t) => {
    const who = await newUser();
    const { context, page, problems } = await open();
    t.teardown(() => context.close());
    await signIn(page, who);
    await go(page, '#/softphone', 'Softphone');
    await page.getByLabel('Call', { exact: true }).selectOption({ label: 'Echo' });
    await page.getByRole('button', { name: 'Call', exact: true }).click();
    await page.locator('.phone-state[data-state="in_call"]').waitFor({ timeout: 20_000 });
    const stats = page.getByTestId('rtp-stats');
    const heard = await waitFor(async () => {
      const [packets, bytes, level] = await Promise.all(['data-packets', 'data-bytes', 'data-audio-level'].map((a) => stats.getAttribute(a).catch(() => null)));
      return Number(packets) > 0 && Number(bytes) > 0 && Number(level) > 0 ? { packets: Number(packets), bytes: Number(bytes), level: Number(level) } : undefined;
    }, 20_000, 250);
    t.log(`browser inbound-rtp: ${heard.packets} packets, ${heard.bytes} bytes, audioLevel ${heard.level}`);
    // The meters (WebAudio AnalyserNode RMS) move: the fake microphone's beep, and its echo.
    const meters = await waitFor(async () => {
      const mic = Number(await page.getByLabel('Microphone level').getAttribute('data-level'));
      const remote = Number(await page.getByLabel('Remote audio level').getAttribute('data-level'));
      return mic > 0 && remote > 0 ? { mic, remote } : undefined;
    }, 10_000, 20);
    t.log(`meters: microphone ${meters.mic}, remote ${meters.remote}`);
    await page.getByRole('button', { name: 'Key 5' }).click();
    const way = page.getByText(/Keys sent as (RFC 4733 telephone-events|SIP INFO)\./);
    await way.waitFor();
    t.log(await way.textContent());
    await screenshot(page, 'dashboard-softphone-in-call-1280');
    await page.getByRole('button', { name: 'Hang up' }).click();
    await page.locator('.phone-state[data-state="ended"]').waitFor();
    t.is(await page.locator('.phone-state').textContent(), 'Call ended: you hung up');
    const call = await waitFor(async () => {
      const list = await request<{ items: { id: string; direction: string; endReason: string | null }[] }>(s.base, 'GET', '/api/v1/calls?limit=20', { headers: s.tenant.headers });
      return list.body.items.find((c) => c.direction === 'web' && c.endReason !== null);
    }, 10_000);
    t.is(call.endReason, 'caller_hangup');
    const record = await request<{ rtpStats: Record<string, number> }>(s.base, 'GET', `/api/v1/calls/${call.id}`, { headers: s.tenant.headers });
    t.log(`engine rtpStats: ${JSON.stringify(record.body.rtpStats)}`);
    // The engine's counters agree: it received the browser's audio, and sent at least what the page had counted.
    t.true((record.body.rtpStats['packetsReceived'] ?? 0) > 0, 'the engine counted RTP from the browser');
    t.true((record.body.rtpStats['packetsSent'] ?? 0) >= heard.packets, 'the engine sent at least the packets the page received');
    t.deepEqual(problems, []);
  },
);

callTest(
  `the whole path: sign in, create an agent with a greeting in its form, call it from the softphone, hear the greeting in the browser, hang up${skipReason}`,
  async (t) => {
    const who = await newUser();
    const { context, page, problems } = await open();
    t.teardown(() => context.close());
    await signIn(page, who);
    await go(page, '#/agents/new', 'New agent');
    const name = `Greeter ${Date.now() % 100000}`;
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Prompt (system)').fill('You greet callers.');
    await page.getByLabel('First message (greeting)').fill('Welcome to the front desk. This greeting comes from the offline voice, several seconds long.');
    // The fake microphone beeps: with barge-in on, its first beep would cut the greeting short.
    await page.getByLabel('The caller may interrupt').uncheck();
    await page.getByRole('button', { name: 'Create agent' }).click();
    await page.getByRole('heading', { level: 1, name: `Agent: ${name}` }).waitFor();
    const agentId = decodeURIComponent(await js<string>(page, "location.hash.split('/')[2]"));
    await go(page, '#/softphone', 'Softphone');
    await page.getByLabel('Call', { exact: true }).selectOption({ label: name });
    await page.getByRole('button', { name: 'Call', exact: true }).click();
    await page.locator('.phone-state[data-state="in_call"]').waitFor({ timeout: 20_000 });
    // An agent with a greeting and no LLM does not echo: what the page hears is the agent's voice.
    const stats = page.getByTestId('rtp-stats');
    let last = '';
    const heard = await waitFor(async () => {
      const [packets, level] = await Promise.all(['data-packets', 'data-audio-level'].map((a) => stats.getAttribute(a).catch(() => null)));
      last = `packets ${packets}, level ${level}`;
      return Number(packets) >= 50 && Number(level) > 0 ? { packets: Number(packets), level: Number(level) } : undefined;
    }, 20_000, 250).catch((err: Error) => {
      throw new Error(`${err.message}; last seen ${last}`);
    });
    const remote = await waitFor(async () => {
      const level = Number(await page.getByLabel('Remote audio level').getAttribute('data-level'));
      return level > 0 ? level : undefined;
    }, 10_000, 20);
    t.log(`heard the greeting: ${heard.packets} packets, audioLevel ${heard.level}, remote meter ${remote}`);
    await screenshot(page, 'dashboard-softphone-agent-greeting-1280');
    // The live call is this agent's, and it says its greeting whole before we hang up.
    const live = await waitFor(async () => {
      const list = await request<{ items: { id: string; direction: string; agentId: string | null }[] }>(s.base, 'GET', '/api/v1/calls?limit=20&status=in_progress', { headers: s.tenant.headers });
      return list.body.items.find((c) => c.direction === 'web' && c.agentId === agentId);
    }, 10_000);
    await waitFor(async () => {
      const events = await request<{ items: { type: string; data: { text?: string } }[] }>(s.base, 'GET', `/api/v1/calls/${live.id}/events?limit=100`, { headers: s.tenant.headers });
      return events.body.items.some((e) => e.type === 'call.agent_said' && (e.data.text ?? '').startsWith('Welcome to the front desk')) || undefined;
    }, 20_000);
    await page.getByRole('button', { name: 'Hang up' }).click();
    await page.locator('.phone-state[data-state="ended"]').waitFor();
    const ended = await waitFor(async () => {
      const c = await request<{ endReason: string | null }>(s.base, 'GET', `/api/v1/calls/${live.id}`, { headers: s.tenant.headers });
      return c.body.endReason ? c.body : undefined;
    }, 10_000);
    t.is(ended.endReason, 'caller_hangup');
    t.deepEqual(problems, []);
  },
);

run(`every page at phone (375 px) and desktop (1280 px) widths: nothing wider than the screen but tables, which scroll${skipReason}`, async (t) => {
  const who = await newUser();
  const pages: [string, string | RegExp, string][] = [
    ['#/calls', 'Calls', 'calls'],
    ['#/agents', 'Agents', 'agents'],
    ['#/agents/new', 'New agent', 'agent-new'],
    ['#/numbers', 'Phone numbers', 'numbers'],
    ['#/trunks', 'SIP trunks', 'trunks'],
    ['#/analytics', 'Analytics', 'analytics'],
    ['#/softphone', 'Softphone', 'softphone'],
  ];
  const shots: string[] = [];
  for (const width of [375, 1280]) {
    const { context, page, problems } = await open(width);
    t.teardown(() => context.close());
    await screenshot(page, `dashboard-sign-in-${width}`);
    await signIn(page, who);
    for (const [hash, heading, name] of pages) {
      await go(page, hash, heading);
      await page.waitForLoadState('networkidle').catch(() => undefined);
      await page.locator('[role="status"]:has-text("Loading")').waitFor({ state: 'detached' }).catch(() => undefined);
      const overflow = await js<number>(page, 'document.documentElement.scrollWidth - document.documentElement.clientWidth');
      if (overflow > 0) t.log('past the right edge:', await js(page, `[...document.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join('; ')`));
      t.true(overflow <= 0, `${name} at ${width}px is ${overflow}px wider than the screen`);
      shots.push(path.basename(await screenshot(page, `dashboard-${name}-${width}`)));
    }
    t.deepEqual(problems, [], `at ${width}px`);
  }
  t.log(`screenshots: ${shots.join(' ')}`);
});
