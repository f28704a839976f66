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

// --- Health ---

async function loadHealth() {
  const [info, peers] = await Promise.all([api('/v1/info'), api('/v1/peers')]);
  state.info = info;
  const chainMs = Number(info.chain_time) * 1000;
  const rows = [
    ['Status', info.unhealthy || 'healthy'],
    ['Node address', info.address],
    ['Version', info.version],
    ['Chain id', info.chain_id],
    ['Chain time', chainMs ? `${when.format(new Date(chainMs))} (${Math.round((Date.now() - chainMs) / 1000)} s ago)` : 'not synced yet'],
    ['Channels', `${info.channels_open} open, ${info.channels_ready} ready, ${info.channels_behind} behind`],
    ['Restored from a backup', info.restored ? 'yes, catching up' : 'no'],
    ['Your time zone', Intl.DateTimeFormat().resolvedOptions().timeZone],
  ];
  $('health').replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = String(v);
    return [dt, dd];
  }));
  fillTable('peers', peers.peers.map((p) => {
    const tr = document.createElement('tr');
    tr.append(cell(p.address, 'Peer', 'mono'), cell(p.remote_addr, 'Address'), cell(p.connected ? 'yes' : 'no', 'Connected'));
    return tr;
  }));
}

// --- routing ---

const pages = {now: loadNow, channels: loadChannelsPage, health: loadHealth};

async function route() {
  const name = pages[location.hash.slice(1)] ? location.hash.slice(1) : 'now';
  document.body.dataset.loaded = '';
  for (const p of Object.keys(pages)) $(`page-${p}`).hidden = p !== name;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === name);
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
    location.assign('/signin');
  });
  window.addEventListener('hashchange', () => route().catch((e) => showError(e.message)));
  await route();
  follow();
}

main().catch((e) => showError(e.message));
