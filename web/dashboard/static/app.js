// tinypay dashboard: one module, no framework. It calls the node's
// HTTP/JSON API on this origin with the session cookie (the server adds
// the token) and, for actions, the session's CSRF token in X-CSRF-Token.
// Amounts are shown in the asset's units, times in the viewer's zone.

const $ = (id) => document.getElementById(id);
const state = {csrf: '', kind: '', info: null, channels: new Map(), streams: new Map()};
const when = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'medium'});
const FEED_MAX = 50;

function showError(msg) { $('message').textContent = msg; }

// api calls the HTTP/JSON API; it throws an Error with the API's message.
async function api(path, {method = 'GET', body} = {}) {
  const headers = {};
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = state.csrf;
    headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(path, {method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body)});
  if (r.status === 401) {
    location.assign('/signin');
    throw new Error('not signed in');
  }
  const data = await r.json().catch(() => ({message: r.statusText}));
  if (!r.ok) throw new Error(data.message || r.statusText);
  return data;
}

// formatAmount writes base units (a decimal string) in the asset's units.
export function formatAmount(base, asset) {
  const dec = Number(asset?.decimals ?? 0);
  let v = BigInt(base || '0');
  const neg = v < 0n;
  if (neg) v = -v;
  const s = v.toString().padStart(dec + 1, '0');
  let int = dec ? s.slice(0, -dec) : s, frac = dec ? s.slice(-dec).replace(/0+$/, '') : '';
  int = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${neg ? '-' : ''}${int}${frac ? '.' + frac : ''} ${asset?.symbol || ''}`.trim();
}

// parseAmount reads an amount in the asset's units into base units.
export function parseAmount(text, asset) {
  const dec = Number(asset?.decimals ?? 0);
  const t = String(text).trim().replaceAll(',', '');
  const m = /^(\d+)(?:\.(\d*))?$/.exec(t);
  if (!m) throw new Error(`"${text}" is not an amount (write e.g. 1.25)`);
  const frac = m[2] || '';
  if (frac.length > dec) throw new Error(`${asset.symbol} has ${dec} decimals: "${text}" has more`);
  const base = BigInt(m[1] + frac.padEnd(dec, '0'));
  if (base === 0n) throw new Error('the amount must be more than zero');
  return base.toString();
}

function fmtTime(unixNano) {
  const ms = Number(BigInt(unixNano || '0') / 1000000n);
  return ms ? when.format(new Date(ms)) : '';
}

function short(hex) { return hex && hex.length > 14 ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : (hex || ''); }

function cell(text, label, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (label) td.dataset.label = label;
  if (cls) td.className = cls;
  return td;
}

function fillTable(id, rows) {
  const body = $(id).querySelector('tbody');
  body.replaceChildren(...rows);
}

function assetKey(a) { return a?.address || a?.symbol || 'ETH'; }

// --- channels, shared by the pages: id -> channel (for its asset) ---

async function loadChannels() {
  const r = await api('/v1/channels?all=true&page_size=1000');
  state.channels = new Map(r.channels.map((c) => [c.id, c]));
  return r.channels;
}

async function assetOf(channelId) {
  if (!state.channels.has(channelId)) await loadChannels();
  return state.channels.get(channelId)?.asset;
}

// --- Now ---

function startOf(unit) {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  if (unit === 'week') d.setDate(d.getDate() - ((d.getDay() + 6) % 7)); // Monday
  if (unit === 'month') d.setDate(1);
  return (BigInt(d.getTime()) * 1000000n).toString();
}

async function earnings(unit) {
  const r = await api(`/v1/revenue?group_by=peer&from_unix_nano=${startOf(unit)}`);
  const sum = new Map();
  for (const row of r.rows) {
    const k = assetKey(row.asset);
    sum.set(k, (sum.get(k) || 0n) + BigInt(row.amount));
  }
  return sum;
}

async function loadNow() {
  const [bal, day, week, month] = await Promise.all([api('/v1/balances'), earnings('day'), earnings('week'), earnings('month')]);
  fillTable('balances', bal.balances.map((b) => {
    const tr = document.createElement('tr');
    tr.append(cell(b.asset.symbol, 'Asset'), cell(formatAmount(b.wallet, b.asset), 'On chain', 'num'),
      cell(formatAmount(b.in_channels, b.asset), 'In channels', 'num'));
    return tr;
  }));
  fillTable('earnings', state.info.assets.map((a) => {
    const k = assetKey(a);
    const tr = document.createElement('tr');
    tr.append(cell(a.symbol, 'Asset'),
      ...[['Today', day], ['This week', week], ['This month', month]].map(([l, m]) =>
        cell(formatAmount((m.get(k) || 0n).toString(), a), l, 'num')));
    return tr;
  }));
  const s = await api('/v1/streams?all=true&page_size=20');
  state.streams = new Map(s.streams.filter((x) => x.direction === 'incoming').map((x) => [x.id, x]));
  renderStreams();
}

function renderStreams() {
  const rows = [...state.streams.values()].sort((a, b) => Number(BigInt(b.started_unix_nano) - BigInt(a.started_unix_nano)));
  fillTable('streams', rows.map((x) => {
    const tr = document.createElement('tr');
    tr.dataset.stream = x.id;
    tr.append(cell(x.item_id || short(x.id), 'Stream'),
      cell(x.status + (x.end_reason ? ` (${x.end_reason})` : ''), 'Status', `status status-${x.status}`),
      cell(`${formatAmount(x.rate, x.asset)}/s`, 'Rate', 'num'),
      cell(formatAmount(x.paid, x.asset), 'Paid so far', 'num paid'),
      cell(fmtTime(x.started_unix_nano), 'Started'));
    return tr;
  }));
}

async function addPayment(p, seq) {
  if (p.direction !== 'incoming') return;
  if (p.stream_id) { // a stream's tick: counted in its row
    const x = state.streams.get(p.stream_id);
    if (x) {
      x.paid = (BigInt(x.paid) + BigInt(p.amount)).toString();
      renderStreams();
    }
    return;
  }
  refreshSoon(); // the earnings
  const asset = await assetOf(p.channel_id);
  const li = document.createElement('li');
  li.dataset.seq = seq;
  const span = (text, cls) => { const s = document.createElement('span'); s.textContent = text; s.className = cls; return s; };
  li.append(span(formatAmount(p.amount, asset), 'amount'), span(`from ${short(p.peer)}`, 'peer'));
  if (p.item_id) li.append(span(`for ${p.item_id}`, 'item'));
  if (p.memo) li.append(span(p.memo, 'memo'));
  if (p.item_id || p.offer_id) li.append(span('receipt signed', 'badge receipt'));
  li.append(span(fmtTime(p.time_unix_nano), 'when'));
  const feed = $('feed');
  feed.prepend(li);
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
}

let refreshTimer = 0;
function refreshSoon() { // at most once a second, for bursts of events
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = 0; route().catch((e) => showError(e.message)); }, 1000);
}

function follow() {
  const from = Math.max(0, Number(state.info.last_seq) - 200);
  const es = new EventSource(`/v1/events?after_seq=${from}&kinds=payment_in&kinds=stream&kinds=channel`);
  es.addEventListener('open', () => { $('feed-state').textContent = 'live'; });
  es.addEventListener('message', (e) => {
    const ev = JSON.parse(e.data);
    if (ev.payment) addPayment(ev.payment, ev.seq).catch((err) => showError(err.message));
    if (ev.stream?.stream) {
      const x = ev.stream.stream;
      if (x.direction === 'incoming') { state.streams.set(x.id, x); renderStreams(); }
    }
    if (ev.channel) refreshSoon();
  });
  es.addEventListener('error', (e) => {
    $('feed-state').textContent = 'reconnecting';
    if (e.data) showError(JSON.parse(e.data).message); // the stream's own error event
    if (es.readyState === EventSource.CLOSED) { // refused: signed out?
      $('feed-state').textContent = 'stopped';
      api('/auth/session').then(() => setTimeout(follow, 2000), () => {});
    }
  });
}

// --- Channels ---

async function loadChannelsPage() {
  const list = await loadChannels();
  fillTable('channels', list.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.channel = c.id;
    const cap = (BigInt(c.my_balance) + BigInt(c.peer_balance)).toString();
    tr.append(cell(short(c.id), 'Channel', 'mono'), cell(short(c.peer), 'Peer', 'mono'), cell(c.phase, 'Phase', 'phase'),
      cell(formatAmount(cap, c.asset), 'Capacity', 'num'), cell(formatAmount(c.my_balance, c.asset), 'Mine', 'num mine'),
      cell(formatAmount(c.peer_balance, c.asset), 'Theirs', 'num'));
    const td = cell('', '', 'actions');
    if (c.phase === 'open') {
      for (const [label, act] of [['Deposit', 'deposit'], ['Withdraw', 'withdraw'], ['Close', 'close']]) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = label;
        b.dataset.action = act;
        b.addEventListener('click', () => act === 'close' ? closeChannel(c) : moveFunds(c, act).catch((e) => showError(e.message)));
        td.append(b);
      }
    }
    tr.append(td);
    return tr;
  }));
}

// ask shows the confirmation dialog; it resolves to the amount typed (or
// '' without one), or null when cancelled.
function ask(text, withAmount) {
  const d = $('confirm');
  $('confirm-text').textContent = text;
  $('confirm-amount').value = '';
  $('confirm-amount').hidden = $('confirm-amount-label').hidden = !withAmount;
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => d.addEventListener('close', () =>
    resolve(d.returnValue === 'ok' ? $('confirm-amount').value : null), {once: true}));
}

async function moveFunds(c, act) {
  showError('');
  const verb = act === 'deposit' ? 'Deposit into' : 'Withdraw from';
  const typed = await ask(`${verb} channel ${short(c.id)} (${c.asset.symbol}): how much?`, true);
  if (typed === null) return;
  const amount = parseAmount(typed, c.asset);
  await api(`/v1/channels/${c.id}/${act}`, {method: 'POST', body: {amount}});
  await loadChannelsPage();
}

async function closeChannel(c) {
  showError('');
  if (await ask(`Close channel ${short(c.id)} with ${short(c.peer)}? Both sides' balances are paid out on chain.`, false) === null) return;
  try {
    await api(`/v1/channels/${c.id}/close`, {method: 'POST', body: {}});
    await loadChannelsPage();
  } catch (e) { showError(e.message); }
}

// --- Sites (approvals of the browser endpoint: app tokens with an origin) ---

async function loadSites() {
  const r = await api('/v1/tokens');
  const sites = (r.tokens || []).filter((t) => t.policy?.origin).reverse(); // newest first
  const byAddress = new Map((state.info?.assets || []).map((a) => [(a.address || '').toLowerCase(), a]));
  $('sites-none').hidden = sites.length > 0;
  fillTable('sites', sites.map((t) => {
    const p = t.policy;
    const zero = /^0x0*$/i.test(p.asset || '');
    const asset = byAddress.get(zero ? '' : (p.asset || '').toLowerCase()) || {symbol: '', decimals: 0};
    const tr = document.createElement('tr');
    tr.dataset.token = t.id;
    tr.dataset.origin = p.origin;
    tr.append(cell(p.origin, 'Site', 'mono origin'),
      cell((p.payees || []).map((x) => short(x.payee)).join(', '), 'Pays', 'mono'),
      cell(t.revoked ? '' : formatAmount(t.spent, asset), 'Spent today', 'num spent'),
      cell(formatAmount(p.limit, asset), 'Budget a day', 'num budget'),
      cell(p.max_price ? formatAmount(p.max_price, asset) : '', 'Largest price', 'num'),
      cell(p.auto_pay_below ? formatAmount(p.auto_pay_below, asset) : 'never', 'Asks from'),
      cell(p.max_rate ? formatAmount(p.max_rate, asset) + '/s' : 'no', 'Per second'),
      cell(fmtTime(t.created_unix_nano), 'Approved'));
    const td = cell('', '', 'actions');
    if (t.revoked) {
      td.textContent = 'revoked';
      td.classList.add('revoked');
    } else {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'Revoke';
      b.dataset.action = 'revoke';
      b.addEventListener('click', () => revokeSite(t).catch((e) => showError(e.message)));
      td.append(b);
    }
    tr.append(td);
    return tr;
  }));
}

async function revokeSite(t) {
  showError('');
  if (await ask(`Revoke ${t.policy.origin}? Its pages pay nothing more from this node (streams stop at once); it may ask you again.`, false) === null) return;
  await api(`/v1/tokens/${t.id}/revoke`, {method: 'POST', body: {}});
  await loadSites();
}

// --- Health ---

async function loadHealth() {
  const [info, peers] = await Promise.all([api('/v1/info'), api('/v1/peers')]);
  state.info = info;
  const chainMs = Number(info.chain_time) * 1000;
  const backupNs = info.backup ? Number(info.backup.last_unix_nano) : 0;
  const rows = [
    ['Status', info.unhealthy || 'healthy', 'status'],
    ['Node address', info.address],
    ['Version', info.version],
    ['Chain id', info.chain_id],
    ['Chain sync', chainMs ? `block ${info.chain_head}, ${when.format(new Date(chainMs))} (${lag(chainMs)})` : 'not synced yet', 'chain'],
    ['Chain watcher', info.watcher_error
      ? `failing: ${info.watcher_error} (last good read ${sinceNs(info.watcher_last_poll_unix_nano)})`
      : `last read the chain ${sinceNs(info.watcher_last_poll_unix_nano)}`, 'watcher'],
    ['Last backup', backupNs ? `${sinceNs(backupNs)} (${when.format(new Date(backupNs / 1e6))})` : 'never: make one with tinypay backup', 'backup'],
    ['Channels', `${info.channels_open} open, ${info.channels_ready} ready, ${info.channels_behind} behind`],
    ['Restored from a backup', info.restored ? 'yes, catching up' : 'no'],
    ['Your time zone', Intl.DateTimeFormat().resolvedOptions().timeZone],
  ];
  $('health').replaceChildren(...rows.flatMap(([k, v, id]) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = String(v);
    if (id) dd.id = `health-${id}`;
    return [dt, dd];
  }));
  fillTable('peers', peers.peers.map((p) => {
    const tr = document.createElement('tr');
    tr.append(cell(p.address, 'Peer', 'mono'), cell(p.remote_addr, 'Address'), cell(p.connected ? 'yes' : 'no', 'Connected'));
    return tr;
  }));
  const towers = info.towers || [];
  if (towers.length === 0) {
    const tr = document.createElement('tr');
    const td = cell('none: this node hands its proofs to no watchtower (tinypayd run --tower)', 'Tower');
    td.colSpan = 4;
    tr.append(td);
    fillTable('towers', [tr]);
    return;
  }
  fillTable('towers', towers.map((t) => {
    const tr = document.createElement('tr');
    const up = t.connected ? 'yes' : `no${t.last_error ? `: ${t.last_error}` : ''}`;
    const ack = Number(t.last_ack_unix_nano) ? `${sinceNs(t.last_ack_unix_nano)}, nonce ${t.last_ack_nonce}` : 'none yet';
    tr.append(cell(`${t.endpoint} (${short(t.address)})`, 'Tower', 'mono'), cell(up, 'Connected'), cell(String(t.pending), 'Waiting'), cell(ack, 'Last acknowledgement'));
    return tr;
  }));
}

// age says how long ago a time in milliseconds was, in words.
function age(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

// lag compares the chain's newest block time with this computer's clock (a
// dev chain may run ahead of it).
function lag(ms) {
  return ms > Date.now() + 2000 ? `${age(2 * Date.now() - ms)} ahead of the clock` : `${age(ms)} behind the clock`;
}

// sinceNs says how long ago a time in unix nanoseconds was ("never" for 0).
function sinceNs(ns) {
  const n = Number(ns);
  return n ? `${age(n / 1e6)} ago` : 'never';
}

// --- Revenue ---

const rev = {bucket: 'day', asset: '', all: false, urls: {}};
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
const SVG = 'http://www.w3.org/2000/svg';

// revFrom is the start of the range: the first hour or day (in the
// viewer's zone) of the last N days.
function revFrom() {
  const days = Number($('rev-range').value);
  const d = new Date();
  if (rev.bucket === 'day') {
    d.setHours(0, 0, 0, 0);
    d.setDate(d.getDate() - days + 1);
  } else {
    d.setMinutes(0, 0, 0);
    d.setHours(d.getHours() - days * 24 + 1);
  }
  return d;
}

async function loadRevenue() {
  const assets = state.info.assets;
  const sel = $('rev-asset');
  if (sel.options.length !== assets.length) {
    sel.replaceChildren(...assets.map((a) => new Option(a.symbol, assetKey(a))));
  }
  const from = revFrom();
  const to = new Date();
  const fromNs = (BigInt(from.getTime()) * 1000000n).toString();
  // With the operator's other identities (NodeInfo.identities), the page
  // can total them with this node: every query then asks for all of them.
  const others = state.info.identities || [];
  $('rev-all-label').hidden = others.length === 0;
  $('rev-all-text').textContent = `All identities (this node and ${others.join(', ')})`;
  const all = rev.all && others.length > 0;
  $('rev-identities').hidden = !all;
  const q = (group, extra = '') => api(`/v1/revenue?group_by=${group}&from_unix_nano=${fromNs}${extra}${all ? '&all_identities=true' : ''}`);
  const [series, item, peer, stream, identity] = await Promise.all([
    q('asset', `&bucket=${rev.bucket}&time_zone=${encodeURIComponent(zone)}`), q('item'), q('peer'), q('stream'),
    all ? q('identity') : Promise.resolve({rows: []})]);
  if (!rev.asset) { // the asset with the most income, else the first
    const top = [...series.rows].sort((x, y) => (BigInt(y.amount) > BigInt(x.amount) ? 1 : -1))[0];
    rev.asset = top ? assetKey(top.asset) : assetKey(assets[0]);
  }
  sel.value = rev.asset;
  for (const b of document.querySelectorAll('[data-bucket]')) b.setAttribute('aria-pressed', String(b.dataset.bucket === rev.bucket));
  const asset = assets.find((a) => assetKey(a) === rev.asset) || assets[0];
  const end = new Date(to); // the end of the current hour or day: the chart's right edge
  if (rev.bucket === 'day') end.setHours(24, 0, 0, 0);
  else end.setMinutes(60, 0, 0);
  drawChart(series.rows.filter((r) => assetKey(r.asset) === rev.asset), asset, from, end);
  const names = {item: 'item', peer: 'payer', stream: 'stream', identity: 'node'};
  const groups = [['item', item], ['peer', peer], ['stream', stream]];
  if (all) groups.push(['identity', identity]);
  for (const [group, r] of groups) {
    fillTable(`rev-${group}`, r.rows.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.key = row.key;
      let key = row.key === '' ? '(none)' : (group === 'item' ? row.key : short(row.key));
      if (group === 'identity' && row.key.toLowerCase() === state.info.address.toLowerCase()) key += ' (this node)';
      const k = cell(key, names[group], group === 'item' ? '' : 'mono');
      k.title = row.key;
      tr.append(k, cell(row.payments, 'Payments', 'num'), cell(formatAmount(row.amount, row.asset), 'Amount', 'num'));
      return tr;
    }));
    csvLink(`csv-${group}`, group, r.rows, from, to);
  }
}

// drawChart draws the income per hour or day from from until to as SVG
// bars; each bar
// carries its bucket's start, amount (base units) and payments as data
// attributes, and the chart its total.
function drawChart(rows, asset, from, to) {
  const W = 800, H = 220, L = 8, R = 8, T = 22, B = 22;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  const el = (name, attrs, text) => {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const span = to.getTime() - from.getTime();
  const size = rev.bucket === 'hour' ? 3600e3 : 86400e3;
  const plot = W - L - R;
  let max = 0n, total = 0n, payments = 0;
  for (const r of rows) {
    const a = BigInt(r.amount);
    if (a > max) max = a;
    total += a;
    payments += Number(r.payments);
  }
  for (const r of rows) {
    const start = Number(BigInt(r.bucket_start_unix_nano) / 1000000n);
    const a = BigInt(r.amount);
    const h = max ? Math.max(1, Number((a * 10000n) / max) / 10000 * (H - T - B)) : 0;
    const x = L + Math.max(0, (start - from.getTime()) / span) * plot;
    const w = Math.max(1, (size / span) * plot - 1);
    const bar = el('rect', {class: 'bar', x: x.toFixed(2), y: (H - B - h).toFixed(2), width: w.toFixed(2), height: h.toFixed(2)});
    bar.dataset.start = new Date(start).toISOString();
    bar.dataset.amount = r.amount;
    bar.dataset.payments = r.payments;
    const label = rev.bucket === 'hour' ? when.format(new Date(start)) : new Date(start).toLocaleDateString();
    bar.append(el('title', {}, `${label}: ${formatAmount(r.amount, asset)} in ${r.payments} payment${r.payments === '1' ? '' : 's'}`));
    svg.append(bar);
  }
  svg.append(el('line', {class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B}));
  svg.append(el('text', {class: 'label', x: L, y: H - 6}, from.toLocaleDateString()));
  svg.append(el('text', {class: 'label', x: W - R, y: H - 6, 'text-anchor': 'end'}, new Date(to.getTime() - 1).toLocaleDateString()));
  svg.append(el('text', {class: 'label', x: L, y: 14}, max ? `highest ${rev.bucket}: ${formatAmount(max.toString(), asset)}` : 'no income in this range'));
  svg.dataset.total = total.toString();
  svg.dataset.asset = asset.symbol;
  svg.dataset.from = from.toISOString();
  svg.dataset.bucket = rev.bucket;
  svg.dataset.fromUnixNano = (BigInt(from.getTime()) * 1000000n).toString();
  svg.setAttribute('aria-label', `income per ${rev.bucket} in ${asset.symbol}: ${formatAmount(total.toString(), asset)} in all`);
  $('rev-chart').replaceChildren(svg);
  $('rev-total').textContent = `${formatAmount(total.toString(), asset)} in ${payments} payment${payments === 1 ? '' : 's'}`;
}

// csvCell quotes a CSV field, and defuses one a spreadsheet would take for
// a formula (item ids come from payers).
function csvCell(v) {
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

// csvLink points a download link at the CSV of a table's rows (the same
// data the table shows): key, asset, payments, amount in the asset's
// units, base units.
function csvLink(id, group, rows, from, to) {
  const lines = [[group, 'asset', 'payments', 'amount', 'base_units'].join(',')];
  for (const r of rows) {
    lines.push([r.key, r.asset?.symbol ?? '', r.payments, formatAmount(r.amount, {...r.asset, symbol: ''}).replaceAll(',', ''), r.amount].map(csvCell).join(','));
  }
  if (rev.urls[id]) URL.revokeObjectURL(rev.urls[id]);
  rev.urls[id] = URL.createObjectURL(new Blob([lines.join('\r\n') + '\r\n'], {type: 'text/csv'}));
  const a = $(id);
  a.href = rev.urls[id];
  const day = (d) => d.toISOString().slice(0, 10);
  a.download = `revenue-by-${group === 'peer' ? 'payer' : group}-${day(from)}-to-${day(to)}.csv`;
}

// --- Offers ---

const OFFERS_KEY = 'tinypay.offers';
const OFFERS_MAX = 50;

function savedOffers() {
  try { return JSON.parse(sessionStorage.getItem(OFFERS_KEY) || '[]'); } catch { return []; }
}

function assetByAddress(addr) {
  const zero = /^0x0{40}$/i.test(addr || '');
  return state.info.assets.find((a) => (zero ? !a.address : (a.address || '').toLowerCase() === (addr || '').toLowerCase()));
}

const usesText = {
  OFFER_USES_UNSPECIFIED: 'once', OFFER_USES_PER_PAYER: 'once per payer', OFFER_USES_UNLIMITED: 'any number',
};

async function loadOffers() {
  const sel = $('offer-asset');
  if (sel.options.length !== state.info.assets.length) {
    sel.replaceChildren(...state.info.assets.map((a) => new Option(a.symbol, a.symbol)));
    const usd = state.info.assets.find((a) => a.symbol === 'USD');
    if (usd) sel.value = 'USD';
  }
  const list = savedOffers();
  const usage = await Promise.all(list.map((x) => api('/v1/offers/uses', {method: 'POST', body: {offer: x.offer}}).catch((e) => ({error: e.message}))));
  fillTable('offers', list.map((x, i) => {
    const o = x.offer, u = usage[i];
    const asset = assetByAddress(o.asset);
    const tr = document.createElement('tr');
    tr.dataset.offer = o.offer_id;
    const uses = o.uses === 'OFFER_USES_LIMITED' ? `up to ${o.max_uses}` : (usesText[o.uses] || o.uses);
    tr.append(cell(o.item_id, 'Item'), cell(formatAmount(o.price, asset), 'Price', 'num'), cell(uses, 'Payments'),
      cell(when.format(new Date(Number(o.expiry) * 1000)) + (u.expired ? ' (expired)' : ''), 'Expires'),
      cell(u.error ? u.error : String(u.paid ?? 0), 'Paid', 'num paid'),
      cell(u.remaining === undefined || u.remaining === null ? '—' : String(u.remaining), 'Left', 'num'));
    const td = cell('', '', 'actions');
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'Show';
    b.addEventListener('click', () => showOffer(x.encoded));
    td.append(b);
    tr.append(td);
    return tr;
  }));
}

function showOffer(encoded) {
  $('offer-new').hidden = false;
  $('offer-string').value = encoded;
  $('offer-link').href = `/offer#${encoded}`;
  $('offer-copied').textContent = '';
}

async function createOffer(ev) {
  ev.preventDefault();
  showError('');
  const symbol = $('offer-asset').value;
  const asset = state.info.assets.find((a) => a.symbol === symbol);
  const item = $('offer-item').value.trim();
  if (!item) throw new Error('name the item the offer sells');
  const req = {item_id: item, asset: symbol, price: parseAmount($('offer-price').value, asset),
    ttl_seconds: $('offer-ttl').value, uses: $('offer-uses').value};
  if (req.uses === 'OFFER_USES_LIMITED') {
    const n = $('offer-max').value.trim();
    if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > 1000000) throw new Error('N: a whole number of payments, 1 to 1,000,000');
    req.max_uses = Number(n);
  }
  const offer = await api('/v1/offers', {method: 'POST', body: req});
  const {offer: encoded} = await api('/offer/encode', {method: 'POST', body: offer});
  const list = [{offer, encoded}, ...savedOffers()].slice(0, OFFERS_MAX);
  sessionStorage.setItem(OFFERS_KEY, JSON.stringify(list));
  showOffer(encoded);
  $('offer-item').value = '';
  await loadOffers();
}

async function copyOffer() {
  const text = $('offer-string').value;
  try {
    await navigator.clipboard.writeText(text);
    $('offer-copied').textContent = 'Copied.';
  } catch {
    $('offer-string').select(); // no clipboard (permission, focus): let the viewer copy it
    $('offer-copied').textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
  }
}

// --- Payouts ---

const hist = {es: null, rows: new Map(), before: 0, loading: false, gen: 0};
const HISTORY_MAX = 200;
const historyKinds = {withdrawn: 'Withdrawal', cooperatively_closed: 'Channel closed', force_closed: 'Force close', settled: 'Settled', paid_out: 'Payout'};

async function loadPayouts() {
  const bal = await api('/v1/balances');
  fillTable('wallet', bal.balances.map((b) => {
    const tr = document.createElement('tr');
    tr.dataset.asset = b.asset.symbol;
    tr.append(cell(b.asset.symbol, 'Asset'), cell(formatAmount(b.wallet, b.asset), 'On chain', 'num'), cell(formatAmount(b.payout, b.asset), 'Payouts to collect', 'num'));
    return tr;
  }));
  const sel = $('send-asset');
  if (sel.options.length !== state.info.assets.length) {
    sel.replaceChildren(...state.info.assets.map((a) => new Option(a.symbol, a.symbol)));
    if (state.info.assets.some((a) => a.symbol === 'USD')) sel.value = 'USD';
  }
  const sw = state.info.sweep;
  const rows = sw ? [
    ['Sends to', sw.to],
    ...sw.thresholds.map((t) => [`${t.asset.symbol} above`, formatAmount(t.above, t.asset)]),
    ['ETH kept for gas', formatAmount(sw.gas_reserve, {symbol: 'ETH', decimals: 18})],
  ] : [['Status', 'not configured: earnings stay in the wallet until sent (tinypayd run --sweep-to ADDRESS --sweep-above "100 USD" sends them on by itself)']];
  $('sweep').replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    return [dt, dd];
  }));
  followHistory().catch((e) => showError(e.message));
}

// followHistory shows the on-chain history (channel and transfer events):
// the newest, paging back through the log (each call reads a bounded
// stretch of it, so a log of millions of payments costs a few calls), and
// then what happens while the page is open.
async function followHistory() {
  if (hist.es || hist.loading) return;
  const gen = ++hist.gen;
  hist.loading = true;
  try {
    hist.rows.clear();
    const info = await api('/v1/info');
    hist.before = Number(info.last_seq) + 1;
    await olderHistory();
    if (gen !== hist.gen) return; // the page was left meanwhile
    const es = new EventSource(`/v1/events?after_seq=${info.last_seq}&kinds=channel&kinds=transfer`);
    hist.es = es;
    es.addEventListener('open', () => { $('history-state').textContent = 'live'; });
    es.addEventListener('message', (e) => {
      if (addHistory(JSON.parse(e.data), false)) renderHistory();
    });
    es.addEventListener('error', (e) => {
      $('history-state').textContent = 'reconnecting';
      if (e.data) showError(JSON.parse(e.data).message);
      if (es.readyState === EventSource.CLOSED) { $('history-state').textContent = 'stopped'; hist.es = null; }
    });
  } finally {
    if (gen === hist.gen) hist.loading = false;
  }
}

// olderHistory pages back from hist.before until a screenful more of rows,
// or a bounded number of calls; the button goes on from there.
async function olderHistory() {
  const want = hist.rows.size + 50;
  for (let calls = 0; hist.before && hist.rows.size < want && calls < 20; calls++) {
    const r = await api(`/v1/events/history?before_seq=${hist.before}&kinds=channel&kinds=transfer&limit=100`);
    for (const ev of r.events) addHistory(ev, true);
    hist.before = Number(r.next_before_seq);
  }
  $('history-older').hidden = !hist.before;
  renderHistory();
}

// addHistory adds an event to the history; older says it is older than
// every event seen so far (paging back), not newer (live). It reports
// whether it changed a row.
function addHistory(ev, older) {
  if (ev.channel && historyKinds[ev.channel.kind]) {
    const c = ev.channel;
    if (c.kind === 'withdrawn') {
      // The node logs each withdrawal once: its own as "withdrawal" or
      // "side X withdrew" (whichever it learnt first), and the peer's;
      // the peer's are not this node's payouts.
      const side = /^side ([AB]) withdrew/.exec(c.detail || '');
      if (side && c.channel && side[1] !== c.channel.side) return false;
    }
    hist.rows.set(`c${ev.seq}`, {seq: Number(ev.seq), time: ev.time_unix_nano, what: historyKinds[c.kind], where: c.channel_id,
      amount: c.amount && c.channel ? formatAmount(c.amount, c.channel.asset) + (c.kind === 'withdrawn' ? ' in all' : '') : '',
      detail: c.detail});
    return true;
  }
  const t = ev.transfer?.transfer;
  if (!t) return false;
  // A transfer is one row (sending, then sent or failed): when it started,
  // with its newest status.
  const key = `t${t.origin}:${t.idempotency_key}`;
  const have = hist.rows.get(key);
  const row = {seq: Number(ev.seq), time: ev.time_unix_nano, what: `${t.origin === 'sweep' ? 'Sweep' : 'Send'} (${t.status})`,
    where: t.to, amount: formatAmount(t.amount, t.asset), detail: t.tx_hash || t.error || ''};
  if (have && older) { // an earlier event of a transfer already shown
    have.seq = row.seq;
    have.time = row.time;
  } else if (have) { // a newer status of a transfer already shown
    Object.assign(have, {what: row.what, detail: row.detail});
  } else {
    hist.rows.set(key, row);
  }
  return true;
}

function stopHistory() {
  hist.gen++;
  hist.loading = false;
  if (hist.es) { hist.es.close(); hist.es = null; }
}

function renderHistory() {
  const rows = [...hist.rows.values()].sort((a, b) => b.seq - a.seq).slice(0, HISTORY_MAX);
  fillTable('history', rows.map((r) => {
    const tr = document.createElement('tr');
    const where = cell(short(r.where), 'Channel or to', 'mono');
    where.title = r.where;
    const tx = cell(r.detail, 'Transaction', 'mono');
    tr.append(cell(fmtTime(r.time), 'When'), cell(r.what, 'What'), where, cell(r.amount, 'Amount', 'num'), tx);
    return tr;
  }));
}

async function sendEarnings(ev) {
  ev.preventDefault();
  showError('');
  const to = $('send-to').value.trim();
  if (!/^0x[0-9a-fA-F]{40}$/.test(to)) throw new Error('"To": an address, 0x and 40 hex digits');
  const symbol = $('send-asset').value;
  const asset = state.info.assets.find((a) => a.symbol === symbol);
  const all = $('send-all').checked;
  const req = {to, asset: symbol};
  if (all) req.all = true;
  else req.amount = parseAmount($('send-amount').value, asset);
  const est = await api('/v1/wallet/estimate', {method: 'POST', body: req});
  const eth = {symbol: 'ETH', decimals: 18};
  const text = `Send ${formatAmount(est.amount, est.asset)} to ${to}?\n` +
    `Wallet balance: ${formatAmount(est.balance, est.asset)}\n` +
    `Network fee: about ${formatAmount(est.fee, eth)} (at most ${formatAmount(est.max_fee, eth)})`;
  $('confirm').dataset.estimate = est.amount;
  if (await ask(text, false) === null) return;
  const t = await api('/v1/wallet/send', {method: 'POST', body: {...req, idempotency_key: crypto.randomUUID()}});
  if (t.status === 'failed') throw new Error(`the send failed: ${t.error}`);
  $('send-amount').value = '';
  $('send-all').checked = false;
  await loadPayouts();
}

// --- routing ---

const pages = {now: loadNow, revenue: loadRevenue, offers: loadOffers, payouts: loadPayouts, channels: loadChannelsPage, sites: loadSites, health: loadHealth};

async function route() {
  const name = pages[location.hash.slice(1)] ? location.hash.slice(1) : 'now';
  document.body.dataset.loaded = '';
  for (const p of Object.keys(pages)) $(`page-${p}`).hidden = p !== name;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === name);
  if (name !== 'payouts') stopHistory();
  await pages[name]();
  document.body.dataset.loaded = name;
}

async function main() {
  const s = await api('/auth/session');
  state.csrf = s.csrf_token;
  state.kind = s.kind;
  $('who').textContent = s.kind === 'view' ? 'view only' : 'admin';
  state.info = await api('/v1/info');
  $('signout').addEventListener('click', async () => {
    await api('/auth/signout', {method: 'POST', body: {}}).catch(() => {});
    sessionStorage.removeItem(OFFERS_KEY);
    location.assign('/signin');
  });
  window.addEventListener('hashchange', () => route().catch((e) => showError(e.message)));
  const fail = (e) => showError(e.message);
  $('rev-range').addEventListener('change', () => loadRevenue().catch(fail));
  $('rev-asset').addEventListener('change', () => { rev.asset = $('rev-asset').value; loadRevenue().catch(fail); });
  $('rev-all').addEventListener('change', () => { rev.all = $('rev-all').checked; loadRevenue().catch(fail); });
  for (const b of document.querySelectorAll('[data-bucket]')) {
    b.addEventListener('click', () => { rev.bucket = b.dataset.bucket; loadRevenue().catch(fail); });
  }
  $('offer-form').addEventListener('submit', (ev) => createOffer(ev).catch(fail));
  $('offer-uses').addEventListener('change', () => { $('offer-max-label').hidden = $('offer-uses').value !== 'OFFER_USES_LIMITED'; });
  $('offer-copy').addEventListener('click', () => copyOffer());
  $('send-form').addEventListener('submit', (ev) => sendEarnings(ev).catch(fail));
  $('history-older').addEventListener('click', () => olderHistory().catch(fail));
  $('send-all').addEventListener('change', () => { $('send-amount').disabled = $('send-all').checked; });
  await route();
  follow();
}

main().catch((e) => showError(e.message));
