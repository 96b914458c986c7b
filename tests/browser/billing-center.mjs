// Browser tests of the Billing Center in Debian's Chromium (playwright-core drives the system
// browser; nothing is downloaded). `cargo xtask ci` starts a served demo and runs this file with:
//   BASE_URL, BILLCENTER_BIN, BILLCENTER_DB, BILLCENTER_NOW, SCREENSHOTS,
//   CUSTOMER_EMAIL / CUSTOMER_PASSWORD / CUSTOMER_ACCOUNT (a demo account with coupons and cards),
//   OTHER_ACCOUNT (another demo account), OPERATOR_EMAIL / OPERATOR_PASSWORD, LOCK_EMAIL.
// It signs in as a customer and as an operator, visits every page in English and Chinese,
// applies each filter, pages through a list, exports CSV and XLSX, audits every page with
// axe-core (vendored), checks that no request leaves the server's origin, that another
// account's pages are not found, that a form without its CSRF token is refused, that every
// Chinese character on a page is drawn from the embedded font (no boxes), and that repeated
// wrong passwords lock the sign-in. Screenshots of every page go to SCREENSHOTS.

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env('BASE_URL');
const ORIGIN = new URL(BASE).origin;
const SHOTS = env('SCREENSHOTS');
const ACCOUNT = env('CUSTOMER_ACCOUNT');
const OTHER = env('OTHER_ACCOUNT');
const AXE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'vendor', 'axe.min.js');
mkdirSync(SHOTS, { recursive: true });

let checks = 0;
const failures = [];
function check(ok, what) {
  checks += 1;
  if (!ok) {
    failures.push(what);
    console.error(`FAIL ${what}`);
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

const foreign = [];
async function context(options = {}) {
  // bypassCSP lets the audit inject axe-core; the pages' own loads are watched below.
  const ctx = await browser.newContext({ acceptDownloads: true, bypassCSP: true, locale: 'en-US', viewport: { width: 1366, height: 900 }, ...options });
  ctx.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.origin !== ORIGIN) foreign.push(r.url());
  });
  return ctx;
}

/// Clicks what leads to another page, and waits for that page.
async function follow(page, action) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), action()]);
}

async function signIn(page, email, password) {
  await page.goto(`${BASE}/login`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await follow(page, () => page.click('button[type=submit]'));
}

async function audit(page, name) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of bad) {
    console.error(`axe ${name}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  }
  check(bad.length === 0, `${name}: no serious or critical accessibility violation`);
}

async function shot(page, name) {
  // The Chinese font loads when text first needs it; the picture waits for it.
  await page.evaluate(async () => {
    await Promise.all(['400', '700'].map((w) => document.fonts.load(`${w} 16px "Billcenter SC"`, '中')));
    await document.fonts.ready;
  });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  await chineseDrawn(page, name);
}

/// Every Chinese character on the page is drawn from the embedded font: a browser that lays a
/// character out with a system font lacking it draws a box, which only the glyphs it used show.
async function chineseDrawn(page, name) {
  const wanted = await page.evaluate(() => {
    const cjk = /[\u2E80-\u9FFF\uFF00-\uFFEF]/g;
    const found = [];
    for (const el of document.body.querySelectorAll('*')) {
      const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('');
      const n = (own.match(cjk) || []).length;
      if (n > 0 && el.checkVisibility()) {
        el.setAttribute('data-cjk-probe', String(found.length));
        found.push({ n, text: own.trim().slice(0, 20) });
      }
    }
    return found;
  });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('DOM.enable');
  await cdp.send('CSS.enable');
  const { root } = await cdp.send('DOM.getDocument', { depth: 0 });
  const { nodeIds } = await cdp.send('DOM.querySelectorAll', { nodeId: root.nodeId, selector: '[data-cjk-probe]' });
  const boxed = [];
  for (const nodeId of nodeIds) {
    const { attributes } = await cdp.send('DOM.getAttributes', { nodeId });
    const probe = Number(attributes[attributes.indexOf('data-cjk-probe') + 1]);
    const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
    const embedded = fonts.filter((f) => f.isCustomFont).reduce((sum, f) => sum + f.glyphCount, 0);
    const { n, text } = wanted[probe];
    if (embedded < n) boxed.push(`"${text}": ${n - embedded} of ${n} from ${fonts.map((f) => f.familyName).join(', ') || 'no font'}`);
  }
  await cdp.detach();
  await page.evaluate(() => document.querySelectorAll('[data-cjk-probe]').forEach((el) => el.removeAttribute('data-cjk-probe')));
  check(wanted.length > 0 && nodeIds.length === wanted.length && boxed.length === 0,
    `${name}: every Chinese character is drawn from the embedded font (${wanted.length} elements; not: ${boxed.join('; ') || 'none'})`);
}

/// The rows of the page's main list: each row's cell texts.
async function rows(page) {
  return page.$$eval('table.list tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
}

async function headers(page) {
  return page.$$eval('table.list thead th', (ths) => ths.map((th) => th.textContent.trim()));
}

const PAGES = ['', 'invoices', 'expenses', 'transactions', 'coupons', 'cards', 'packs', 'tax-invoices'];

// ---- a customer -------------------------------------------------------------------------
{
  const ctx = await context();
  const page = await ctx.newPage();
  await page.goto(BASE);
  check(page.url().startsWith(`${BASE}/login`), 'a signed-out visitor is sent to sign in');
  await signIn(page, env('CUSTOMER_EMAIL'), env('CUSTOMER_PASSWORD'));
  check(page.url() === `${BASE}/accounts/${ACCOUNT}/`, `the customer lands on its overview (${page.url()})`);
  const cookies = await ctx.cookies();
  const session = cookies.find((c) => c.name === 'bc_session');
  check(session && session.httpOnly && session.sameSite === 'Lax', 'the session cookie is HttpOnly and SameSite=Lax');
  check(await page.locator('svg.chart rect').count() > 0, 'the overview draws the daily spend chart');

  for (const lang of ['en', 'zh-CN']) {
    await page.goto(`${BASE}/accounts/${ACCOUNT}/?lang=${lang}`);
    check((await page.getAttribute('html', 'lang')) === lang, `the page is in ${lang}`);
    for (const p of PAGES) {
      const response = await page.goto(`${BASE}/accounts/${ACCOUNT}/${p}`);
      check(response.status() === 200, `${p || 'overview'} answers 200 in ${lang}`);
      check((await page.getAttribute('html', 'lang')) === lang, `${p || 'overview'} remembers ${lang}`);
      await shot(page, `customer-${p || 'overview'}-${lang}`);
      await audit(page, `${p || 'overview'} (${lang})`);
    }
    // One invoice, from the list's first link.
    await page.goto(`${BASE}/accounts/${ACCOUNT}/invoices`);
    const link = page.locator('table.list tbody tr td a').first();
    const month = (await link.textContent()).trim();
    await follow(page, () => link.click());
    check(page.url().endsWith(`/invoices/${month}`), `the invoice of ${month} opens`);
    check(await page.locator('tr.subtotal').count() > 0, 'the invoice groups its lines by workspace with subtotals');
    await shot(page, `customer-invoice-${lang}`);
    await audit(page, `invoice ${month} (${lang})`);
  }
  const zh = await page.textContent('nav.tabs');
  check(zh.includes('费用明细') && zh.includes('收支明细'), 'the navigation speaks Chinese');
  await follow(page, () => page.click('nav.langs a[lang=en]'));
  check((await page.getAttribute('html', 'lang')) === 'en' && (await page.textContent('nav.tabs')).includes('Detailed expenses'), 'and English again');

  // Filters: each narrows the rows to what it names.
  await page.goto(`${BASE}/accounts/${ACCOUNT}/expenses`);
  const heads = await headers(page);
  const col = (prefix) => heads.findIndex((h) => h.startsWith(prefix));
  const workspace = await page.$eval('#f-workspace option:nth-child(2)', (o) => o.value);
  await page.selectOption('#f-workspace', workspace);
  await follow(page, () => page.click('form.filters button[type=submit]'));
  const byWorkspace = await rows(page);
  check(byWorkspace.length > 0 && byWorkspace.every((r) => r[col('Workspace')] === workspace), `the workspace filter keeps ${workspace} only`);
  await page.goto(`${BASE}/accounts/${ACCOUNT}/expenses`);
  await page.selectOption('#f-item', 'log_events');
  await page.fill('#f-month', '2026-11');
  await follow(page, () => page.click('form.filters button[type=submit]'));
  const byItem = await rows(page);
  check(byItem.length > 0 && byItem.every((r) => r[col('Billable item')] === 'log_events' && r[col('Billing day')].startsWith('2026-11')),
    'the item and month filters keep November log events only');
  const filteredUrl = page.url();
  await page.goto(`${BASE}/accounts/${ACCOUNT}/expenses?charge_type=adjustment`);
  check((await rows(page)).every((r) => r[col('Charge type')] === 'Adjustment'), 'the charge type filter');
  await page.goto(`${BASE}/accounts/${ACCOUNT}/transactions?type=top_up&from=2026-01-01`);
  const tx = await rows(page);
  check(tx.length > 0 && tx.every((r) => r[2] === 'Top-up'), 'the transaction type filter');
  check(await page.locator('text=Summary of the range by fund and type').count() === 1, 'the income and expenditure summary stands above the list');
  await page.goto(`${BASE}/accounts/${ACCOUNT}/coupons?status=expired`);
  check((await rows(page)).every((r) => r.includes('Expired')), 'the coupon status filter');

  // Paging: the next page holds other rows; the totals are the whole filter's.
  await page.goto(`${BASE}/accounts/${ACCOUNT}/expenses`);
  const first = await rows(page);
  const total = await page.textContent('table.list tfoot');
  check(first.length === 50, `a page holds 50 rows (${first.length})`);
  await follow(page, () => page.click('a[rel=next]'));
  const second = await rows(page);
  check(second.length > 0 && JSON.stringify(second[0]) !== JSON.stringify(first[0]), 'the next page holds the next rows');
  check((await page.textContent('table.list tfoot')) === total, 'the totals row is the same on every page');
  await shot(page, 'customer-expenses-page-2-en');

  // Exports: the downloaded CSV equals `billcenter export` of the same filter; XLSX is a workbook.
  await page.goto(filteredUrl);
  const pageRows = await rows(page);
  // The Export menu opens from the keyboard-reachable summary and offers every format.
  await page.click('details.menu summary');
  const hrefs = await page.$$eval('details.menu a', (as) => as.map((a) => a.href));
  check(await page.isVisible('details.menu a[href*="format=xlsx"]') && hrefs.length === 3, `the Export menu offers CSV, XLSX and FOCUS (${hrefs})`);
  const download = async (format, extension = format) => {
    const href = hrefs.find((h) => h.includes(`format=${format}`));
    const r = await ctx.request.get(href);
    check(r.status() === 200 && (r.headers()['content-disposition'] || '').includes(`.${extension}`), `the ${format} export downloads as a file`);
    return r.body();
  };
  const csv = (await download('csv')).toString('utf8');
  const cli = execFileSync(env('BILLCENTER_BIN'), ['--db', env('BILLCENTER_DB'), '--now', env('BILLCENTER_NOW'), 'export', 'expenses',
    '--account', ACCOUNT, '--month', '2026-11', '--item', 'log_events', '--format', 'csv'], { encoding: 'utf8' });
  check(csv === cli, 'the downloaded CSV equals billcenter export of the same filter');
  const csvLines = csv.replace(/^\uFEFF/, '').trim().split('\r\n').slice(1);
  check(csvLines.length === pageRows.length || pageRows.length === 50, `the CSV has every row of the filter (${csvLines.length})`);
  const newest = csvLines[csvLines.length - 1].split(',');
  check(pageRows[0][0] === newest[0] && pageRows[0][1] === newest[1], 'the page shows the newest row first, as the CSV has it last');
  const xlsx = await download('xlsx');
  check(xlsx.subarray(0, 2).toString() === 'PK', 'the XLSX download is a workbook');
  const cliXlsx = execFileSync(env('BILLCENTER_BIN'), ['--db', env('BILLCENTER_DB'), '--now', env('BILLCENTER_NOW'), 'export', 'expenses',
    '--account', ACCOUNT, '--month', '2026-11', '--item', 'log_events', '--format', 'xlsx']);
  check(cliXlsx.length > 0 && Math.abs(cliXlsx.length - xlsx.length) < 64, 'the XLSX download matches billcenter export in size (it differs only in the time it was made)');
  // FOCUS is the whole billing month of the filter, as `billcenter export focus` writes it.
  const focus = (await download('focus', 'csv')).toString('utf8');
  const cliFocus = execFileSync(env('BILLCENTER_BIN'), ['--db', env('BILLCENTER_DB'), '--now', env('BILLCENTER_NOW'), 'export', 'focus',
    '--account', ACCOUNT, '--month', '2026-11'], { encoding: 'utf8' });
  check(focus.startsWith('BilledCost,') && focus === cliFocus, 'the FOCUS download equals billcenter export focus of the month');

  // Another account's pages, invoices and exports do not exist for this customer.
  for (const p of [`/accounts/${OTHER}/`, `/accounts/${OTHER}/expenses`, `/accounts/${OTHER}/invoices/2026-11`, `/accounts/${OTHER}/expenses/export?format=csv`]) {
    const r = await page.goto(`${BASE}${p}`);
    check(r.status() === 404, `${p} is not found for ${ACCOUNT}'s user (${r.status()})`);
  }
  // A form without its CSRF token is refused, and the session lives on.
  const refused = await ctx.request.post(`${BASE}/logout`, { form: { csrf: 'forged' }, maxRedirects: 0 });
  check(refused.status() === 403, `sign-out without the CSRF token is refused (${refused.status()})`);
  const still = await page.goto(`${BASE}/accounts/${ACCOUNT}/`);
  check(still.status() === 200 && page.url().endsWith(`/accounts/${ACCOUNT}/`), 'the session survives a forged form');
  // Phone width.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${BASE}/accounts/${ACCOUNT}/`);
  await shot(page, 'customer-overview-phone-en');
  await audit(page, 'overview (phone width)');
  await page.setViewportSize({ width: 1366, height: 900 });
  // Sign-out ends the session.
  await follow(page, () => page.click('header form button[type=submit]'));
  check(page.url().includes('/login'), 'sign-out leads to the sign-in page');
  await page.goto(`${BASE}/accounts/${ACCOUNT}/`);
  check(page.url().includes('/login'), 'after sign-out the pages ask to sign in again');
  await shot(page, 'login-en');
  await audit(page, 'login');
  await ctx.close();
}

// ---- an operator --------------------------------------------------------------------------
{
  const ctx = await context({ locale: 'zh-CN' });
  const page = await ctx.newPage();
  await signIn(page, env('OPERATOR_EMAIL'), env('OPERATOR_PASSWORD'));
  check(page.url() === `${BASE}/accounts`, `the operator lands on the account list (${page.url()})`);
  check((await page.getAttribute('html', 'lang')) === 'zh-CN', "the browser's language chooses Chinese");
  await shot(page, 'operator-accounts-zh-CN');
  await audit(page, 'accounts (zh-CN)');
  await page.fill('#switch-q', OTHER);
  await follow(page, () => page.press('#switch-q', 'Enter'));
  const found = await page.$$eval('table tbody tr', (trs) => trs.length);
  check(found === 1, `searching ${OTHER} finds one account (${found})`);
  await page.goto(`${BASE}/accounts?lang=en`);
  await shot(page, 'operator-accounts-en');
  for (const account of [ACCOUNT, OTHER]) {
    for (const p of PAGES) {
      const r = await page.goto(`${BASE}/accounts/${account}/${p}`);
      check(r.status() === 200, `the operator sees ${account} ${p || 'overview'}`);
    }
    await page.goto(`${BASE}/accounts/${account}/`);
    await shot(page, `operator-${account}-overview-en`);
  }
  // fjord's granted card expires within 7 days: the overview names it above everything else.
  await page.goto(`${BASE}/accounts/fjord/`);
  check(await page.locator('section.expiring a[href="/accounts/fjord/cards"]').count() === 1, 'the overview names the card about to expire');
  await shot(page, 'operator-fjord-overview-en');
  await audit(page, 'an overview with balances about to expire (en)');
  // The demo's issued tax invoice (fjord) offers its PDF from the list, and an issued one takes
  // another from the attach form.
  await page.goto(`${BASE}/accounts/fjord/tax-invoices`);
  await shot(page, 'operator-fjord-tax-invoices-en');
  await audit(page, 'tax invoices with a PDF (en)');
  check(await page.locator('form[action$="/attach"] input[type=file]').count() === 1, 'an issued tax invoice has a form to attach its PDF');
  const [pdf] = await Promise.all([page.waitForEvent('download'), page.click('table.list a[download]')]);
  const bytes = readFileSync(await pdf.path());
  check(bytes.subarray(0, 5).toString() === '%PDF-' && pdf.suggestedFilename().startsWith('fjord-tax-invoice-'),
    `the tax invoice's PDF downloads from its list (${pdf.suggestedFilename()})`);
  // The operator attaches another file from the browser's file input; the list then offers it.
  const replacement = Buffer.from('%PDF-1.4\n% reissued by the tax authority\n%%EOF\n');
  await page.setInputFiles('form[action$="/attach"] input[type=file]', { name: 'fapiao.pdf', mimeType: 'application/pdf', buffer: replacement });
  await follow(page, () => page.click('form[action$="/attach"] button[type=submit]'));
  check(page.url().endsWith('/accounts/fjord/tax-invoices?decided=1'), `the attach form answers with the list (${page.url()})`);
  const [again] = await Promise.all([page.waitForEvent('download'), page.click('table.list a[download]')]);
  check(readFileSync(await again.path()).equals(replacement), 'the list offers the file the browser attached');
  await ctx.close();
}

// ---- a locked sign-in ---------------------------------------------------------------------
{
  const ctx = await context();
  const page = await ctx.newPage();
  let last = '';
  for (let i = 0; i < 5; i += 1) {
    await signIn(page, env('LOCK_EMAIL'), `wrong password ${i}`);
    last = await page.textContent('[role=alert]');
  }
  check(last.includes('Too many failed sign-ins'), `the fifth wrong password locks the sign-in (${last})`);
  await signIn(page, env('LOCK_EMAIL'), env('LOCK_PASSWORD'));
  check(page.url().includes('/login') && (await page.textContent('[role=alert]')).includes('Too many'), 'a locked email is refused even with its password');
  await shot(page, 'login-locked-en');
  await ctx.close();
}

check(foreign.length === 0, `no request leaves ${ORIGIN}: ${foreign.slice(0, 5).join(', ')}`);
await browser.close();
console.log(`browser: ${checks - failures.length} of ${checks} checks passed; screenshots in ${SHOTS}`);
if (failures.length > 0) process.exit(1);
