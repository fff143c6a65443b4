// Credit Ledger dashboard: a static page over the /v1 JSON API with the user's bearer token.
// Everything is built with DOM calls (never innerHTML with data): the token sits in
// sessionStorage and must not be reachable by markup that came from the server.
'use strict';

(() => {
  const TOKEN_KEY = 'credit-ledger.token';
  const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 };
  const PAGES = ['overview', 'history', 'reconciliation', 'transfers', 'topups', 'reports'];
  const $ = (id) => document.getElementById(id);

  const state = { me: null, subaccounts: [], accounts: [], charts: {} };

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

  /** A table: columns [{ label, num?, cell(row) → string|Node }]. */
  function table(columns, rows, { caption, empty = 'Nothing to show.', rowAttrs } = {}) {
    if (!rows.length) return h('p', { class: 'empty' }, empty);
    return h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {}, columns.map((c) => h('td', { class: [c.num ? 'num' : '', c.wrap ? 'wrap' : ''].join(' ').trim() || null }, c.cell(r)))))));
  }

  function notify(kind, text) {
    fill($('status'), h('p', { class: `note ${kind}` }, text));
    if (kind !== 'err') setTimeout(() => { if ($('status').textContent === text) fill($('status')); }, 8000);
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
  function moneyCell(s, opts) {
    const v = s === null || s === undefined ? null : milli(s);
    return h('span', { class: opts?.colour && v !== null ? (v < 0n ? 'neg' : v > 0n ? 'pos' : null) : null }, money(s, opts));
  }
  const sum = (values) => fromMilli(values.reduce((a, v) => a + milli(v), 0n));

  // ---- time ------------------------------------------------------------------------------
  const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  function when(iso) {
    if (!iso) return '—';
    return h('time', { datetime: iso, title: iso }, dateFmt.format(new Date(iso)));
  }
  function age(iso) {
    if (!iso) return 'never';
    const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  }
  /** yyyy-mm-dd (an <input type=date> value) → the start or end of that UTC day. */
  const dayStart = (d) => `${d}T00:00:00.000Z`;
  const dayEnd = (d) => `${d}T23:59:59.999Z`;
  const isoDay = (date) => date.toISOString().slice(0, 10);

  // ---- API -------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  async function api(method, path, body) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const res = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
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
  /** Every page of a list route (bounded: a dashboard shows the recent past, not everything). */
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

  // ---- sign-in and routing ---------------------------------------------------------------
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
    gateAll();
    await loadShared();
    route();
  }
  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.me = null;
    // Nothing the previous token could read stays on the page for the next one.
    for (const id of ['summary-cards', 'subaccounts', 'accounts', 'observations', 'open-drifts', 'runs', 'run-detail', 'resolved-drifts', 'in-doubt', 'transfers', 'topups', 'status']) fill($(id));
    for (const c of Object.values(state.charts)) c.destroy();
    state.charts = {};
    $('who').hidden = true;
    $('nav').hidden = true;
    showPage('login');
    $('login-error').textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }
  function showPage(name) {
    for (const p of ['login', ...PAGES]) $(`page-${p}`).hidden = p !== name;
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }
  async function route() {
    if (!state.me) return signOut();
    const page = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'overview';
    showPage(page);
    document.title = `${document.querySelector(`nav a[data-page="${page}"]`).textContent} — Credit Ledger`;
    try {
      await LOADERS[page]();
    } catch (err) {
      notify('err', explain(err));
    }
  }
  /** Sub-accounts and ledger accounts: several pages need them (pickers, tables). */
  async function loadShared() {
    const [subs, accounts] = await Promise.all([listAll('/v1/subaccounts'), api('GET', '/v1/accounts')]);
    state.subaccounts = subs;
    state.accounts = accounts.data;
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

  // ---- Overview --------------------------------------------------------------------------
  function driftBadge(drift) {
    if (drift === null || drift === undefined) return h('span', { class: 'badge' }, 'not observed');
    const v = milli(drift);
    if (v === 0n) return h('span', { class: 'badge good' }, 'matched');
    return h('span', { class: 'badge bad', title: v < 0n ? 'The provider shows less than the ledger: usage likely' : 'The provider shows more: purchase or refund likely' }, money(drift, { signed: true }));
  }
  function metric(label, value, sub, alert) {
    return h('div', { class: `card metric${alert ? ' alert' : ''}` }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
  }
  async function loadOverview() {
    await loadShared();
    const [drifts, inDoubt, runs, mainHistory] = await Promise.all([
      listAll('/v1/drifts?status=open'),
      listAll('/v1/transfers?status=in_doubt'),
      api('GET', '/v1/reconciliations?limit=1'),
      api('GET', '/v1/accounts/main/history'),
    ]);
    const main = state.accounts.find((a) => a.code === 'main');
    const mainObs = mainHistory.observations[mainHistory.observations.length - 1];
    const lastRun = runs.data[0];
    fill($('summary-cards'),
      metric('Main account (ledger)', money(main?.balance.posted), `available ${money(main?.balance.available)}`),
      metric('Main account (provider)', mainObs ? money(mainObs.observed) : '—', mainObs ? `observed ${age(mainObs.at)}` : 'no reading in 30 days'),
      metric('Sub-accounts (ledger)', money(sum(state.subaccounts.map((s) => s.balance.posted))), `${state.subaccounts.length} sub-accounts`),
      metric('Open drift findings', String(drifts.length), drifts.length ? `total ${money(sum(drifts.map((d) => d.drift)), { signed: true })}` : 'ledger matches the provider', drifts.length > 0),
      metric('In-doubt transfers', String(inDoubt.length), inDoubt.length ? 'need a decision' : 'none', inDoubt.length > 0),
      metric('Last reconciliation', lastRun ? lastRun.status : 'never', lastRun ? `${age(lastRun.startedAt)} · ${lastRun.summary.drifted} drifted` : 'run one from Reconciliation', lastRun?.status === 'failed'),
    );
    fill($('subaccounts'), table([
      { label: 'Sub-account', cell: (s) => h('div', {}, h('div', {}, s.title || s.email), h('div', { class: 'ident' }, s.token)) },
      { label: 'Posted', num: true, cell: (s) => money(s.balance.posted) },
      { label: 'Pending', num: true, cell: (s) => money(s.balance.pending) },
      { label: 'Available', num: true, cell: (s) => money(s.balance.available) },
      { label: 'Provider balance', num: true, cell: (s) => (s.observed ? money(s.observed.balance) : '—') },
      { label: 'Observed', cell: (s) => (s.observed ? h('span', { title: `${s.observed.at} (${s.observed.source})` }, age(s.observed.at)) : 'never') },
      { label: 'Drift', num: true, cell: (s) => driftBadge(s.observed ? s.observed.drift : null) },
      { label: 'History', cell: (s) => h('a', { href: '#history', onclick: () => { state.historyAccount = `sub:${s.token}`; } }, 'Chart', h('span', { class: 'sr-only' }, ` for ${s.token}`)) },
    ], state.subaccounts, { empty: 'No sub-accounts yet: import them (POST /v1/subaccounts/import or credit-ledger import).', caption: 'Amounts in EUR credit. Drift = provider balance − ledger posted balance at that reading.' }));
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
    if (span <= 3600e3) return new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    if (span <= 2 * 86400e3) return new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
    return new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
  }
  // Bar charts offset their axis by half a bar by default: off, so both charts share one time scale.
  const timeAxis = (from, to) => {
    const fmt = tickFormat(to - from);
    return { type: 'linear', min: from, max: to, offset: false, ticks: { maxTicksLimit: 8, callback: (v) => fmt.format(new Date(v)) }, grid: { color: '#eef0f3' } };
  };
  // The same width for both charts' y axes keeps their time axes aligned.
  const valueAxis = (title) => ({ title: { display: true, text: title }, grid: { color: '#eef0f3' }, afterFit: (scale) => { scale.width = 80; } });
  const tooltipTitle = (items) => (items.length ? dateFmt.format(new Date(items[0].parsed.x)) : '');

  async function loadHistory() {
    if (!state.accounts.length) await loadShared();
    const select = $('history-account');
    const wanted = state.historyAccount || select.value || state.accounts.find((a) => a.code.startsWith('sub:'))?.code || 'main';
    accountOptions(select, wanted);
    state.historyAccount = null;
    const days = Number($('history-days').value);
    const to = new Date();
    const from = new Date(to.getTime() - days * 86400e3);
    const hist = await api('GET', `/v1/accounts/${encodeURIComponent(select.value)}/history?from=${from.toISOString()}&to=${to.toISOString()}`);
    // Zoom on the activity: a month-wide axis with every point in its last hour shows nothing.
    const times = [...hist.ledger.slice(1, -1), ...hist.observations].map((p) => Date.parse(p.at));
    const first = times.length ? Math.min(...times) : from.getTime();
    const x = { from: Math.max(from.getTime(), first - Math.max((to.getTime() - first) * 0.05, 60_000)), to: to.getTime() };
    chart('balance-chart', {
      type: 'line',
      data: {
        datasets: [
          { label: 'Ledger posted balance', data: hist.ledger.map((p) => ({ x: Date.parse(p.at), y: num(p.posted) })), stepped: 'before', borderColor: '#2354c6', backgroundColor: '#2354c6', pointRadius: 0, borderWidth: 2 },
          { label: 'Provider balance (observed)', data: hist.observations.map((o) => ({ x: Date.parse(o.at), y: num(o.observed) })), showLine: false, borderColor: '#d97706', backgroundColor: '#f59e0b', pointRadius: 5, pointHoverRadius: 7, pointStyle: 'rectRot' },
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
          backgroundColor: hist.observations.map((o) => (milli(o.drift) < 0n ? '#dc2626' : milli(o.drift) > 0n ? '#16a34a' : '#94a3b8')),
          barThickness: 6, minBarLength: 2,
        }],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: timeAxis(x.from, x.to), y: valueAxis('Drift, EUR') },
        plugins: { legend: { display: false }, tooltip: { callbacks: { title: tooltipTitle, label: (c) => `drift ${money(hist.observations[c.dataIndex].drift, { signed: true })}` } } },
      },
    });
    const rows = [...hist.observations].reverse();
    fill($('observations'), table([
      { label: 'When', cell: (o) => when(o.at) },
      { label: 'Source', cell: (o) => ({ me: 'reconciliation (account)', list: 'reconciliation (list)', transfer: 'transfer answer' })[o.source] || o.source },
      { label: 'Provider', num: true, cell: (o) => money(o.observed) },
      { label: 'Ledger at that point', num: true, cell: (o) => money(o.expected) },
      { label: 'Drift', num: true, cell: (o) => driftBadge(o.drift) },
      { label: 'Settled', cell: (o) => (o.settled ? 'yes' : h('span', { title: 'A transfer was in flight: a gap may be timing' }, 'in flight')) },
    ], rows, { empty: 'No provider reading in this period.', caption: hist.truncated ? 'Only the most recent points of the period are shown.' : `${rows.length} readings, newest first.` }));
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
        h('div', {}, h('strong', {}, accountLabel(f.account)), ' ', h('span', { class: 'badge warn' }, f.suggestion === 'usage_likely' ? 'usage likely' : 'purchase or refund likely')),
        h('div', { class: 'amount' }, moneyCell(f.drift, { signed: true, colour: true }))),
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
      h('h2', {}, `Run of ${dateFmt.format(new Date(run.startedAt))}`, ' ', h('span', { class: `badge ${RUN_BADGE[run.status] || ''}` }, run.status)),
      run.error ? h('p', { class: 'error' }, run.error) : null,
      h('div', { class: 'table-wrap' }, table([
        { label: 'Account', cell: (i) => accountLabel(i.account) },
        { label: 'Ledger expected', num: true, cell: (i) => money(i.expected) },
        { label: 'Provider', num: true, cell: (i) => money(i.observed) },
        { label: 'Drift', num: true, cell: (i) => moneyCell(i.drift, { signed: true, colour: true }) },
        { label: 'Status', cell: (i) => h('span', { class: `badge ${ITEM_BADGE[i.status] || ''}` }, i.status.replace(/_/g, ' ')) },
        { label: 'Explanation', wrap: true, cell: (i) => i.explanation || '' },
      ], run.items, { empty: 'No items (the run failed before reading the provider).' }))));
  }

  async function loadReconciliation() {
    if (!state.accounts.length) await loadShared();
    const [open, runs, resolved] = await Promise.all([
      listAll('/v1/drifts?status=open'),
      api('GET', '/v1/reconciliations?limit=15'),
      api('GET', '/v1/drifts?status=resolved&limit=10'),
    ]);
    fill($('open-drifts'),
      roleNote('operator'),
      open.length ? open.map(findingCard) : h('div', { class: 'card' }, h('span', { class: 'badge good' }, 'All clear'), ' No open drift: the ledger matched the provider at the last run.'));
    fill($('runs'), table([
      { label: 'Started', cell: (r) => when(r.startedAt) },
      { label: 'Trigger', cell: (r) => h('span', { title: r.actor }, r.trigger === 'manual' ? `manual (${r.actor.replace(/^token:/, '').replace(/\/\w+$/, '')})` : r.trigger) },
      { label: 'Status', cell: (r) => h('span', { class: `badge ${RUN_BADGE[r.status] || ''}`, title: r.error || null }, r.status) },
      { label: 'Accounts', num: true, cell: (r) => String(r.summary.accounts) },
      { label: 'Matched', num: true, cell: (r) => String(r.summary.matched) },
      { label: 'Drifted', num: true, cell: (r) => (r.summary.drifted ? h('strong', { class: 'neg' }, String(r.summary.drifted)) : '0') },
      { label: 'Unsettled', num: true, cell: (r) => String(r.summary.unsettled) },
      { label: 'In doubt resolved', num: true, cell: (r) => String(r.summary.resolvedInDoubt) },
      { label: '', cell: (r) => h('span', {},
        h('button', { type: 'button', class: 'link', onclick: () => showRun(r.id).catch((e) => notify('err', explain(e))) }, 'Details'),
        r.status === 'running' ? null : h('button', { type: 'button', class: 'link', onclick: () => download(`/v1/reconciliations/${r.id}/report?format=csv`, `reconciliation-${r.id}.csv`).catch((e) => notify('err', explain(e))) }, 'CSV')) },
    ], runs.data, { empty: 'No reconciliation yet.' }));
    fill($('resolved-drifts'), table([
      { label: 'Account', cell: (f) => accountLabel(f.account) },
      { label: 'Drift', num: true, cell: (f) => moneyCell(f.drift, { signed: true, colour: true }) },
      { label: 'Booked as', cell: (f) => f.resolution?.as.replace('_', ' ') ?? '' },
      { label: 'By', cell: (f) => f.resolution?.by ?? '' },
      { label: 'Reason', wrap: true, cell: (f) => f.resolution?.reason ?? '' },
      { label: 'When', cell: (f) => when(f.resolution?.at) },
    ], resolved.data, { empty: 'None yet.' }));
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

  /** What the provider's readings since the transfer say about it. */
  function evidenceHint(t, readings) {
    const latest = readings[readings.length - 1];
    if (!latest) return h('p', { class: 'hint' }, 'No provider reading of this sub-account since the transfer: run a reconciliation to get one.');
    const drift = milli(latest.drift);
    const applied = milli(effect(t));
    const verdict = drift === applied ? 'matches this transfer: it looks applied'
      : drift === 0n ? 'is zero: it looks not applied'
      : 'matches neither outcome on its own (other movements or usage may be mixed in)';
    return h('p', { class: 'hint' }, `Latest reading (${age(latest.at)}): provider ${money(latest.observed)}, ledger posted ${money(latest.expected)}. The gap of ${money(latest.drift, { signed: true })} ${verdict}. If applied, the gap would be ${money(effect(t), { signed: true })}.`);
  }

  function inDoubtCard(t, readings) {
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
        await loadTransfers();
      } catch (err) {
        notify('err', explain(err));
        gateAll();
        post.disabled = voidIt.disabled = !can('operator');
      }
    });
    const p = t.provider;
    return h('article', { class: 'card doubt', 'data-transfer': t.id },
      h('div', { class: 'head' },
        h('div', {}, h('strong', {}, t.direction === 'add' ? 'Credit to ' : 'Debit from ', accountLabel(`sub:${t.subaccount}`)), h('div', { class: 'ident' }, t.id)),
        h('div', { class: 'amount' }, money(t.amount))),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Created'), h('dd', {}, when(t.createdAt))),
        h('div', {}, h('dt', {}, 'Attempts'), h('dd', {}, String(t.attempts))),
        h('div', {}, h('dt', {}, 'Reference'), h('dd', {}, t.reference || '—')),
        h('div', {}, h('dt', {}, 'Why in doubt'), h('dd', {}, t.failureReason || '—')),
        h('div', {}, h('dt', {}, 'Provider HTTP code'), h('dd', {}, p?.code == null ? 'no answer' : String(p.code))),
        h('div', {}, h('dt', {}, 'Provider message'), h('dd', {}, p?.message || '—')),
        h('div', {}, h('dt', {}, 'Provider main credit'), h('dd', {}, p?.credit ? money(p.credit) : '—')),
        h('div', {}, h('dt', {}, 'Provider sub-account credit'), h('dd', {}, p?.subaccountCredit ? money(p.subaccountCredit) : '—'))),
      evidenceHint(t, readings),
      readings.length ? h('details', {}, h('summary', {}, `Provider readings of this sub-account since the transfer (${readings.length})`),
        table([
          { label: 'When', cell: (o) => when(o.at) },
          { label: 'Source', cell: (o) => o.source },
          { label: 'Provider', num: true, cell: (o) => money(o.observed) },
          { label: 'Ledger posted', num: true, cell: (o) => money(o.expected) },
          { label: 'Gap', num: true, cell: (o) => money(o.drift, { signed: true }) },
        ], [...readings].reverse())) : null,
      form);
  }

  async function loadTransfers() {
    if (!state.accounts.length) await loadShared();
    const status = $('transfers-status').value;
    const [inDoubt, recent] = await Promise.all([
      listAll('/v1/transfers?status=in_doubt'),
      api('GET', `/v1/transfers?limit=50${status ? `&status=${status}` : ''}`),
    ]);
    const cards = await Promise.all(inDoubt.map(async (t) => {
      const from = new Date(Date.parse(t.createdAt) - 1000).toISOString();
      const hist = await api('GET', `/v1/accounts/${encodeURIComponent(`sub:${t.subaccount}`)}/history?from=${from}`);
      return inDoubtCard(t, hist.observations);
    }));
    fill($('in-doubt'), roleNote('operator'), cards.length ? cards : h('div', { class: 'card' }, h('span', { class: 'badge good' }, 'None'), ' No transfer is waiting for a decision.'));
    fill($('transfers'), table([
      { label: 'Created', cell: (t) => when(t.createdAt) },
      { label: 'Sub-account', cell: (t) => h('span', { class: 'ident' }, t.subaccount) },
      { label: 'Direction', cell: (t) => (t.direction === 'add' ? 'credit' : 'debit') },
      { label: 'Amount', num: true, cell: (t) => money(t.amount) },
      { label: 'Status', cell: (t) => h('span', { class: `badge ${STATUS_BADGE[t.status] || ''}` }, t.status.replace('_', ' ')) },
      { label: 'Reference', wrap: true, cell: (t) => t.reference || '' },
      { label: 'Resolution', wrap: true, cell: (t) => (t.resolution ? `${t.resolution.outcome.replace('_', ' ')} by ${t.resolution.by}: ${t.resolution.reason}` : '') },
      { label: 'Id', cell: (t) => h('span', { class: 'ident', title: t.id }, `${t.id.slice(0, 8)}…`) },
    ], recent.data, { empty: 'No transfer.', rowAttrs: (t) => ({ 'data-transfer-row': t.id }) }));
  }

  // ---- Top-ups (the routes may not exist on this server yet) -------------------------------
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
        api('GET', `/v1/topup-runs?policy=${encodeURIComponent(p.id)}&limit=5`).then((r) => r.data),
      ]);
      return { p, preview, runs };
    }));
    fill($('topups'), details.map(({ p, preview, runs }) => h('article', { class: 'card finding' },
      h('div', { class: 'head' },
        h('div', {}, h('strong', {}, accountLabel(`sub:${p.subaccount}`)), ' ', h('span', { class: `badge ${p.enabled ? 'good' : ''}` }, p.enabled ? 'enabled' : 'disabled')),
        h('div', { class: 'ident' }, `${p.schedule} (${p.timezone})`)),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Mode'), h('dd', {}, p.mode === 'target' ? `top up to ${money(p.target)}` : `add ${money(p.amount)}`)),
        h('div', {}, h('dt', {}, 'Cap'), h('dd', {}, p.cap ? money(p.cap) : '—')),
        h('div', {}, h('dt', {}, 'Next run'), h('dd', {}, p.nextRunAt ? when(p.nextRunAt) : 'not scheduled')),
        h('div', {}, h('dt', {}, 'A run now would transfer'), h('dd', {}, preview ? (preview.amount ? money(preview.amount) : 'nothing') : 'preview unavailable'))),
      preview?.explanation ? h('p', { class: 'hint' }, preview.explanation) : null,
      h('h3', { class: 'small-text muted' }, 'Last runs'),
      h('div', { class: 'table-wrap' }, table([
        { label: 'Period', cell: (r) => r.period },
        { label: 'Scheduled for', cell: (r) => when(r.scheduledFor) },
        { label: 'Decision', cell: (r) => h('span', { class: `badge ${({ decided: 'good', failed: 'bad', missed: 'warn' })[r.status] || ''}` }, r.status) },
        { label: 'Amount', num: true, cell: (r) => money(r.amount) },
        { label: 'Transfer', cell: (r) => (r.transfer ? h('span', {}, h('span', { class: `badge ${STATUS_BADGE[r.transfer.status] || ''}` }, r.transfer.status.replace('_', ' ')), ' ', h('span', { class: 'ident', title: r.transfer.id }, `${r.transfer.id.slice(0, 8)}…`)) : '—') },
        { label: 'Why', wrap: true, cell: (r) => r.explanation },
      ], runs, { empty: 'No run yet.' })))));
  }

  // ---- Reports ---------------------------------------------------------------------------
  async function loadReports() {
    if (!state.accounts.length) await loadShared();
    const runs = await api('GET', '/v1/reconciliations?limit=50');
    fill($('report-run'), runs.data.length
      ? runs.data.map((r) => h('option', { value: r.id }, `${dateFmt.format(new Date(r.startedAt))} — ${r.status}, ${r.summary.drifted} drifted`))
      : h('option', { value: '' }, 'No reconciliation yet'));
    accountOptions($('statement-account'), $('statement-account').value || 'main');
    const today = isoDay(new Date());
    const monthStart = `${today.slice(0, 8)}01`;
    for (const id of ['statement-from', 'journal-from']) if (!$(id).value) $(id).value = monthStart;
    for (const id of ['statement-to', 'journal-to']) if (!$(id).value) $(id).value = today;
  }

  // ---- wiring ----------------------------------------------------------------------------
  const LOADERS = { overview: loadOverview, history: loadHistory, reconciliation: loadReconciliation, transfers: loadTransfers, topups: loadTopups, reports: loadReports };
  const onSubmit = (id, fn) => $(id).addEventListener('submit', async (e) => {
    e.preventDefault();
    try { await fn(); } catch (err) { notify('err', explain(err)); }
  });

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
    $('run-reconciliation').addEventListener('click', runReconciliation);
    $('history-account').addEventListener('change', () => loadHistory().catch((err) => notify('err', explain(err))));
    $('history-days').addEventListener('change', () => loadHistory().catch((err) => notify('err', explain(err))));
    $('history-form').addEventListener('submit', (e) => e.preventDefault());
    $('transfers-status').addEventListener('change', () => loadTransfers().catch((err) => notify('err', explain(err))));
    $('transfers-form').addEventListener('submit', (e) => e.preventDefault());
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
