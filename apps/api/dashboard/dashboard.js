// Credit Ledger dashboard: a static page over the /v1 JSON API with the user's bearer token.
// Everything is built with DOM calls (never innerHTML with data): the token sits in
// sessionStorage and must not be reachable by markup that came from the server.
'use strict';

(() => {
  const TOKEN_KEY = 'credit-ledger.token';
  const AUTO_KEY = 'credit-ledger.auto-refresh';
  const REFRESH_MS = 10_000;
  const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 };
  const PAGES = ['overview', 'transfers', 'transfer', 'history', 'reconciliation', 'topups', 'usage', 'journal', 'reports'];
  const $ = (id) => document.getElementById(id);

  const state = { me: null, subaccounts: [], accounts: [], charts: {}, pagers: {}, lastOk: null, loading: false, loads: {} };
  /**
   * Loads of one list can overlap (two filters changed quickly, an auto-refresh): only the
   * latest may draw. `const current = latest('transfers')` … `if (!current()) return;`
   */
  function latest(key) {
    const n = (state.loads[key] = (state.loads[key] ?? 0) + 1);
    return () => state.loads[key] === n;
  }

  // ---- DOM helpers ----------------------------------------------------------------------
  /** h('td', { class: 'num' }, 'text', node…): an element; attributes starting with "on" are listeners. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
    return el;
  }
  const fill = (container, ...nodes) => container.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined));

  /** A table: columns [{ label, num?, wrap?, cell(row) → string|Node }]. */
  function table(columns, rows, { caption, empty = 'Nothing to show.', rowAttrs } = {}) {
    if (!rows.length) return h('p', { class: 'empty' }, empty);
    return h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {}, columns.map((c) => h('td', { class: [c.num ? 'num' : '', c.wrap ? 'wrap' : ''].join(' ').trim() || null }, c.cell(r)))))));
  }

  function notify(kind, text, ...extra) {
    fill($('status'), h('p', { class: `note ${kind}` }, text, ...extra));
    if (kind !== 'err') setTimeout(() => { if ($('status').textContent.startsWith(text)) fill($('status')); }, 8000);
  }

  // ---- money: 3-decimal strings, exact arithmetic in thousandths (BigInt) ------------------
  function milli(s) {
    const m = /^(-?)(\d+)(?:\.(\d{1,3}))?$/.exec(String(s));
    if (!m) throw new Error(`not an amount: ${s}`);
    const v = BigInt(m[2]) * 1000n + BigInt((m[3] || '').padEnd(3, '0'));
    return m[1] ? -v : v;
  }
  function fromMilli(v) {
    const neg = v < 0n;
    const a = neg ? -v : v;
    return `${neg ? '-' : ''}${a / 1000n}.${String(a % 1000n).padStart(3, '0')}`;
  }
  /** 9974.500 → "9,974.500" (no float on the way). */
  function money(s, { signed = false } = {}) {
    if (s === null || s === undefined) return '—';
    const str = String(s);
    const neg = str.startsWith('-');
    const [int, dec = '000'] = (neg ? str.slice(1) : str).split('.');
    const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return `${neg ? '−' : signed && milli(str) > 0n ? '+' : ''}${grouped}.${dec.padEnd(3, '0')}`;
  }
  const sum = (values) => fromMilli(values.reduce((a, v) => a + milli(v), 0n));
  const abs = (v) => (v < 0n ? -v : v);

  // ---- drift: one colour meaning everywhere (tables, badges, charts) ----------------------
  // negative (provider shows less than the ledger: usage likely) → red; positive (provider
  // shows more: purchase or refund likely) → amber; zero → green. The CSS variables are the
  // single source: the charts read them too.
  const driftKind = (drift) => { const v = milli(drift); return v < 0n ? 'drift-neg' : v > 0n ? 'drift-pos' : 'drift-zero'; };
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const DRIFT_TITLE = { 'drift-neg': 'The provider shows less than the ledger: usage likely', 'drift-pos': 'The provider shows more than the ledger: purchase or refund likely', 'drift-zero': 'The ledger matches the provider' };
  function driftBadge(drift) {
    if (drift === null || drift === undefined) return h('span', { class: 'badge' }, 'not observed');
    const kind = driftKind(drift);
    return h('span', { class: `badge ${kind}`, title: DRIFT_TITLE[kind] }, kind === 'drift-zero' ? 'matched' : money(drift, { signed: true }));
  }
  /** Drift as a coloured amount (same colours as driftBadge). */
  const driftAmount = (drift) => h('span', { class: `amount-text ${driftKind(drift)}`, title: DRIFT_TITLE[driftKind(drift)] }, money(drift, { signed: true }));
  /** Gross (sum of |drift|, never netted) with the two directions apart. */
  function driftTotals(drifts) {
    const vals = drifts.map(milli);
    const gross = vals.reduce((a, v) => a + abs(v), 0n);
    const less = vals.filter((v) => v < 0n).reduce((a, v) => a + v, 0n);
    const more = vals.filter((v) => v > 0n).reduce((a, v) => a + v, 0n);
    return { gross: fromMilli(gross), less: fromMilli(less), more: fromMilli(more) };
  }

  // ---- time: every instant with seconds and its zone --------------------------------------
  const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const fmtCache = new Map();
  /** "2026-12-01 21:05:09 UTC" in `timeZone` (default: this browser's), whatever the locale. */
  function instant(iso, timeZone = BROWSER_ZONE) {
    let f = fmtCache.get(timeZone);
    if (!f) {
      f = new Intl.DateTimeFormat('en-GB', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' });
      fmtCache.set(timeZone, f);
    }
    const p = Object.fromEntries(f.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
  }
  function when(iso) {
    if (!iso) return '—';
    return h('time', { datetime: iso, title: `${iso} (${age(iso)})` }, instant(iso));
  }
  function age(iso) {
    if (!iso) return 'never';
    const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (s < 0) return 'in the future';
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  }
  /** yyyy-mm-dd (an <input type=date> value) → the start of that UTC day / of the next one. */
  const dayStart = (d) => `${d}T00:00:00.000Z`;
  const dayEnd = (d) => `${d}T23:59:59.999Z`;
  const isoDay = (date) => date.toISOString().slice(0, 10);

  // ---- failure reasons in plain words (the raw text stays in the title and details) --------
  const REJECTIONS = {
    invalid_key: 'the provider refused our API key',
    not_authorised: 'the provider says this account may not do that',
    insufficient_credit: 'the provider says the source has too little credit',
    subaccount_not_found: 'the provider does not know this sub-account',
    invalid_amount: 'the provider refused the amount',
    missing_parameter: 'the provider says a parameter is missing',
    invalid_request: 'the provider refused the request as invalid',
    unknown_code: 'the provider refused it with a code we do not know',
  };
  function plainCause(raw) {
    const t = raw.toLowerCase();
    if (/other side closed|und_err_socket|socket hang up|econnreset|response interrupted/.test(t)) return 'the connection to the provider broke before its answer arrived';
    if (/timeout|timed out/.test(t)) return 'the provider did not answer in time';
    if (/econnrefused|enotfound|eai_again|ehostunreach|enetunreach|connect_timeout|connection failed/.test(t)) return 'the provider could not be reached (nothing was sent)';
    if (/429|too many requests/.test(t)) return 'the provider asked us to slow down (rate limit)';
    if (/http 5\d\d|html|malformed|not json|unparsable|invalid json/.test(t)) return 'the provider answered with an error page or an unreadable answer';
    if (/fetch failed|network error/.test(t)) return 'a network error interrupted the call to the provider';
    return null;
  }
  /** A sentence for a transfer's failureReason (null when there is none). */
  function plainReason(raw) {
    if (!raw) return null;
    if (raw === 'provider_unreachable') return 'The provider could not be reached after every retry; nothing was applied.';
    if (raw === 'expired') return 'It waited too long to be executed and expired; nothing was applied.';
    if (raw === 'lease expired during the provider call') return 'The worker stopped in the middle of the provider call: it may or may not have been applied.';
    const rejected = /^provider_rejected:(\w+)/.exec(raw);
    if (rejected) return `Refused: ${REJECTIONS[rejected[1]] || rejected[1].replace(/_/g, ' ')}. Nothing was applied.`;
    const retrying = /^retrying: (.*)$/.exec(raw);
    if (retrying) return `Will retry: ${plainCause(retrying[1]) || retrying[1]}.`;
    const cause = plainCause(raw);
    if (cause) return `${cause[0].toUpperCase()}${cause.slice(1)}${/may have been applied|broke|did not answer|interrupted/.test(cause + raw) ? ': it may or may not have been applied' : ''}.`;
    return raw;
  }
  /** The sentence, with the raw text in a tooltip. */
  const reasonCell = (raw) => {
    if (!raw) return '';
    const plain = plainReason(raw);
    return plain === raw ? raw : h('span', { class: 'reason', title: raw }, plain);
  };

  // ---- API -------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  async function api(method, path, body, headers = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const res = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    if (!res.ok) {
      const err = new ApiError(res.status, json?.error?.code ?? `http_${res.status}`, json?.error?.message ?? `${res.status} ${res.statusText}`);
      if (res.status === 401 && state.me) { signOut('Your token is no longer accepted: sign in again.'); }
      throw err;
    }
    return json;
  }
  /** Every page of a list route (bounded: for pickers and counts, never for tables). */
  async function listAll(path, max = 1000) {
    const out = [];
    let cursor = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page = await api('GET', `${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      out.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor && out.length < max);
    return out;
  }
  function explain(err) {
    if (err instanceof ApiError) {
      if (err.status === 403) return `Not allowed: ${err.message}.`;
      return `${err.message} (${err.code})`;
    }
    return `Could not reach the server: ${err.message}`;
  }
  const query = (params) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    return q.toString();
  };

  /** Downloads need the Authorization header, so: fetch → Blob → object URL → a[download]. */
  async function download(path, fallbackName) {
    const res = await fetch(path, { headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` } });
    if (!res.ok) {
      const json = await res.json().catch(() => undefined);
      throw new ApiError(res.status, json?.error?.code ?? `http_${res.status}`, json?.error?.message ?? res.statusText);
    }
    const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') || '')?.[1] ?? fallbackName;
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    notify('ok', `Downloaded ${name}.`);
  }

  // ---- paging: the API's cursors, one pager per list ----------------------------------------
  /**
   * A pager keeps the cursors of the pages seen (a stack), so Previous goes back exactly;
   * a filter change starts again at page 1. `load(cursor)` fetches one page: { data, nextCursor }.
   */
  function pager(key) {
    const p = state.pagers[key] ??= { stack: [null], next: null, filter: '' };
    return p;
  }
  function resetPager(key, filter) {
    const p = pager(key);
    if (p.filter !== filter) { p.stack = [null]; p.filter = filter; }
    return p.stack[p.stack.length - 1];
  }
  function renderPager(key, nextCursor, reload, shown) {
    const p = pager(key);
    p.next = nextCursor;
    const n = p.stack.length;
    if (n === 1 && !nextCursor) return fill($(`${key}-pager`)); // one page: nothing to page
    fill($(`${key}-pager`),
      h('button', { type: 'button', class: 'prev', disabled: n === 1, onclick: () => { p.stack.pop(); reload().catch((e) => notify('err', explain(e))); } }, '← Previous'),
      h('span', { class: 'page-no' }, `Page ${n}${shown !== undefined ? ` · ${shown} shown` : ''}`),
      h('button', { type: 'button', class: 'next', disabled: !nextCursor, onclick: () => { p.stack.push(p.next); reload().catch((e) => notify('err', explain(e))); } }, 'Next →'));
  }
  /** Client-side pages over a list already in hand (the history route returns a bounded list). */
  function localPage(key, rows, size) {
    const p = pager(key);
    const pages = Math.max(1, Math.ceil(rows.length / size));
    p.index = Math.min(p.index ?? 0, pages - 1);
    return { rows: rows.slice(p.index * size, (p.index + 1) * size), pages, index: p.index };
  }
  function renderLocalPager(key, pages, index, total, reload) {
    const p = pager(key);
    fill($(`${key}-pager`), pages <= 1 ? null : [
      h('button', { type: 'button', class: 'prev', disabled: index === 0, onclick: () => { p.index = index - 1; reload(); } }, '← Previous'),
      h('span', { class: 'page-no' }, `Page ${index + 1} of ${pages} · ${total} in all`),
      h('button', { type: 'button', class: 'next', disabled: index >= pages - 1, onclick: () => { p.index = index + 1; reload(); } }, 'Next →')]);
  }

  // ---- roles -----------------------------------------------------------------------------
  const can = (role) => !!state.me && ROLE_RANK[state.me.role] >= ROLE_RANK[role];
  /** Actions above the user's role stay visible but disabled, saying which role they need. */
  function gate(el, role) {
    if (!can(role)) {
      el.disabled = true;
      el.title = `Requires the ${role} role (you are ${state.me?.role})`;
    }
    return el;
  }
  function gateAll() {
    for (const el of document.querySelectorAll('[data-requires]')) {
      el.disabled = false;
      el.removeAttribute('title');
      gate(el, el.dataset.requires);
    }
  }
  const roleNote = (role) => (can(role) ? null : h('p', { class: 'requires' }, `Actions need the ${role} role; your token has ${state.me.role}.`));

  // ---- sign-in, routing, refresh and staleness -------------------------------------------
  async function signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    try {
      state.me = await api('GET', '/v1/me');
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.me = null;
      throw err;
    }
    $('who-name').textContent = state.me.name;
    $('who-role').textContent = state.me.role;
    $('who').hidden = false;
    $('nav').hidden = false;
    $('freshness-bar').hidden = false;
    gateAll();
    newIdempotencyKey();
    await loadShared();
    route();
  }
  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.me = null;
    state.pagers = {};
    // Nothing the previous token could read stays on the page for the next one.
    for (const id of ['summary-cards', 'subaccounts', 'subaccounts-pager', 'accounts', 'observations', 'observations-pager', 'open-drifts', 'open-drifts-total', 'open-drifts-pager', 'runs', 'runs-pager', 'run-detail',
      'resolved-drifts', 'resolved-drifts-pager', 'in-doubt', 'transfers', 'transfers-pager', 'transfer-detail', 'topups', 'usage', 'journal', 'journal-pager', 'status', 'nt-result']) fill($(id));
    for (const c of Object.values(state.charts)) c.destroy();
    state.charts = {};
    $('who').hidden = true;
    $('nav').hidden = true;
    $('freshness-bar').hidden = true;
    markFresh(null);
    showPage('login');
    $('login-error').textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }
  function showPage(name) {
    for (const p of ['login', ...PAGES]) $(`page-${p}`).hidden = p !== name;
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.page === name || (name === 'transfer' && a.dataset.page === 'transfers')) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }
  function currentRoute() {
    const [page, arg] = location.hash.slice(1).split('/');
    return PAGES.includes(page) && (page !== 'transfer' || arg) ? { page, arg: arg ? decodeURIComponent(arg) : undefined } : { page: 'overview' };
  }
  /** Loads the current page. A failed refresh keeps the figures but marks them stale. */
  async function route({ background = false } = {}) {
    if (!state.me) return signOut();
    const { page, arg } = currentRoute();
    if (!background) showPage(page);
    const title = page === 'transfer' ? 'Transfer' : document.querySelector(`nav a[data-page="${page}"]`).textContent;
    document.title = `${title} — Credit Ledger`;
    // Only the latest load of the page says whether the figures are fresh or stale.
    const current = latest('route');
    state.loading = true;
    try {
      await LOADERS[page](arg);
      if (current()) markFresh(new Date());
    } catch (err) {
      if (!state.me || !current()) return;
      markStale(err);
      if (!background) notify('err', explain(err));
    } finally {
      if (current()) state.loading = false;
    }
  }
  function markFresh(at) {
    state.lastOk = at;
    $('main').classList.remove('stale');
    $('stale').hidden = true;
    fill($('freshness'), at ? `Figures as of ${instant(at.toISOString())}${$('auto-refresh').checked ? ' · refreshing every 10 s' : ''}` : '');
  }
  function markStale(err) {
    $('main').classList.add('stale');
    $('stale').hidden = false;
    fill($('stale'), h('strong', {}, 'Stale: '),
      `the last refresh failed (${explain(err)}). `,
      state.lastOk ? `The figures below are from ${instant(state.lastOk.toISOString())} and may be out of date.` : 'Nothing could be loaded yet.');
  }
  /** Auto-refresh skips a beat while the user types or picks in a form: it would redraw under them. */
  function busyEditing() {
    const a = document.activeElement;
    if (a && a.closest('main') && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(a.tagName) && a.closest('form')) return true;
    // A reason typed into a resolve form (redrawn by a refresh) must not be lost either.
    return [...document.querySelectorAll('main form.action-row input[name=reason]')].some((i) => i.value.trim() !== '');
  }
  function autoRefreshTick() {
    if (!state.me || !$('auto-refresh').checked || state.loading || document.hidden || busyEditing()) return;
    route({ background: true });
  }

  /** Sub-accounts and ledger accounts: several pages need them (pickers, tables). */
  async function loadShared() {
    const [subs, accounts] = await Promise.all([listAll('/v1/subaccounts'), api('GET', '/v1/accounts')]);
    state.subaccounts = subs;
    state.accounts = accounts.data;
    subaccountOptions($('nt-subaccount'), null, false);
    subaccountOptions($('transfers-subaccount'), 'All', true);
    accountSelect($('drifts-account'), 'All');
  }
  const accountLabel = (code) => {
    if (!code.startsWith('sub:')) return code === 'main' ? 'main (provider account)' : code;
    const s = state.subaccounts.find((x) => `sub:${x.token}` === code);
    return s ? `${s.title || s.email} (${s.token})` : code;
  };
  function accountOptions(select, selected) {
    const codes = state.accounts.map((a) => a.code);
    fill(select, codes.map((c) => h('option', { value: c, selected: c === selected }, accountLabel(c))));
  }
  function subaccountOptions(select, allLabel, keep) {
    const current = keep ? select.value : '';
    fill(select, allLabel ? h('option', { value: '' }, allLabel) : null,
      state.subaccounts.map((s) => h('option', { value: s.token, selected: s.token === current }, `${s.title || s.email} (${s.token})`)));
  }
  function accountSelect(select, allLabel) {
    const current = select.value;
    fill(select, h('option', { value: '' }, allLabel), state.accounts.map((a) => h('option', { value: a.code, selected: a.code === current }, accountLabel(a.code))));
  }

  // ---- Overview --------------------------------------------------------------------------
  function metric(label, value, sub, alert) {
    return h('div', { class: `card metric${alert ? ' alert' : ''}` }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
  }
  async function loadOverview() {
    const current = latest('overview');
    await loadShared();
    const cursor = resetPager('subaccounts', '');
    const [drifts, inDoubt, runs, mainHistory, subPage] = await Promise.all([
      listAll('/v1/drifts?status=open'),
      listAll('/v1/transfers?status=in_doubt'),
      api('GET', '/v1/reconciliations?limit=1'),
      api('GET', '/v1/accounts/main/history'),
      api('GET', `/v1/subaccounts?${query({ limit: 50, cursor })}`),
    ]);
    if (!current()) return;
    const main = state.accounts.find((a) => a.code === 'main');
    const mainObs = mainHistory.observations[mainHistory.observations.length - 1];
    const lastRun = runs.data[0];
    const totals = driftTotals(drifts.map((d) => d.drift));
    fill($('summary-cards'),
      metric('Main account (ledger)', money(main?.balance.posted), `available ${money(main?.balance.available)}`),
      metric('Main account (provider)', mainObs ? money(mainObs.observed) : '—', mainObs ? `observed ${instant(mainObs.at)} (${age(mainObs.at)})` : 'no reading in 30 days'),
      metric('Sub-accounts (ledger)', money(sum(state.subaccounts.map((s) => s.balance.posted))), `${state.subaccounts.length} sub-accounts`),
      metric('Open drift findings', String(drifts.length), drifts.length
        ? h('span', {}, `gross ${money(totals.gross)} · `, driftAmount(totals.less), ' / ', driftAmount(totals.more))
        : 'ledger matches the provider', drifts.length > 0),
      metric('In-doubt transfers', String(inDoubt.length), inDoubt.length ? 'need a decision' : 'none', inDoubt.length > 0),
      metric('Last reconciliation', lastRun ? lastRun.status : 'never', lastRun ? `${instant(lastRun.startedAt)} · ${lastRun.summary.drifted} drifted` : 'run one from Reconciliation', lastRun?.status === 'failed'),
    );
    fill($('subaccounts'), table([
      { label: 'Sub-account', cell: (s) => h('div', {}, h('div', {}, s.title || s.email), h('div', { class: 'ident' }, s.token)) },
      { label: 'Posted', num: true, cell: (s) => money(s.balance.posted) },
      { label: 'Pending', num: true, cell: (s) => money(s.balance.pending) },
      { label: 'Available', num: true, cell: (s) => money(s.balance.available) },
      { label: 'Provider balance', num: true, cell: (s) => (s.observed ? money(s.observed.balance) : '—') },
      { label: 'Observed', cell: (s) => (s.observed ? h('div', {}, when(s.observed.at), h('div', { class: 'ident' }, `${age(s.observed.at)} · ${s.observed.source}`)) : 'never') },
      { label: 'Drift', num: true, cell: (s) => driftBadge(s.observed ? s.observed.drift : null) },
      { label: 'Links', cell: (s) => h('span', {},
        h('a', { href: '#history', onclick: () => { state.historyAccount = `sub:${s.token}`; } }, 'Chart', h('span', { class: 'sr-only' }, ` for ${s.token}`)), ' · ',
        h('a', { href: '#transfers', onclick: () => { $('transfers-subaccount').value = s.token; } }, 'Transfers', h('span', { class: 'sr-only' }, ` of ${s.token}`))) },
    ], subPage.data, { empty: 'No sub-accounts yet: import them (POST /v1/subaccounts/import or credit-ledger import).', caption: 'Amounts in EUR credit. Drift = provider balance − ledger posted balance at that reading.' }));
    renderPager('subaccounts', subPage.nextCursor, loadOverview, subPage.data.length);
    fill($('accounts'), table([
      { label: 'Account', cell: (a) => h('span', { class: a.code.startsWith('sub:') ? 'ident' : null }, a.code) },
      { label: 'Type', cell: (a) => a.type },
      { label: 'Posted', num: true, cell: (a) => money(a.balance.posted) },
      { label: 'Pending', num: true, cell: (a) => money(a.balance.pending) },
      { label: 'Available', num: true, cell: (a) => money(a.balance.available) },
    ], state.accounts.filter((a) => !a.code.startsWith('sub:'))));
  }

  // ---- Balance history -------------------------------------------------------------------
  const num = (s) => Number(s); // for plotting only; every figure shown as text stays a string
  function chart(id, config) {
    state.charts[id]?.destroy();
    state.charts[id] = new window.Chart($(id), config);
  }
  function tickFormat(span) {
    if (span <= 3600e3) return new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    if (span <= 2 * 86400e3) return new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
    return new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short' });
  }
  // Bar charts offset their axis by half a bar by default: off, so both charts share one time scale.
  const timeAxis = (from, to) => {
    const fmt = tickFormat(to - from);
    return { type: 'linear', min: from, max: to, offset: false, title: { display: true, text: `time (${BROWSER_ZONE})` }, ticks: { maxTicksLimit: 6, callback: (v) => fmt.format(new Date(v)) }, grid: { color: '#eef0f3' } };
  };
  // The same width for both charts' y axes keeps their time axes aligned.
  const valueAxis = (title) => ({ title: { display: true, text: title }, grid: { color: '#eef0f3' }, afterFit: (scale) => { scale.width = 64; } });
  const tooltipTitle = (items) => (items.length ? instant(new Date(items[0].parsed.x).toISOString()) : '');

  async function loadHistory() {
    const current = latest('history');
    if (!state.accounts.length) await loadShared();
    const select = $('history-account');
    const wanted = state.historyAccount || select.value || state.accounts.find((a) => a.code.startsWith('sub:'))?.code || 'main';
    accountOptions(select, wanted);
    state.historyAccount = null;
    const days = Number($('history-days').value);
    const to = new Date();
    const from = new Date(to.getTime() - days * 86400e3);
    const hist = await api('GET', `/v1/accounts/${encodeURIComponent(select.value)}/history?from=${from.toISOString()}&to=${to.toISOString()}`);
    if (!current()) return;
    // Zoom on the activity: a month-wide axis with every point in its last hour shows nothing.
    const times = [...hist.ledger.slice(1, -1), ...hist.observations].map((p) => Date.parse(p.at));
    const first = times.length ? Math.min(...times) : from.getTime();
    const x = { from: Math.max(from.getTime(), first - Math.max((to.getTime() - first) * 0.05, 60_000)), to: to.getTime() };
    const colours = { 'drift-neg': cssVar('--drift-neg'), 'drift-pos': cssVar('--drift-pos'), 'drift-zero': cssVar('--drift-zero') };
    chart('balance-chart', {
      type: 'line',
      data: {
        datasets: [
          { label: 'Ledger posted balance', data: hist.ledger.map((p) => ({ x: Date.parse(p.at), y: num(p.posted) })), stepped: 'before', borderColor: '#2354c6', backgroundColor: '#2354c6', pointRadius: 0, borderWidth: 2 },
          { label: 'Provider balance (observed)', data: hist.observations.map((o) => ({ x: Date.parse(o.at), y: num(o.observed) })), showLine: false, borderColor: '#6b4fbb', backgroundColor: '#8b6fdb', pointRadius: 5, pointHoverRadius: 7, pointStyle: 'rectRot' },
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, interaction: { mode: 'nearest', intersect: false },
        scales: { x: timeAxis(x.from, x.to), y: { ...valueAxis('EUR credit'), beginAtZero: true } },
        plugins: { tooltip: { callbacks: { title: tooltipTitle, label: (c) => `${c.dataset.label}: ${money(c.dataset.label.startsWith('Ledger') ? hist.ledger[c.dataIndex].posted : hist.observations[c.dataIndex].observed)}` } } },
      },
    });
    chart('drift-chart', {
      type: 'bar',
      data: {
        datasets: [{
          label: 'Drift (provider − ledger)', data: hist.observations.map((o) => ({ x: Date.parse(o.at), y: num(o.drift) })),
          backgroundColor: hist.observations.map((o) => colours[driftKind(o.drift)]),
          barThickness: 6, minBarLength: 2,
        }],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: timeAxis(x.from, x.to), y: valueAxis('Drift, EUR') },
        plugins: { legend: { display: false }, tooltip: { callbacks: { title: tooltipTitle, label: (c) => `drift ${money(hist.observations[c.dataIndex].drift, { signed: true })}` } } },
      },
    });
    const all = [...hist.observations].reverse();
    const render = () => {
      const { rows, pages, index } = localPage('observations', all, 25);
      fill($('observations'), table([
        { label: 'When', cell: (o) => when(o.at) },
        { label: 'Source', cell: (o) => ({ me: 'reconciliation (account)', list: 'reconciliation (list)', transfer: 'transfer answer' })[o.source] || o.source },
        { label: 'Provider', num: true, cell: (o) => money(o.observed) },
        { label: 'Ledger at that point', num: true, cell: (o) => money(o.expected) },
        { label: 'Drift', num: true, cell: (o) => driftBadge(o.drift) },
        { label: 'Settled', cell: (o) => (o.settled ? 'yes' : h('span', { title: 'A transfer was in flight: a gap may be timing' }, 'in flight')) },
        { label: 'Transfer', cell: (o) => (o.transferId ? h('a', { href: `#transfer/${o.transferId}` }, `${o.transferId.slice(0, 8)}…`) : '') },
      ], rows, { empty: 'No provider reading in this period.', caption: hist.truncated ? 'Only the most recent points of the period are shown.' : `${all.length} readings, newest first.` }));
      renderLocalPager('observations', pages, index, all.length, render);
    };
    render();
  }

  // ---- Reconciliation --------------------------------------------------------------------
  const SUGGESTED = { usage_likely: 'usage', purchase_or_refund_likely: 'purchase' };
  const RUN_BADGE = { completed: 'good', failed: 'bad', running: 'info' };
  const ITEM_BADGE = { matched: 'good', drift: 'bad', unsettled: 'warn', resolved_in_doubt: 'info' };

  function findingCard(f) {
    const as = h('select', { name: 'as' },
      h('option', { value: 'usage', selected: SUGGESTED[f.suggestion] === 'usage' }, 'Usage (SMS sent)'),
      h('option', { value: 'purchase', selected: SUGGESTED[f.suggestion] === 'purchase' }, 'Purchase or refund'),
      h('option', { value: 'write_off' }, 'Write-off'));
    const reason = h('input', { type: 'text', name: 'reason', required: true, maxlength: 500, placeholder: 'e.g. SMS campaign of 12 March' });
    const button = gate(h('button', { type: 'submit', class: 'primary' }, 'Resolve'), 'operator');
    if (!can('operator')) { as.disabled = true; reason.disabled = true; }
    const form = h('form', { class: 'action-row', 'aria-label': `Resolve the drift of ${f.account}` },
      h('label', {}, 'Book it as', as),
      h('label', { class: 'grow' }, 'Reason', reason),
      button);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      button.disabled = true;
      try {
        const r = await api('POST', `/v1/drifts/${f.id}/resolve`, { as: as.value, reason: reason.value });
        notify('ok', `Drift of ${money(r.drift, { signed: true })} on ${r.account} booked as ${r.resolution.as} (ledger transaction ${r.resolution.ledgerTransactionId}).`);
        await loadReconciliation();
      } catch (err) {
        notify('err', explain(err));
        button.disabled = false;
      }
    });
    return h('article', { class: 'card finding', 'data-finding': f.id },
      h('div', { class: 'head' },
        h('div', {}, h('strong', {}, accountLabel(f.account)), ' ', h('span', { class: `badge ${driftKind(f.drift)}` }, f.suggestion === 'usage_likely' ? 'usage likely' : 'purchase or refund likely')),
        h('div', { class: 'amount' }, driftAmount(f.drift))),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Provider showed'), h('dd', {}, money(f.observed))),
        h('div', {}, h('dt', {}, 'Ledger expected'), h('dd', {}, money(f.expected))),
        h('div', {}, h('dt', {}, 'First seen'), h('dd', {}, when(f.firstSeenAt))),
        h('div', {}, h('dt', {}, 'Last seen'), h('dd', {}, when(f.lastSeenAt)))),
      form);
  }

  async function showRun(id) {
    const run = await api('GET', `/v1/reconciliations/${id}`);
    fill($('run-detail'), h('div', { class: 'chart-box' },
      h('h2', {}, `Run of ${instant(run.startedAt)}`, ' ', h('span', { class: `badge ${RUN_BADGE[run.status] || ''}` }, run.status)),
      run.error ? h('p', { class: 'error' }, run.error) : null,
      h('div', { class: 'table-wrap' }, table([
        { label: 'Account', cell: (i) => accountLabel(i.account) },
        { label: 'Ledger expected', num: true, cell: (i) => money(i.expected) },
        { label: 'Provider', num: true, cell: (i) => money(i.observed) },
        { label: 'Drift', num: true, cell: (i) => driftAmount(i.drift) },
        { label: 'Status', cell: (i) => h('span', { class: `badge ${ITEM_BADGE[i.status] || ''}` }, i.status.replace(/_/g, ' ')) },
        { label: 'Explanation', wrap: true, cell: (i) => i.explanation || '' },
      ], run.items, { empty: 'No items (the run failed before reading the provider).' }))));
  }

  async function loadReconciliation() {
    const current = latest('reconciliation');
    if (!state.accounts.length) await loadShared();
    const account = $('drifts-account').value;
    const runStatus = $('runs-status').value;
    const driftCursor = resetPager('open-drifts', account);
    const runCursor = resetPager('runs', runStatus);
    const resolvedCursor = resetPager('resolved-drifts', '');
    const [allOpen, open, runs, resolved] = await Promise.all([
      listAll(`/v1/drifts?${query({ status: 'open', account })}`),
      api('GET', `/v1/drifts?${query({ status: 'open', account, limit: 20, cursor: driftCursor })}`),
      api('GET', `/v1/reconciliations?${query({ status: runStatus, limit: 15, cursor: runCursor })}`),
      api('GET', `/v1/drifts?${query({ status: 'resolved', limit: 10, cursor: resolvedCursor })}`),
    ]);
    if (!current()) return;
    const totals = driftTotals(allOpen.map((f) => f.drift));
    fill($('open-drifts-total'), allOpen.length
      ? h('p', {}, `${allOpen.length} open · gross ${money(totals.gross)} (sum of |drift|) · provider shows less: `, driftAmount(totals.less), ' · provider shows more: ', driftAmount(totals.more))
      : null);
    fill($('open-drifts'),
      roleNote('operator'),
      open.data.length ? open.data.map(findingCard) : h('div', { class: 'card' }, h('span', { class: 'badge good' }, 'All clear'), ' No open drift: the ledger matched the provider at the last run.'));
    renderPager('open-drifts', open.nextCursor, loadReconciliation, open.data.length);
    fill($('runs'), table([
      { label: 'Started', cell: (r) => when(r.startedAt) },
      { label: 'Trigger', cell: (r) => h('span', { title: r.actor }, r.trigger === 'manual' ? `manual (${r.actor.replace(/^token:/, '').replace(/\/\w+$/, '')})` : r.trigger) },
      { label: 'Status', cell: (r) => h('span', { class: `badge ${RUN_BADGE[r.status] || ''}`, title: r.error || null }, r.status) },
      { label: 'Accounts', num: true, cell: (r) => String(r.summary.accounts) },
      { label: 'Matched', num: true, cell: (r) => String(r.summary.matched) },
      { label: 'Drifted', num: true, cell: (r) => (r.summary.drifted ? h('strong', { class: 'drift-neg-text' }, String(r.summary.drifted)) : '0') },
      { label: 'Unsettled', num: true, cell: (r) => String(r.summary.unsettled) },
      { label: 'In doubt resolved', num: true, cell: (r) => String(r.summary.resolvedInDoubt) },
      { label: '', cell: (r) => h('span', {},
        h('button', { type: 'button', class: 'link', onclick: () => showRun(r.id).catch((e) => notify('err', explain(e))) }, 'Details'),
        r.status === 'running' ? null : h('button', { type: 'button', class: 'link', onclick: () => download(`/v1/reconciliations/${r.id}/report?format=csv`, `reconciliation-${r.id}.csv`).catch((e) => notify('err', explain(e))) }, 'CSV')) },
    ], runs.data, { empty: 'No reconciliation yet.' }));
    renderPager('runs', runs.nextCursor, loadReconciliation, runs.data.length);
    fill($('resolved-drifts'), table([
      { label: 'Account', cell: (f) => accountLabel(f.account) },
      { label: 'Drift', num: true, cell: (f) => driftAmount(f.drift) },
      { label: 'Booked as', cell: (f) => f.resolution?.as.replace('_', ' ') ?? '' },
      { label: 'By', cell: (f) => f.resolution?.by ?? '' },
      { label: 'Reason', wrap: true, cell: (f) => f.resolution?.reason ?? '' },
      { label: 'When', cell: (f) => when(f.resolution?.at) },
    ], resolved.data, { empty: 'None yet.' }));
    renderPager('resolved-drifts', resolved.nextCursor, loadReconciliation, resolved.data.length);
  }

  async function runReconciliation() {
    const button = $('run-reconciliation');
    button.disabled = true;
    try {
      const started = await api('POST', '/v1/reconciliations');
      notify('info', 'Reconciliation running: reading the provider…');
      let run;
      const deadline = Date.now() + 120_000;
      do {
        await new Promise((r) => setTimeout(r, 500));
        run = await api('GET', `/v1/reconciliations/${started.id}`);
      } while (run.status === 'running' && Date.now() < deadline);
      if (run.status === 'completed') notify(run.summary.drifted ? 'err' : 'ok', `Reconciliation completed: ${run.summary.matched} matched, ${run.summary.drifted} drifted, ${run.summary.unsettled} unsettled.`);
      else if (run.status === 'failed') notify('err', `Reconciliation failed: ${run.error}`);
      else notify('info', 'The reconciliation is still running; refresh in a moment.');
      await loadReconciliation();
      if (run.status !== 'running') await showRun(run.id);
    } catch (err) {
      notify('err', explain(err));
    } finally {
      gateAll();
    }
  }

  // ---- Transfers -------------------------------------------------------------------------
  const STATUS_BADGE = { posted: 'good', failed: 'bad', voided: 'bad', in_doubt: 'warn', pending: 'info', executing: 'info' };
  const effect = (t) => (t.direction === 'add' ? t.amount : `-${t.amount}`);
  const statusBadge = (status) => h('span', { class: `badge ${STATUS_BADGE[status] || ''}` }, status.replace('_', ' '));
  const transferLink = (id, text) => h('a', { href: `#transfer/${id}`, class: 'ident', title: id }, text ?? `${id.slice(0, 8)}…`);

  /** What the provider's readings since the transfer say about it. */
  function evidenceHint(t, readings) {
    const latest = readings[readings.length - 1];
    if (!latest) return h('p', { class: 'hint' }, 'No provider reading of this sub-account since the transfer: run a reconciliation to get one.');
    const drift = milli(latest.drift);
    const applied = milli(effect(t));
    const verdict = drift === applied ? 'matches this transfer: it looks applied'
      : drift === 0n ? 'is zero: it looks not applied'
      : 'matches neither outcome on its own (other movements or usage may be mixed in)';
    return h('p', { class: 'hint' }, `Latest reading (${instant(latest.at)}): provider ${money(latest.observed)}, ledger posted ${money(latest.expected)}. The gap of ${money(latest.drift, { signed: true })} ${verdict}. If applied, the gap would be ${money(effect(t), { signed: true })}.`);
  }

  function resolveForm(t, after) {
    const reason = h('input', { type: 'text', name: 'reason', required: true, maxlength: 500, placeholder: 'e.g. provider support confirmed the credit (ticket 4411)' });
    const post = gate(h('button', { type: 'submit', class: 'primary', value: 'applied' }, 'Post (applied)'), 'operator');
    const voidIt = gate(h('button', { type: 'submit', class: 'danger', value: 'not_applied' }, 'Void (not applied)'), 'operator');
    if (!can('operator')) reason.disabled = true;
    const form = h('form', { class: 'action-row', 'aria-label': `Resolve transfer ${t.id}` }, h('label', { class: 'grow' }, 'Reason', reason), post, voidIt);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const outcome = e.submitter?.value;
      post.disabled = voidIt.disabled = true;
      try {
        const r = await api('POST', `/v1/transfers/${t.id}/resolve`, { outcome, reason: reason.value });
        notify('ok', `Transfer ${r.id} is now ${r.status}.`);
        await after();
      } catch (err) {
        notify('err', explain(err));
        gateAll();
        post.disabled = voidIt.disabled = !can('operator');
      }
    });
    return form;
  }

  function inDoubtCard(t, readings) {
    const p = t.provider;
    return h('article', { class: 'card doubt', 'data-transfer': t.id },
      h('div', { class: 'head' },
        h('div', {}, h('strong', {}, t.direction === 'add' ? 'Credit to ' : 'Debit from ', accountLabel(`sub:${t.subaccount}`)), h('div', {}, transferLink(t.id, t.id))),
        h('div', { class: 'amount' }, money(t.amount))),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Created'), h('dd', {}, when(t.createdAt))),
        h('div', {}, h('dt', {}, 'Attempts'), h('dd', {}, String(t.attempts))),
        h('div', {}, h('dt', {}, 'Reference'), h('dd', {}, t.reference || '—')),
        h('div', {}, h('dt', {}, 'Why in doubt'), h('dd', {}, reasonCell(t.failureReason) || '—')),
        h('div', {}, h('dt', {}, 'Provider HTTP code'), h('dd', {}, p?.code == null ? 'no answer' : String(p.code))),
        h('div', {}, h('dt', {}, 'Provider message'), h('dd', {}, p?.message ? reasonCell(p.message) : '—'))),
      t.evidence ? h('p', { class: 'hint' }, h('strong', {}, 'Evidence: '), t.evidence.summary) : evidenceHint(t, readings),
      readings.length ? h('details', {}, h('summary', {}, `Provider readings of this sub-account since the transfer (${readings.length})`),
        table([
          { label: 'When', cell: (o) => when(o.at) },
          { label: 'Source', cell: (o) => o.source },
          { label: 'Provider', num: true, cell: (o) => money(o.observed) },
          { label: 'Ledger posted', num: true, cell: (o) => money(o.expected) },
          { label: 'Gap', num: true, cell: (o) => money(o.drift, { signed: true }) },
        ], [...readings].reverse())) : null,
      resolveForm(t, loadTransfers));
  }

  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  function transferFilters() {
    const from = $('transfers-from').value;
    const to = $('transfers-to').value;
    return {
      status: $('transfers-status').value, subaccount: $('transfers-subaccount').value,
      from: from ? dayStart(from) : '', to: to ? dayEnd(to) : '', limit: $('transfers-limit').value,
      reference: UUID.test($('transfer-search').value.trim()) ? '' : $('transfer-search').value.trim(),
    };
  }

  async function loadTransfers() {
    const current = latest('transfers');
    if (!state.accounts.length) await loadShared();
    const filters = transferFilters();
    const cursor = resetPager('transfers', JSON.stringify(filters));
    const [inDoubt, page] = await Promise.all([
      listAll('/v1/transfers?status=in_doubt'),
      api('GET', `/v1/transfers?${query({ ...filters, cursor })}`),
    ]);
    if (!current()) return;
    const cards = await Promise.all(inDoubt.slice(0, 20).map(async (t) => {
      const from = new Date(Date.parse(t.createdAt) - 1000).toISOString();
      const hist = await api('GET', `/v1/accounts/${encodeURIComponent(`sub:${t.subaccount}`)}/history?from=${from}`);
      return inDoubtCard(t, hist.observations);
    }));
    fill($('in-doubt'), roleNote('operator'), cards.length ? cards : h('div', { class: 'card' }, h('span', { class: 'badge good' }, 'None'), ' No transfer is waiting for a decision.'),
      inDoubt.length > cards.length ? h('p', { class: 'muted' }, `${inDoubt.length - cards.length} more in doubt: filter the list below by status "In doubt".`) : null);
    fill($('transfers'), table([
      { label: 'Transfer', cell: (t) => transferLink(t.id) },
      { label: 'Created', cell: (t) => when(t.createdAt) },
      { label: 'Sub-account', cell: (t) => h('span', { class: 'ident' }, t.subaccount) },
      { label: 'Direction', cell: (t) => (t.direction === 'add' ? 'credit' : 'debit') },
      { label: 'Amount', num: true, cell: (t) => money(t.amount) },
      { label: 'Status', cell: (t) => statusBadge(t.status) },
      { label: 'Reference', wrap: true, cell: (t) => t.reference || '' },
      { label: 'Failure reason', wrap: true, cell: (t) => reasonCell(t.failureReason) },
      { label: 'Resolution', wrap: true, cell: (t) => (t.resolution ? `${t.resolution.outcome.replace('_', ' ')} by ${t.resolution.by}: ${t.resolution.reason}` : '') },
    ], page.data, { empty: 'No transfer matches these filters.', rowAttrs: (t) => ({ 'data-transfer-row': t.id }) }));
    renderPager('transfers', page.nextCursor, loadTransfers, page.data.length);
  }

  // The idempotency key of the next "new transfer": made in the browser, kept until a success,
  // so a retry after an error or a second click replays the same transfer instead of a second one.
  function newIdempotencyKey() {
    $('nt-key').textContent = `dashboard-${crypto.randomUUID()}`;
  }
  async function submitNewTransfer() {
    const key = $('nt-key').textContent;
    const body = { subaccount: $('nt-subaccount').value, direction: $('nt-direction').value, amount: $('nt-amount').value.trim() };
    const reference = $('nt-reference').value.trim();
    if (reference) body.reference = reference;
    const fields = $('new-transfer-fields');
    fields.disabled = true;
    try {
      const t = await api('POST', '/v1/transfers', body, { 'idempotency-key': key });
      fill($('nt-result'), h('span', { class: 'badge good' }, 'Recorded'), ` ${t.direction === 'add' ? 'Credit' : 'Debit'} of ${money(t.amount)} for ${t.subaccount}: `, transferLink(t.id, t.id), ` (${t.status}).`);
      notify('ok', `Transfer ${t.id} recorded (${t.status}).`);
      $('new-transfer').reset();
      newIdempotencyKey();
      await loadTransfers();
    } catch (err) {
      fill($('nt-result'), h('span', { class: 'badge bad' }, 'Not recorded'), ` ${explain(err)}`, err instanceof ApiError ? '' : ' Sending again uses the same idempotency key: it cannot record it twice.');
    } finally {
      fields.disabled = false;
      gateAll();
    }
  }

  // ---- One transfer: postings, provider answer, journal, evidence -------------------------
  function facts(pairs) {
    return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v ?? '—'))));
  }
  function evidenceView(ev) {
    if (!ev) return h('p', { class: 'empty', id: 'evidence-none' }, 'No evidence yet: evidence is gathered for transfers in doubt (provider readings that decide whether it was applied).');
    const outcome = ev.outcome === 'applied' ? 'applied' : ev.outcome === 'not_applied' ? 'not applied' : 'undecided';
    return h('div', { id: 'evidence' },
      h('p', {}, h('span', { class: `badge ${ev.status === 'decided' ? 'good' : 'warn'}` }, ev.status), ' ', h('strong', {}, `Outcome: ${outcome}`), ' · evaluated ', when(ev.evaluatedAt)),
      h('p', { class: 'hint' }, ev.summary),
      ev.appliedWithin ? h('p', { id: 'evidence-pinned' }, h('strong', {}, 'Applied between: '), when(ev.appliedWithin.from), ' and ', when(ev.appliedWithin.to), h('span', { class: 'muted' }, ' (the readings that pin it; later evaluations and usage accounting use it)')) : null,
      ev.suggestion ? h('p', {}, h('strong', {}, 'Suggestion: '), ev.suggestion) : null,
      h('h3', {}, 'Hypotheses'),
      h('ul', { class: 'hypotheses' }, (ev.hypotheses || []).map((hy) => h('li', { class: hy.refuted ? 'refuted' : 'open' },
        h('strong', {}, hy.outcome === 'applied' ? 'Applied' : 'Not applied'), hy.refuted ? ' — refuted: ' : ' — still possible: ', hy.why,
        hy.needs ? h('span', { class: 'muted' }, ` (would need: ${Array.isArray(hy.needs) ? hy.needs.join(', ') : hy.needs})`) : null))),
      h('h3', {}, 'Provider readings'),
      h('div', { class: 'table-wrap' }, table([
        { label: 'When', cell: (r) => when(r.at) },
        { label: 'Source', cell: (r) => r.source },
        { label: 'Sub-account balance', num: true, cell: (r) => money(r.subaccountBalance) },
        { label: 'Main balance', num: true, cell: (r) => money(r.mainBalance) },
      ], ev.readings || [], { empty: 'No reading.' })),
      ev.assumptions?.length ? [h('h3', {}, 'Assumptions'), h('ul', {}, ev.assumptions.map((a) => h('li', {}, a)))] : null);
  }
  async function loadTransfer(id) {
    if (!state.accounts.length) await loadShared();
    const t = await api('GET', `/v1/transfers/${encodeURIComponent(id)}`);
    const [journal, ledger] = await Promise.all([
      listAll(`/v1/journal?${query({ entityType: 'transfer', entity: t.id })}`),
      listAll(`/v1/journal?${query({ entityType: 'ledger_transaction', entity: t.ledgerTransactionId })}`),
    ]);
    $('transfer-title').textContent = `${t.direction === 'add' ? 'Credit' : 'Debit'} of ${money(t.amount)} ${t.direction === 'add' ? 'to' : 'from'} ${accountLabel(`sub:${t.subaccount}`)}`;
    const p = t.provider;
    const postings = ledger.flatMap((e) => (e.data?.postings || []).map((line) => ({ e, line })));
    fill($('transfer-detail'),
      h('div', { class: 'card', id: 'transfer-facts' },
        h('p', {}, statusBadge(t.status), ' ', h('span', { class: 'ident' }, t.id)),
        facts([
          ['Sub-account', h('span', { class: 'ident' }, t.subaccount)],
          ['Direction', t.direction === 'add' ? 'credit (main → sub-account)' : 'debit (sub-account → main)'],
          ['Amount', money(t.amount)],
          ['Reference', t.reference || '—'],
          ['Created', when(t.createdAt)],
          ['Last change', when(t.updatedAt)],
          ['Expires if not executed', when(t.expiresAt)],
          ['Attempts', String(t.attempts)],
          ['Ledger transaction', h('span', { class: 'ident' }, t.ledgerTransactionId)],
          t.metadata ? ['Metadata', h('code', {}, JSON.stringify(t.metadata))] : null,
        ]),
        t.failureReason ? h('div', { class: 'reason-box' }, h('strong', {}, 'Failure reason: '), plainReason(t.failureReason),
          h('details', {}, h('summary', {}, 'Raw text'), h('code', { class: 'raw' }, t.failureReason))) : null,
        t.resolution ? h('p', {}, h('strong', {}, 'Resolution: '), `${t.resolution.outcome.replace('_', ' ')} by ${t.resolution.by} at `, when(t.resolution.at), `: ${t.resolution.reason ?? ''}`) : null,
        t.status === 'in_doubt' ? [roleNote('operator'), resolveForm(t, () => loadTransfer(t.id))] : null),
      h('h2', {}, "Provider's answer"),
      h('div', { class: 'card', id: 'transfer-provider' }, p ? facts([
        ['HTTP code', p.code == null ? 'no answer' : String(p.code)],
        ['Message', p.message ? reasonCell(p.message) : '—'],
        ['Main account credit after', p.credit ? money(p.credit) : '—'],
        ['Sub-account credit after', p.subaccountCredit ? money(p.subaccountCredit) : '—'],
        ['Answered', when(p.at)],
      ]) : h('p', { class: 'empty' }, 'No answer from the provider yet.')),
      h('h2', {}, 'Evidence'),
      h('div', { class: 'card', id: 'transfer-evidence' }, evidenceView(t.evidence)),
      h('h2', {}, 'Ledger postings'),
      h('div', { class: 'table-wrap', id: 'transfer-postings' }, table([
        { label: 'When', cell: (r) => when(r.e.recordedAt) },
        { label: 'Step', cell: (r) => r.e.action.replace('ledger_transaction.', '') },
        { label: 'Account', cell: (r) => accountLabel(r.line.account) },
        { label: 'Debit', num: true, cell: (r) => (milli(r.line.amount) > 0n ? money(r.line.amount) : '') },
        { label: 'Credit', num: true, cell: (r) => (milli(r.line.amount) < 0n ? money(r.line.amount.slice(1)) : '') },
      ], postings, { empty: 'No posting recorded.', caption: ledger.filter((e) => !e.data?.postings).map((e) => `${e.action.replace('ledger_transaction.', '')} at ${instant(e.recordedAt)}`).join(' · ') || null })),
      h('h2', {}, 'Journal'),
      h('div', { class: 'table-wrap', id: 'transfer-journal' }, table([
        { label: '#', num: true, cell: (e) => String(e.sequence) },
        { label: 'When', cell: (e) => when(e.recordedAt) },
        { label: 'Action', cell: (e) => e.action },
        { label: 'Actor', cell: (e) => e.actor },
        { label: 'Reason', wrap: true, cell: (e) => (e.reason ? reasonCell(e.reason) : '') },
      ], [...journal, ...ledger].sort((a, b) => a.sequence - b.sequence), { empty: 'No journal entry.' })));
  }

  // ---- Top-ups (the routes may not exist on this server yet) -------------------------------
  /** "2027-01-01 05:00:00 UTC" plus the policy's own wall clock: "06:00:00 CET (Europe/Paris)". */
  function nextRun(iso, timeZone) {
    if (!iso) return 'not scheduled';
    return h('span', {}, when(iso), h('span', { class: 'muted' }, ` · ${instant(iso, timeZone).slice(11)} (${timeZone})`));
  }
  async function loadTopups() {
    let policies;
    try {
      policies = await listAll('/v1/topup-policies');
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        fill($('topups'), h('div', { class: 'card' }, h('span', { class: 'badge' }, 'Not available'), ' Top-ups are not available on this server.'));
        return;
      }
      throw err;
    }
    if (!policies.length) {
      fill($('topups'), h('p', { class: 'empty' }, 'No top-up policy yet.'));
      return;
    }
    const details = await Promise.all(policies.map(async (p) => {
      const [preview, runs] = await Promise.all([
        // Target mode reads the provider: a provider outage must not hide the policy.
        api('GET', `/v1/topup-policies/${p.id}/preview`).catch(() => null),
        api('GET', `/v1/topup-runs?${query({ policy: p.id, limit: 5, cursor: resetPager(`topup-runs-${p.id}`, '') })}`),
      ]);
      return { p, preview, runs: runs.data, nextCursor: runs.nextCursor };
    }));
    fill($('topups'), details.map(({ p, preview, runs }) => h('article', { class: 'card finding' },
      h('div', { class: 'head' },
        h('div', {}, h('strong', {}, accountLabel(`sub:${p.subaccount}`)), ' ', h('span', { class: `badge ${p.enabled ? 'good' : ''}` }, p.enabled ? 'enabled' : 'disabled')),
        h('div', { class: 'ident' }, `${p.schedule} (${p.timezone})`)),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Mode'), h('dd', {}, p.mode === 'target' ? `top up to ${money(p.target)}` : `add ${money(p.amount)}`)),
        h('div', {}, h('dt', {}, 'Cap'), h('dd', {}, p.cap ? money(p.cap) : '—')),
        h('div', { class: 'wide' }, h('dt', {}, 'Next run'), h('dd', {}, nextRun(p.nextRunAt, p.timezone))),
        h('div', {}, h('dt', {}, 'A run now would transfer'), h('dd', {}, preview ? (preview.amount ? money(preview.amount) : 'nothing') : 'preview unavailable'))),
      preview?.explanation ? h('p', { class: 'hint' }, preview.explanation) : null,
      h('h3', { class: 'small-text muted' }, 'Last runs'),
      h('div', { class: 'table-wrap' }, table([
        { label: 'Period', cell: (r) => r.period },
        { label: 'Scheduled for', cell: (r) => when(r.scheduledFor) },
        { label: 'Decision', cell: (r) => h('span', { class: `badge ${({ decided: 'good', failed: 'bad', missed: 'warn' })[r.status] || ''}` }, r.status) },
        { label: 'Amount', num: true, cell: (r) => money(r.amount) },
        { label: 'Transfer', cell: (r) => (r.transfer ? h('span', {}, statusBadge(r.transfer.status), ' ', transferLink(r.transfer.id)) : '—') },
        { label: 'Why', wrap: true, cell: (r) => r.explanation },
      ], runs, { empty: 'No run yet.' })),
      h('div', { class: 'pager', id: `topup-runs-${p.id}-pager` }))));
    for (const { p, runs, nextCursor } of details) renderPager(`topup-runs-${p.id}`, nextCursor, loadTopups, runs.length);
  }

  // ---- Usage report ----------------------------------------------------------------------
  const USAGE_COLUMNS = [
    ['opening', 'Opening'], ['topUps', 'Top-ups'], ['removals', 'Removals'], ['usage', 'Usage'], ['adjustments', 'Adjustments'],
    ['closing', 'Closing (ledger)'], ['providerClosing', 'Closing (provider)'],
  ];
  function usageMonth() {
    if (!$('usage-month').value) $('usage-month').value = new Date().toISOString().slice(0, 7);
    return $('usage-month').value;
  }
  async function loadUsage() {
    const month = usageMonth();
    let report;
    try {
      report = await api('GET', `/v1/reports/usage?${query({ month, format: 'json' })}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && err.code !== 'account_not_found') {
        fill($('usage'), h('div', { class: 'card', id: 'usage-unavailable' }, h('span', { class: 'badge' }, 'Not available'), ' The usage report is not available on this server (GET /v1/reports/usage answered 404).'));
        $('usage-csv').disabled = true;
        return;
      }
      throw err;
    }
    $('usage-csv').disabled = false;
    const cols = [
      { label: 'Sub-account', cell: (r) => (r.subaccount ? accountLabel(`sub:${r.subaccount}`) : r.account) },
      ...USAGE_COLUMNS.map(([k, label]) => ({ label, num: true, cell: (r) => money(r[k]) })),
      { label: 'Difference', num: true, cell: (r) => (r.difference == null ? '—' : driftAmount(r.difference)) },
    ];
    const totalsRow = report.totals ? { account: 'Total', subaccount: null, ...report.totals } : null;
    fill($('usage'),
      h('p', { class: 'muted' }, `${report.month} in ${report.timeZone}: from ${instant(report.from, report.timeZone)} to ${instant(report.to, report.timeZone)}. Difference = provider closing − ledger closing.`),
      h('div', { class: 'table-wrap' }, table(cols, totalsRow ? [...report.rows, totalsRow] : report.rows, { empty: 'No sub-account activity this month.', rowAttrs: (r) => (r === totalsRow ? { class: 'total' } : {}) })));
  }

  // ---- Journal ---------------------------------------------------------------------------
  async function loadJournal() {
    const current = latest('journal');
    const from = $('jl-from').value;
    const to = $('jl-to').value;
    const filters = { from: from ? dayStart(from) : '', to: to ? dayEnd(to) : '' };
    const cursor = resetPager('journal', JSON.stringify(filters));
    const page = await api('GET', `/v1/journal?${query({ ...filters, limit: 50, cursor })}`);
    if (!current()) return;
    fill($('journal'), table([
      { label: '#', num: true, cell: (e) => String(e.sequence) },
      { label: 'When', cell: (e) => when(e.recordedAt) },
      { label: 'Action', cell: (e) => e.action },
      { label: 'Entity', cell: (e) => (e.entityType === 'transfer' ? transferLink(e.entityId) : h('span', { class: 'ident', title: e.entityId }, `${e.entityType} ${e.entityId.slice(0, 8)}…`)) },
      { label: 'Actor', cell: (e) => e.actor },
      { label: 'Reason', wrap: true, cell: (e) => (e.reason ? reasonCell(e.reason) : '') },
    ], page.data, { empty: 'No journal entry in this period.' }));
    renderPager('journal', page.nextCursor, loadJournal, page.data.length);
  }

  // ---- Exports ---------------------------------------------------------------------------
  async function loadReports() {
    if (!state.accounts.length) await loadShared();
    const runs = await api('GET', '/v1/reconciliations?limit=50');
    const selected = $('report-run').value;
    fill($('report-run'), runs.data.length
      ? runs.data.map((r) => h('option', { value: r.id, selected: r.id === selected }, `${instant(r.startedAt)} — ${r.status}, ${r.summary.drifted} drifted`))
      : h('option', { value: '' }, 'No reconciliation yet'));
    accountOptions($('statement-account'), $('statement-account').value || 'main');
    const today = isoDay(new Date());
    const monthStart = `${today.slice(0, 8)}01`;
    for (const id of ['statement-from', 'journal-from']) if (!$(id).value) $(id).value = monthStart;
    for (const id of ['statement-to', 'journal-to']) if (!$(id).value) $(id).value = today;
  }

  // ---- wiring ----------------------------------------------------------------------------
  const LOADERS = {
    overview: loadOverview, transfers: loadTransfers, transfer: loadTransfer, history: loadHistory, reconciliation: loadReconciliation,
    topups: loadTopups, usage: loadUsage, journal: loadJournal, reports: loadReports,
  };
  const onSubmit = (id, fn) => $(id).addEventListener('submit', async (e) => {
    e.preventDefault();
    try { await fn(); } catch (err) { notify('err', explain(err)); }
  });
  const reloadOnChange = (id, fn) => $(id).addEventListener('change', () => fn().catch((err) => notify('err', explain(err))));

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      $('login-error').textContent = '';
      try {
        await signIn($('token').value.trim());
      } catch (err) {
        $('login-error').textContent = err instanceof ApiError && err.status === 401 ? 'That token was not accepted.' : explain(err);
      }
    });
    $('sign-out').addEventListener('click', () => signOut());
    $('refresh').addEventListener('click', () => { fill($('status')); route(); });
    $('auto-refresh').checked = sessionStorage.getItem(AUTO_KEY) !== 'off';
    $('auto-refresh').addEventListener('change', () => {
      sessionStorage.setItem(AUTO_KEY, $('auto-refresh').checked ? 'on' : 'off');
      if (state.lastOk) markFresh(state.lastOk);
    });
    setInterval(autoRefreshTick, REFRESH_MS);
    $('run-reconciliation').addEventListener('click', runReconciliation);
    reloadOnChange('history-account', loadHistory);
    reloadOnChange('history-days', loadHistory);
    $('history-form').addEventListener('submit', (e) => e.preventDefault());
    for (const id of ['transfers-status', 'transfers-subaccount', 'transfers-from', 'transfers-to', 'transfers-limit']) reloadOnChange(id, loadTransfers);
    onSubmit('transfers-form', async () => {
      // A transfer id opens that transfer; any other text searches the references.
      const id = $('transfer-search').value.trim();
      if (UUID.test(id)) {
        $('transfer-search').value = '';
        location.hash = `#transfer/${id.toLowerCase()}`;
        return;
      }
      await loadTransfers();
    });
    onSubmit('new-transfer', submitNewTransfer);
    reloadOnChange('drifts-account', loadReconciliation);
    reloadOnChange('runs-status', loadReconciliation);
    $('drifts-form').addEventListener('submit', (e) => e.preventDefault());
    $('runs-form').addEventListener('submit', (e) => e.preventDefault());
    onSubmit('usage-form', loadUsage);
    onSubmit('journal-filter', loadJournal);
    $('usage-csv').addEventListener('click', () => download(`/v1/reports/usage?${query({ month: usageMonth(), format: 'csv' })}`, `usage-${usageMonth()}.csv`).catch((e) => notify('err', explain(e))));
    onSubmit('report-form', () => download(`/v1/reconciliations/${$('report-run').value}/report?format=csv`, 'reconciliation.csv'));
    onSubmit('statement-form', () => {
      const code = $('statement-account').value;
      return download(`/v1/accounts/${encodeURIComponent(code)}/statement?format=csv&from=${dayStart($('statement-from').value)}&to=${dayEnd($('statement-to').value)}`, `statement-${code.replace(':', '-')}.csv`);
    });
    onSubmit('journal-form', () => download(`/v1/journal?format=csv&from=${dayStart($('journal-from').value)}&to=${dayEnd($('journal-to').value)}`, 'journal.csv'));
    window.addEventListener('hashchange', () => { fill($('status')); route(); });

    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) signIn(token).catch(() => signOut('Your saved token was not accepted: sign in again.'));
    else signOut();
  });
})();
