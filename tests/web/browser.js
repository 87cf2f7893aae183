#!/usr/bin/env node
// browser.js - the webmail in a real browser (Debian's chromium driven by
// playwright-core).  Run by tests/webmail.bats; by hand:
//
//   node tests/web/browser.js SCENARIO --base http://127.0.0.1:PORT/cgi-bin/ \
//        --shots DIR [--attach FILE] [--track-port PORT]
//
// Scenarios:
//   flow  alice writes to bob with an attachment (FILE), bob reads it,
//         downloads the attachment, replies and deletes it; alice gets the reply.
//   xss   hostile messages planted in bob's Maildir (tests/webmail.bats):
//         no script of theirs runs, no request leaves for anything but the
//         CGIs, and the payloads are shown as text.
//
// Prints one line per failed check ("FAIL: ...") and exits 1 if any failed,
// 0 otherwise; screenshots go to DIR.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'secret';
const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';

function parseArgs(argv) {
  const opts = { scenario: argv[0] };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i];
    const val = argv[i + 1];
    if (!key || !key.startsWith('--') || val === undefined) usage(`bad argument ${key}`);
    opts[key.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = val;
  }
  if (!opts.base || !opts.shots) usage('--base and --shots are required');
  if (!opts.base.endsWith('/')) opts.base += '/';
  return opts;
}

function usage(msg) {
  console.error(`browser.js: ${msg}`);
  console.error('usage: browser.js flow|xss --base URL --shots DIR [--attach FILE] [--track-port PORT]');
  process.exit(64);
}

const failures = [];
function check(cond, what) {
  if (!cond) {
    failures.push(what);
    console.log(`FAIL: ${what}`);
  }
  return cond;
}
function step(what) {
  console.log(`# ${what}`);
}

async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    // as root chromium needs --no-sandbox; the others keep it off the network
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

async function userContext(browser, user, extra = {}) {
  const ctx = await browser.newContext({
    httpCredentials: { username: user, password: PASSWORD },
    acceptDownloads: true,
    viewport: { width: 1100, height: 800 },
    ...extra,
  });
  ctx.setDefaultTimeout(15000);
  ctx.setDefaultNavigationTimeout(15000);
  return ctx;
}

// goto that checks the HTTP status and the security headers every page has
async function open(page, url, what, expectStatus = 200) {
  const resp = await page.goto(url);
  check(resp !== null, `${what}: no response for ${url}`);
  if (!resp) return null;
  check(resp.status() === expectStatus, `${what}: GET ${url} gave status ${resp.status()}, expected ${expectStatus}`);
  checkHeaders(resp, what);
  return resp;
}

function checkHeaders(resp, what) {
  const h = resp.headers();
  const url = resp.url();
  const csp = h['content-security-policy'] || '';
  if (/[?&]html=/.test(url)) {
    check(/\bsandbox\b/.test(csp) && /default-src 'none'/.test(csp),
      `${what}: HTML part ${url} served without the sandbox CSP (got "${csp}")`);
  } else if (!/[?&]part=/.test(url)) {
    check(/default-src 'none'/.test(csp) && !/script-src/.test(csp),
      `${what}: ${url}: Content-Security-Policy "${csp}", expected default-src 'none' and no script-src`);
    check((h['x-frame-options'] || '').toUpperCase() === 'DENY', `${what}: ${url}: X-Frame-Options "${h['x-frame-options']}"`);
  }
  check(h['x-content-type-options'] === 'nosniff', `${what}: ${url}: X-Content-Type-Options "${h['x-content-type-options']}"`);
  check(/no-store/.test(h['cache-control'] || ''), `${what}: ${url}: Cache-Control "${h['cache-control']}"`);
}

async function shot(page, dir, name) {
  const file = path.join(dir, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${file}`);
}

async function text(page, selector) {
  const loc = page.locator(selector);
  if (await loc.count() === 0) return null;
  return (await loc.first().innerText()).trim();
}

// The rows of the message list: [{name, subject, from, unread, attachment}]
async function listRows(page) {
  return page.$$eval('#messages tr.message', (trs) => trs.map((tr) => {
    const a = tr.querySelector('a.subject');
    const href = a ? a.getAttribute('href') : '';
    const m = /[?&]m=([^&]*)/.exec(href || '');
    const cell = (sel) => { const e = tr.querySelector(sel); return e ? e.innerText.trim() : null; };
    return {
      href,
      name: m ? decodeURIComponent(m[1]) : null,
      subject: a ? a.innerText.trim() : null,
      from: cell('td.from'),
      unread: tr.classList.contains('unread'),
      attachment: tr.querySelector('td.subject span.attachment') !== null,
    };
  }));
}

// ---------------------------------------------------------------- flow
async function flow(opts) {
  if (!opts.attach) usage('flow needs --attach FILE');
  const sent = fs.readFileSync(opts.attach);
  const attachName = path.basename(opts.attach);
  const stamp = Date.now().toString(36);
  const subject = `Quarterly report ${stamp} – naïve café`;
  const bodyLines = ['Hello Bob,', '', 'the report is attached.', 'Fünf Grüße,', 'Alice'];
  const base = opts.base;
  const browser = await launch();
  try {
    // ---- alice writes
    step('alice opens compose');
    const actx = await userContext(browser, ALICE);
    const apage = await actx.newPage();
    await open(apage, base + 'compose', 'compose');
    check(await apage.locator('form#compose').count() === 1, 'compose: no form#compose');
    const form = apage.locator('form#compose');
    if (await form.count()) {
      check((await form.getAttribute('method') || '').toLowerCase() === 'post', 'compose: form method is not post');
      check(await form.getAttribute('enctype') === 'multipart/form-data', 'compose: form enctype is not multipart/form-data');
    }
    const fromShown = await text(apage, '#from');
    check(fromShown !== null && fromShown.includes(ALICE), `compose: #from shows "${fromShown}", expected ${ALICE}`);
    check(await apage.locator('form#compose input[type=hidden][name=csrf]').count() === 1, 'compose: no hidden csrf input');
    await apage.fill('#to', BOB);
    await apage.fill('#subject', subject);
    await apage.fill('#body', bodyLines.join('\n'));
    await apage.setInputFiles('#attach', opts.attach);
    await shot(apage, opts.shots, 'compose.png');
    step('alice sends');
    await Promise.all([apage.waitForNavigation(), apage.click('#send')]);
    const result = await text(apage, '#result');
    check(result !== null && /Sent: id=\d+/.test(result), `compose: after Send, #result is "${result}" (page: ${(await apage.innerText('body')).slice(0, 300)})`);

    // ---- bob reads
    step('bob opens the inbox');
    const bctx = await userContext(browser, BOB);
    const bpage = await bctx.newPage();
    await open(bpage, base + 'inbox', 'inbox');
    const title = await bpage.title();
    check(/\(1\)/.test(title), `inbox: title "${title}", expected the unread count (1)`);
    let rows = await listRows(bpage);
    check(rows.length === 1, `inbox: ${rows.length} rows in #messages, expected 1: ${JSON.stringify(rows)}`);
    const row = rows.find((r) => r.subject === subject);
    check(row !== undefined, `inbox: no row with subject "${subject}" (rows: ${JSON.stringify(rows)})`);
    if (row) {
      check(row.unread, 'inbox: the new message is not marked unread (tr.message.unread)');
      check(row.attachment, 'inbox: the message has no attachment mark (span.attachment in td.subject)');
      check(row.from && row.from.includes('alice'), `inbox: from cell "${row.from}" does not name alice`);
      check(row.href === `inbox?m=${encodeURIComponent(row.name)}` || row.href === `inbox?m=${row.name}`,
        `inbox: subject link is "${row.href}", expected inbox?m=NAME`);
    }
    check(await bpage.locator('a#compose').count() === 1, 'inbox: no a#compose link');
    check(await bpage.locator('link[rel=stylesheet][href="inbox?css"]').count() === 1, 'inbox: no <link rel=stylesheet href="inbox?css">');
    await shot(bpage, opts.shots, 'inbox.png');
    if (!row) throw new Error('the message did not arrive; stopping');

    step('bob opens the message');
    await Promise.all([bpage.waitForNavigation(), bpage.click(`#messages a.subject >> text=${JSON.stringify(subject)}`)]);
    check((await text(bpage, 'h1#subject')) === subject, `message: h1#subject is "${await text(bpage, 'h1#subject')}", expected "${subject}"`);
    const from = await text(bpage, '#from');
    check(from !== null && from.includes(ALICE), `message: #from is "${from}"`);
    const to = await text(bpage, '#to');
    check(to !== null && to.includes(BOB), `message: #to is "${to}"`);
    check(await bpage.locator('#date').count() === 1, 'message: no #date');
    const body = await text(bpage, '#body');
    for (const line of bodyLines.filter((l) => l)) {
      check(body !== null && body.includes(line), `message: #body lacks "${line}": "${body}"`);
    }
    const att = bpage.locator('#attachments a.attachment');
    check(await att.count() === 1, `message: ${await att.count()} a.attachment links, expected 1`);
    await shot(bpage, opts.shots, 'message.png');
    // a 360 px phone: nothing may stick out sideways
    await bpage.setViewportSize({ width: 360, height: 740 });
    const wide = await bpage.evaluate(() => document.documentElement.scrollWidth);
    check(wide <= 360, `message on a 360 px screen is ${wide} px wide`);
    await shot(bpage, opts.shots, 'message-phone.png');
    await bpage.setViewportSize({ width: 1100, height: 800 });

    if (await att.count() === 1) {
      check((await att.innerText()).includes(attachName), `message: attachment link text "${await att.innerText()}" lacks ${attachName}`);
      const li = await bpage.locator('#attachments li').first().innerText().catch(() => '');
      check(/\(application\/octet-stream, [^)]*\d[^)]*\)/.test(li), `message: attachment entry "${li}" does not show "(type, size)"`);
      step('bob downloads the attachment');
      const [download] = await Promise.all([bpage.waitForEvent('download'), att.click()]);
      check(download.suggestedFilename() === attachName,
        `download: suggested file name "${download.suggestedFilename()}", expected "${attachName}"`);
      const got = fs.readFileSync(await download.path());
      check(got.length === sent.length, `download: ${got.length} bytes, sent ${sent.length}`);
      check(Buffer.compare(got, sent) === 0, 'download: the bytes differ from the file sent');
    }

    step('back to the list: read now');
    await Promise.all([bpage.waitForNavigation(), bpage.click('a#back')]);
    rows = await listRows(bpage);
    const again = rows.find((r) => r.subject === subject);
    check(again && !again.unread, `inbox: after reading, the row is still unread (${JSON.stringify(again)})`);
    check(!/\(\d+\)/.test(await bpage.title()), `inbox: title "${await bpage.title()}" still shows an unread count`);

    step('bob replies');
    await Promise.all([bpage.waitForNavigation(), bpage.click(`#messages a.subject >> text=${JSON.stringify(subject)}`)]);
    await Promise.all([bpage.waitForNavigation(), bpage.click('a#reply')]);
    const replyTo = await bpage.inputValue('#to');
    check(replyTo.includes(ALICE), `reply: #to is "${replyTo}", expected ${ALICE}`);
    const replySubject = await bpage.inputValue('#subject');
    check(replySubject === `Re: ${subject}`, `reply: #subject is "${replySubject}", expected "Re: ${subject}"`);
    const quoted = await bpage.inputValue('#body');
    check(/^> ?the report is attached\.$/m.test(quoted), `reply: the body does not quote the original: "${quoted}"`);
    check(await bpage.locator('form#compose input[type=hidden][name=in_reply_to]').count() === 1, 'reply: no hidden in_reply_to');
    await bpage.fill('#body', `Thanks, got it.\n\n${quoted}`);
    await Promise.all([bpage.waitForNavigation(), bpage.click('#send')]);
    const replyResult = await text(bpage, '#result');
    check(replyResult !== null && /Sent: id=\d+/.test(replyResult), `reply: #result is "${replyResult}"`);

    step('bob deletes the original');
    await open(bpage, base + 'inbox', 'inbox');
    await Promise.all([bpage.waitForNavigation(), bpage.click(`#messages a.subject >> text=${JSON.stringify(subject)}`)]);
    check(await bpage.locator('form#delete input[type=hidden][name=csrf]').count() === 1, 'message: form#delete has no hidden csrf');
    const [delResp] = await Promise.all([bpage.waitForNavigation(), bpage.click('form#delete button[type=submit]')]);
    check(/\/inbox$/.test(bpage.url()), `delete: ended on ${bpage.url()}, expected the inbox (303 to inbox)`);
    if (delResp) check(delResp.status() === 200, `delete: final page status ${delResp.status()}`);
    rows = await listRows(bpage);
    check(!rows.some((r) => r.subject === subject), `delete: the message is still listed: ${JSON.stringify(rows)}`);
    await open(bpage, base + 'inbox?folder=Trash', 'trash');
    rows = await listRows(bpage);
    check(rows.some((r) => r.subject === subject), `trash: the deleted message is not in inbox?folder=Trash: ${JSON.stringify(rows)}`);
    await open(bpage, base + 'inbox?folder=Sent', 'sent');
    rows = await listRows(bpage);
    check(rows.some((r) => r.subject === `Re: ${subject}`), `sent: bob's reply is not in inbox?folder=Sent: ${JSON.stringify(rows)}`);

    step('alice gets the reply');
    await open(apage, base + 'inbox', 'alice inbox');
    rows = await listRows(apage);
    const reply = rows.find((r) => r.subject === `Re: ${subject}`);
    check(reply !== undefined, `alice: no "Re: ${subject}" in her inbox: ${JSON.stringify(rows)}`);
    if (reply) {
      check(reply.unread, 'alice: the reply is not unread');
      await Promise.all([apage.waitForNavigation(), apage.click(`#messages a.subject >> text=${JSON.stringify('Re: ' + subject)}`)]);
      const rfrom = await text(apage, '#from');
      check(rfrom !== null && rfrom.includes(BOB), `alice: reply #from is "${rfrom}"`);
      const rbody = await text(apage, '#body');
      check(rbody !== null && rbody.includes('Thanks, got it.'), `alice: reply body is "${rbody}"`);
    }
    await open(apage, base + 'inbox?folder=Sent', 'alice sent');
    rows = await listRows(apage);
    check(rows.some((r) => r.subject === subject), `alice: her message is not in inbox?folder=Sent: ${JSON.stringify(rows)}`);
  } finally {
    await browser.close();
  }
}

// ---------------------------------------------------------------- xss
// The messages tests/webmail.bats plants; each subject carries a tag [xN]
// and the payload texts that must show as text.
const XSS_EXPECT = {
  '[x1]': {
    subject: `<script>alert('xss-subject')</script>`,
    from: `<img src=x onerror=alert('xss-from')>`,
    body: [`<script>document.title='pwned'</script>`, `<img src=x onerror="window.pwned=1;console.log('xss-ran-body')">`,
      `<a href="javascript:alert('xss-href')">click me</a>`],
  },
  '[x2]': {
    subject: `<img src=x onerror=alert('xss-2047')>`,
    from: `<script>alert('xss-from-2047')</script>`,
    body: [`plain body of x2`],
  },
  '[x3]': { body: ['Visible HTML text'], htmlPart: 'Visible HTML text' },
  '[x4]': {
    body: ['see the attachments'],
    attachments: [`<img src=x onerror=alert('xss-file')>.html`, `<script>alert('xss-2231')</script>.txt`],
  },
  '[x5]': { body: [`the plain alternative <b>not bold</b>`], notBody: ['HTML alternative'], htmlPart: 'HTML alternative' },
};

async function xss(opts) {
  const base = opts.base;
  const origin = new URL(base).origin;
  const browser = await launch();
  const ran = [];
  const badRequests = [];
  const cspViolations = [];
  const watch = (page, where) => {
    page.on('dialog', async (d) => {
      ran.push(`${where}: dialog ${d.type()} "${d.message()}" on ${page.url()}`);
      await d.dismiss().catch(() => {});
    });
    page.on('console', (msg) => {
      const t = msg.text();
      if (/xss-ran|pwned/.test(t)) ran.push(`${where}: console "${t}" on ${page.url()}`);
      // on our own pages a CSP report means markup from a message got in;
      // the sandboxed HTML part is where the CSP is meant to block things
      if (/Content Security Policy/.test(t) && !/[?&]html=/.test(page.url())) cspViolations.push(`${where}: ${t} on ${page.url()}`);
    });
    // a request for anything but the CGIs that was not stopped in the
    // browser (by the CSP) went out: a failure
    const foreign = (u) => !u.startsWith('data:') &&
      !/^\/cgi-bin\/(inbox|compose)(\?|$)/.test(u.startsWith(origin) ? u.slice(origin.length) : u);
    page.on('requestfinished', (req) => {
      if (foreign(req.url())) badRequests.push(`${where}: request to ${req.url()} from ${page.url()} was answered`);
    });
    page.on('requestfailed', (req) => {
      const why = (req.failure() || {}).errorText || '';
      if (foreign(req.url()) && !/^csp$|ERR_BLOCKED_BY_CSP/i.test(why)) {
        badRequests.push(`${where}: request to ${req.url()} from ${page.url()} went out (${why})`);
      }
    });
  };
  const pwnedState = async (page) => page.evaluate(() => ({
    title: document.title, pwned: window.pwned === 1,
  })).catch(() => ({ title: '', pwned: false }));
  try {
    // Pass 1: the CSP bypassed, so the HTML escaping alone must keep every
    // payload inert.  Pass 2: as shipped (CSP enforced), also the HTML parts.
    for (const pass of [{ name: 'escaping (CSP bypassed)', bypassCSP: true }, { name: 'as served (CSP on)', bypassCSP: false }]) {
      step(`pass: ${pass.name}`);
      const ctx = await userContext(browser, BOB, { bypassCSP: pass.bypassCSP });
      const page = await ctx.newPage();
      watch(page, pass.name);
      await open(page, base + 'inbox', 'xss list');
      const rows = await listRows(page);
      check(rows.length === Object.keys(XSS_EXPECT).length, `xss list: ${rows.length} rows, expected ${Object.keys(XSS_EXPECT).length}: ${JSON.stringify(rows)}`);
      const st = await pwnedState(page);
      check(!/pwned/.test(st.title) && !st.pwned, `xss list: a payload ran (title "${st.title}", window.pwned ${st.pwned})`);
      if (!pass.bypassCSP) await shot(page, opts.shots, 'xss-inbox.png');
      for (const [tag, exp] of Object.entries(XSS_EXPECT)) {
        const r = rows.find((x) => x.subject && x.subject.includes(tag));
        if (!check(r !== undefined, `xss list: no row with ${tag} in its subject: ${JSON.stringify(rows.map((x) => x.subject))}`)) continue;
        if (exp.subject) check(r.subject.includes(exp.subject), `xss list ${tag}: subject shown as "${r.subject}", expected the text ${exp.subject}`);
        if (exp.from) check(r.from && r.from.includes(exp.from), `xss list ${tag}: from shown as "${r.from}", expected the text ${exp.from}`);
        if (exp.attachments) check(r.attachment, `xss list ${tag}: no attachment mark`);
      }
      for (const r of rows) {
        const tag = Object.keys(XSS_EXPECT).find((t) => r.subject && r.subject.includes(t));
        const exp = XSS_EXPECT[tag] || {};
        const where = `xss message ${tag || r.name}`;
        step(`${pass.name}: open ${tag} (${r.name})`);
        await open(page, base + 'inbox?m=' + encodeURIComponent(r.name), where);
        const s = await pwnedState(page);
        check(!/pwned/.test(s.title) && !s.pwned, `${where}: a payload ran (title "${s.title}", window.pwned ${s.pwned})`);
        check(await page.locator('a[href^="javascript:" i], [onerror], [onclick], [onload], script, iframe, object, embed').count() === 0,
          `${where}: the page holds active markup from the message: ${await page.evaluate(() => document.documentElement.outerHTML.slice(0, 2000))}`);
        const subj = await text(page, 'h1#subject');
        if (exp.subject) check(subj && subj.includes(exp.subject), `${where}: h1#subject "${subj}", expected the text ${exp.subject}`);
        const from = await text(page, '#from');
        if (exp.from) check(from && from.includes(exp.from), `${where}: #from "${from}", expected the text ${exp.from}`);
        const body = await text(page, '#body');
        for (const b of exp.body || []) check(body && body.includes(b), `${where}: #body "${body}" lacks the text ${b}`);
        for (const b of exp.notBody || []) check(!body || !body.includes(b), `${where}: #body shows "${b}" though a text/plain alternative exists`);
        const links = await page.$$eval('#attachments a.attachment', (as) => as.map((a) => ({ text: a.innerText, href: a.getAttribute('href'), download: a.hasAttribute('download') })));
        for (const name of exp.attachments || []) {
          check(links.some((l) => l.text.includes(name)), `${where}: no attachment link showing the text ${name}: ${JSON.stringify(links)}`);
        }
        for (const l of links) {
          check(/^inbox\?m=[^&]+&(amp;)?part=\d+$/.test(l.href) && l.download, `${where}: attachment link ${JSON.stringify(l)}`);
        }
        if (!pass.bypassCSP && links.length) {
          // clicking an attachment downloads it, it never renders (text/html attachment)
          const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#attachments a.attachment >> nth=0')]);
          check(!/[/\\]/.test(dl.suggestedFilename()), `${where}: download name "${dl.suggestedFilename()}"`);
          await dl.delete();
        }
        if (exp.htmlPart) {
          check(await page.locator('a.html-part').count() >= 1, `${where}: no a.html-part link for the text/html part`);
          check(body && !/<img|<script|track/i.test(body), `${where}: #body shows HTML source instead of its text: "${body}"`);
        }
        if (!pass.bypassCSP) {
          await shot(page, opts.shots, `xss-message-${(tag || r.name).replace(/[^a-z0-9]/gi, '')}.png`);
          const htmlLinks = await page.$$eval('a.html-part', (as) => as.map((a) => a.getAttribute('href')));
          for (const href of htmlLinks) {
            step(`open the HTML part ${href}`);
            check(/^inbox\?m=[^&]+&(amp;)?html=\d+$/.test(href), `${where}: a.html-part href "${href}"`);
            await open(page, new URL(href, base).href, `${where} html part`);
            const hs = await pwnedState(page);
            check(!/pwned/.test(hs.title) && !hs.pwned, `${where} html part: a payload ran`);
            check(exp.htmlPart && (await page.innerText('body')).includes(exp.htmlPart), `${where} html part: the HTML's text "${exp.htmlPart}" is not shown`);
            await shot(page, opts.shots, `xss-html-part-${(tag || r.name).replace(/[^a-z0-9]/gi, '')}.png`);
            // the javascript: link does nothing when clicked
            const js = page.locator('a[href^="javascript:"]');
            for (let i = 0; i < await js.count(); i++) {
              await js.nth(i).click({ noWaitAfter: true, timeout: 3000 }).catch(() => {});
            }
            const hs2 = await pwnedState(page);
            check(!/pwned/.test(hs2.title) && !hs2.pwned, `${where} html part: clicking a javascript: link ran it`);
            await page.goBack();
          }
        }
      }
      // back in the list: the title is still ours
      await open(page, base + 'inbox', 'xss list again');
      const t = await page.title();
      check(/mailpipe/.test(t) && !/pwned/.test(t), `xss list: title "${t}" after opening every message`);
      if (!pass.bypassCSP) {
        for (const v of cspViolations) check(false, `CSP violation (markup from a message reached the page): ${v}`);
      }
      await ctx.close();
    }
    // every script that could have run had its chance: a dialog or console
    // line from a payload is a failure
    for (const r of ran) check(false, `a payload ran: ${r}`);
    for (const r of badRequests) check(false, `a request left for something other than the CGIs: ${r}`);
  } finally {
    await browser.close();
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const scenarios = { flow, xss };
  const run = scenarios[opts.scenario];
  if (!run) usage(`unknown scenario "${opts.scenario}"`);
  fs.mkdirSync(opts.shots, { recursive: true });
  try {
    await run(opts);
  } catch (e) {
    check(false, `${opts.scenario}: ${e && e.stack ? e.stack : e}`);
  }
  if (failures.length) {
    console.log(`${opts.scenario}: ${failures.length} check(s) failed`);
    process.exit(1);
  }
  console.log(`${opts.scenario}: all checks passed`);
}

main();
