// The reader's pages on their own node: approve a site (with a budget,
// a largest price, and a deposit for a new channel), or confirm one
// payment. They call only this origin, with the session cookie (HttpOnly:
// this script never sees it, nor the admin token after sign-in) and the
// session's CSRF token on every call. The cookie goes to every port of
// 127.0.0.1, so it is not enough: the CSRF token, which only the sign-in
// answers with, is kept in this origin's storage (its port included),
// where the node's other pages find it.
const $ = (id) => document.getElementById(id);
const page = document.body.dataset.page;
const id = location.hash.slice(1);
const CSRF_KEY = 'tinypay.reader.csrf';
let csrf = '';

function keepCSRF(v) {
  csrf = v || '';
  try {
    if (csrf) localStorage.setItem(CSRF_KEY, csrf);
    else localStorage.removeItem(CSRF_KEY);
  } catch (_) { /* storage off: this page only */ }
}

function message(text) { $('message').textContent = text || ''; }

async function call(path, body) {
  const opts = { credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (csrf) opts.headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) {
    opts.method = 'POST';
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let j = {};
  try { j = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const e = new Error(j.message || r.statusText);
    e.status = r.status;
    throw e;
  }
  return j;
}

// session resolves once signed in (showing the sign-in form if needed).
async function session() {
  try { csrf = localStorage.getItem(CSRF_KEY) || ''; } catch (_) { /* storage off */ }
  if (csrf) {
    try {
      await call('/auth/session');
      return;
    } catch (e) {
      if (e.status !== 401 && e.status !== 403) throw e;
      keepCSRF('');
    }
  }
  $('signin').hidden = false;
  await new Promise((resolve) => {
    $('signin-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      message('');
      const input = $('token');
      try {
        const s = await call('/auth/signin', { token: input.value });
        input.value = '';
        keepCSRF(s.csrf_token);
        $('signin').hidden = true;
        resolve();
      } catch (err) {
        input.value = '';
        message(err.message);
      }
    });
  });
}

// arm keeps btn (Approve, Pay) disabled until this page has been shown
// for ARM_DELAY, and again each time it comes back to the front: a site
// may open this page in a popup under the reader's pointer between the
// two clicks of a double click it asked for, so that the second click
// lands here.
const ARM_DELAY = 1000;
function arm(btn) {
  let timer = 0;
  const reset = () => {
    clearTimeout(timer);
    btn.disabled = true;
    btn.dataset.armed = 'no';
    if (document.visibilityState !== 'visible') return;
    timer = setTimeout(() => { btn.disabled = false; btn.dataset.armed = 'yes'; }, ARM_DELAY);
  };
  reset();
  window.addEventListener('focus', reset);
  document.addEventListener('visibilitychange', reset);
}
const armed = (btn) => btn.dataset.armed === 'yes';

function setUnit(symbol) {
  for (const el of document.querySelectorAll('.unit')) el.textContent = symbol;
}

function step(text, state) {
  const li = document.createElement('li');
  li.textContent = text;
  li.dataset.state = state || '';
  return li;
}

// ----- approve -----

async function approvePage() {
  let req = await call('/reader/request?id=' + encodeURIComponent(id));
  const t = req.terms;
  $('origin').textContent = req.origin;
  $('item').textContent = t.item + (t.page ? ' (' + t.page + ')' : '');
  $('price').textContent = t.amount_text;
  $('payee').textContent = t.payee;
  $('peer').textContent = t.peer;
  $('wallet').textContent = req.wallet_text || 'unknown';
  setUnit(t.asset);
  if (req.state !== 'pending') return showApproved(req);
  $('channel').textContent = req.channel.state === 'open' ? 'open, ' + req.channel.balance_text + ' to spend' : 'none yet';
  $('budget').value = req.SuggestBudget || '';
  $('max-price').value = req.SuggestMaxPrice || '';
  if (t.kind === 'stream') $('max-rate').value = req.SuggestMaxRate || '';
  if (req.channel.state !== 'open') {
    $('deposit-box').hidden = false;
    $('deposit').value = req.SuggestDeposit || '';
  }
  arm($('approve-button'));
  $('request').hidden = false;
  document.body.dataset.state = 'asking';
  $('approve-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!armed($('approve-button'))) return;
    message('');
    $('approve-button').disabled = true;
    try {
      const open = !$('deposit-box').hidden && $('open-channel').checked;
      req = await call('/reader/approve', {
        id, budget: $('budget').value, max_price: $('max-price').value, auto_pay_below: $('auto-pay-below').value,
        max_rate: $('max-rate').value, deposit: open ? $('deposit').value : '',
      });
      showApproved(req);
    } catch (e) {
      message(e.message);
    } finally {
      $('approve-button').disabled = false;
    }
  });
  $('decline-button').addEventListener('click', async () => {
    try {
      await call('/reader/decline', { id });
      $('request').hidden = true;
      $('done').hidden = false;
      $('done-text').textContent = 'Declined: ' + req.origin + ' pays nothing from your node.';
      document.body.dataset.state = 'declined';
    } catch (e) { message(e.message); }
  });
}

// showApproved shows the approval and follows the channel's open on
// chain, step by step, until it is open (or failed).
async function showApproved(req) {
  $('request').hidden = true;
  $('done').hidden = false;
  const a = req.approval || {};
  $('done-text').textContent = 'Approved: ' + req.origin + ' may pay ' + (a.budget_text || '') + ' a day, at most ' + (a.max_price_text || '') + ' a payment' +
    (a.auto_pay_below_text ? ' (asking you from ' + a.auto_pay_below_text + ' on)' : '') +
    (a.max_rate_text ? ', and up to ' + a.max_rate_text : '') + '.';
  document.body.dataset.state = 'approved';
  const list = $('progress');
  const shown = new Set();
  const add = (key, text, state) => {
    if (shown.has(key)) return;
    shown.add(key);
    for (const li of list.children) if (!li.dataset.state) li.dataset.state = 'done';
    list.append(step(text, state));
  };
  for (;;) {
    const c = req.channel;
    switch (c.state) {
      case 'connecting':
        add('connecting', 'Connecting to the publisher\'s node…');
        break;
      case 'opening':
        add('connecting', 'Connecting to the publisher\'s node…');
        add('opening', 'Opening the channel: your deposit goes on chain; waiting for the transaction to be mined…');
        break;
      case 'open':
        if (shown.size) add('opening', 'Opening the channel: your deposit goes on chain; waiting for the transaction to be mined…');
        add('open', 'Channel ' + short(c.id) + ' open' + (c.balance_text ? ', ' + c.balance_text + ' to spend' : '') + '. The site\'s page pays now.', 'done');
        document.body.dataset.channel = 'open';
        return;
      case 'failed':
        add('failed', 'The channel could not be opened: ' + c.error, 'failed');
        document.body.dataset.channel = 'failed';
        return;
      default:
        add('none', 'No channel with this publisher: its pages cannot be paid until you open one.', 'failed');
        document.body.dataset.channel = 'none';
        return;
    }
    document.body.dataset.channel = c.state;
    await new Promise((r) => setTimeout(r, 300));
    req = await call('/reader/request?id=' + encodeURIComponent(id));
  }
}

function short(hex) { return hex && hex.length > 14 ? hex.slice(0, 10) + '…' + hex.slice(-6) : (hex || ''); }

// ----- confirm -----

async function confirmPage() {
  const c = await call('/reader/confirmation?id=' + encodeURIComponent(id));
  $('origin').textContent = c.origin;
  $('price').textContent = c.terms.amount_text;
  $('item').textContent = c.terms.item + (c.terms.page ? ' (' + c.terms.page + ')' : '');
  $('payee').textContent = c.terms.payee;
  $('left').textContent = c.left_text + ' of ' + c.budget_text;
  if (c.state !== 'pending') return showConfirmed(c);
  arm($('pay-button'));
  $('request').hidden = false;
  document.body.dataset.state = 'asking';
  $('pay-button').addEventListener('click', async () => {
    if (!armed($('pay-button'))) return;
    $('pay-button').disabled = true;
    try { showConfirmed(await call('/reader/confirm', { id })); } catch (e) { message(e.message); $('pay-button').disabled = false; }
  });
  $('refuse-button').addEventListener('click', async () => {
    try { showConfirmed(await call('/reader/refuse', { id })); } catch (e) { message(e.message); }
  });
}

function showConfirmed(c) {
  $('request').hidden = true;
  $('done').hidden = false;
  document.body.dataset.state = c.state;
  $('done-text').textContent = c.state === 'paid'
    ? 'Paid ' + c.terms.amount_text + ' to ' + c.origin + '.'
    : (c.message || 'Not paid.');
}

async function main() {
  if (page !== 'approve' && page !== 'confirm') return;
  $('close-button').addEventListener('click', () => window.close());
  if (!id) { message('This page needs the request a site made (the address it opened).'); return; }
  try {
    await session();
    $('signout-box').hidden = false;
    $('signout').addEventListener('click', async () => {
      try { await call('/auth/signout', {}); } catch (_) { /* gone already */ }
      keepCSRF('');
      location.reload();
    });
    if (page === 'approve') await approvePage();
    else await confirmPage();
  } catch (e) {
    message(e.message);
  }
}
main();
