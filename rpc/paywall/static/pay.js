// The tinypay paywall's page script: it asks the reader's own tinypay node
// (its browser endpoint on loopback, tinypayd run --browser-listen) to pay
// for this page, then shows the page; or, for a resource sold per second,
// plays it while a stream from the reader's node pays, and stops the
// stream when it is paused or the page goes away. The site learns no
// token or secret of the node: only the receipt of a payment, or a stream
// id. Served by the paywall itself (same origin); no other origin's code.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const termsEl = $('tinypay-terms');
  if (!termsEl) return;
  const required = JSON.parse(termsEl.textContent);
  const req = (required.accepts || []).find((a) => a.scheme === 'tinypay-offer' || a.scheme === 'tinypay-stream');
  if (!req) return;
  const perSecond = req.scheme === 'tinypay-stream';
  const DEFAULT_NODE = 'http://127.0.0.1:9739';
  const NODE_KEY = 'tinypay.node';

  const statusEl = $('tinypay-status');
  const approveBtn = $('tinypay-approve');
  const confirmBtn = $('tinypay-confirm');
  const retryBtn = $('tinypay-retry');
  const priceText = $('tinypay-price').textContent;

  function say(text, state, reason) {
    text = String(text || '');
    statusEl.textContent = text.charAt(0).toUpperCase() + text.slice(1);
    statusEl.dataset.state = state;
    if (reason) statusEl.dataset.reason = reason;
    else delete statusEl.dataset.reason;
  }
  function show(btn, on) { btn.hidden = !on; }
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

  function nodeBase() {
    let v = '';
    try { v = localStorage.getItem(NODE_KEY) || ''; } catch (_) { /* storage off */ }
    return (v || DEFAULT_NODE).replace(/\/+$/, '');
  }
  const nodeInput = $('tinypay-node');
  nodeInput.value = nodeBase();
  $('tinypay-node-save').addEventListener('click', () => {
    try { localStorage.setItem(NODE_KEY, nodeInput.value.trim()); } catch (_) { /* storage off */ }
    location.reload();
  });

  // node calls the reader's node. Only the origin of this page is sent
  // along (by the browser); no cookie, no token.
  async function node(path, body) {
    let r;
    try {
      r = await fetch(nodeBase() + path, {
        method: 'POST', mode: 'cors', credentials: 'omit', cache: 'no-store',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
    } catch (e) {
      const err = new Error('No tinypay node answers at ' + nodeBase() + ' (start it with tinypayd run --browser-listen, or set its address below).');
      err.unreachable = true;
      throw err;
    }
    let j = {};
    try { j = await r.json(); } catch (_) { /* not JSON */ }
    j.httpStatus = r.status;
    return j;
  }

  function failed(e) {
    say(e.message || String(e), e.unreachable ? 'unreachable' : 'error', e.unreachable ? 'unreachable' : 'error');
    if (e.unreachable) $('tinypay-settings').open = true;
    show(retryBtn, true);
  }

  function refused(r) {
    say(r.message || ('Your node refused: ' + (r.reason || 'unknown reason')), 'refused', r.reason || 'refused');
    show(retryBtn, r.reason === 'budget_spent' || r.reason === 'no_channel' || r.reason === 'failed');
  }

  // approved asks the node whether this site may pay, and if not, offers
  // the reader to approve it on the node's own page (a new window there).
  let approveURL = '';
  let approval = '';
  async function approved() {
    const h = await node('/site/hello', { terms: required, page: location.href, request: approval || undefined });
    switch (h.state) {
      case 'approved':
        show(approveBtn, false);
        return true;
      case 'not_approved':
      case 'revoked':
        approveURL = h.approve_url;
        approval = h.request;
        say(h.message, h.state, h.state);
        show(approveBtn, true);
        return false;
      case 'declined':
        approval = '';
        say(h.message, 'refused', 'declined');
        show(approveBtn, false);
        show(retryBtn, true);
        return false;
      default:
        throw new Error(h.message || 'Your node did not answer as expected (HTTP ' + h.httpStatus + ').');
    }
  }

  // whenApproved polls until the reader approved (or declined) the site.
  let polling = false;
  async function whenApproved() {
    if (polling) return false;
    polling = true;
    try {
      for (let i = 0; i < 600; i++) {
        await sleep(1000);
        const h = await node('/site/hello', { terms: required, page: location.href, request: approval || undefined });
        if (h.state === 'approved') { show(approveBtn, false); return true; }
        if (h.state === 'declined') { approval = ''; say(h.message, 'refused', 'declined'); show(approveBtn, false); show(retryBtn, true); return false; }
      }
      return false;
    } finally { polling = false; }
  }

  approveBtn.addEventListener('click', () => {
    // noopener: this page gets no handle on the node's window.
    window.open(approveURL, '_blank', 'popup,noopener,width=560,height=760');
    say('Approve this site in the window your node opened…', 'approving', 'approving');
    whenApproved().then((ok) => { if (ok) go(); }).catch(failed);
  });
  retryBtn.addEventListener('click', () => { show(retryBtn, false); go(); });

  // ----- per read -----
  let confirmURL = '';
  async function pay(confirmation) {
    for (;;) {
      say(confirmation ? 'Waiting for your confirmation on your node…' : 'Paying ' + priceText + ' with your node…', 'paying');
      const r = await node('/site/pay', { terms: required, page: location.href, confirmation: confirmation || undefined });
      switch (r.status) {
        case 'paid':
          show(confirmBtn, false);
          return showPaid(r);
        case 'opening':
          say(r.message, 'opening', 'opening');
          await sleep(1000);
          continue;
        case 'confirm':
          confirmURL = r.confirm_url;
          if (!confirmation) {
            confirmation = r.confirmation;
            say(r.message, 'confirm', 'confirm');
            show(confirmBtn, true);
          }
          await sleep(1000);
          continue;
        case 'refused':
          show(confirmBtn, false);
          if (r.reason === 'not_approved' || r.reason === 'revoked') { approval = ''; await approved(); return; }
          return refused(r);
        default:
          throw new Error(r.message || 'Your node did not answer as expected (HTTP ' + r.httpStatus + ').');
      }
    }
  }
  confirmBtn.addEventListener('click', () => {
    window.open(confirmURL, '_blank', 'popup,noopener,width=560,height=640');
  });

  // showPaid fetches this page again with the receipt and shows it in
  // place: the response also sets the paywall's cookie, so a reload shows
  // it without paying (for as long as the publisher set).
  async function showPaid(r) {
    say('Paid ' + priceText + '. Loading the page…', 'paid', 'paid');
    const resp = await fetch(location.href, {
      headers: { Authorization: 'TinyPay receipt="' + r.receipt + '"', Accept: 'text/html' },
      credentials: 'same-origin', cache: 'no-store',
    });
    if (!resp.ok) {
      let why = 'HTTP ' + resp.status;
      try { why = JSON.parse(atob(resp.headers.get('Payment-Required') || '')).error || why; } catch (_) { /* keep the status */ }
      throw new Error('Paid, but the site did not serve the page: ' + why);
    }
    const html = await resp.text();
    const doc = new DOMParser().parseFromString(html, 'text/html');
    document.replaceChild(document.importNode(doc.documentElement, true), document.documentElement);
    document.documentElement.dataset.tinypayPaid = r.amount || '';
  }

  // ----- per second -----
  const media = $('tinypay-media');
  const playBtn = $('tinypay-play');
  let stream = '';
  let keepalive = 0;
  let starting = false;

  function setPlaying(on) {
    playBtn.dataset.state = on ? 'playing' : 'paused';
    playBtn.textContent = on ? 'Pause' : 'Play';
  }

  async function startStream() {
    for (;;) {
      const r = await node('/site/stream', { terms: required, page: location.href });
      if (r.status === 'streaming') return r;
      if (r.status === 'opening') { say(r.message, 'opening', 'opening'); await sleep(1000); continue; }
      if (r.status === 'refused') {
        if (r.reason === 'not_approved' || r.reason === 'revoked') { approval = ''; await approved(); return null; }
        refused(r);
        return null;
      }
      throw new Error(r.message || 'Your node did not answer as expected (HTTP ' + r.httpStatus + ').');
    }
  }

  async function play() {
    if (starting) return;
    starting = true;
    try {
      say('Asking your tinypay node…', 'busy');
      if (!(await approved())) return;
      const r = await startStream();
      if (!r) return;
      stream = r.stream;
      // The media element cannot send a header: the paywall names the
      // stream in a cookie for this path only.
      const c = await fetch(AssetsPath() + 'stream', {
        method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ stream, path: location.pathname }),
      });
      if (!c.ok) { await stopStream(); throw new Error('The site did not take the stream: HTTP ' + c.status); }
      keepalive = setInterval(() => {
        node('/site/stream/keepalive', { stream }).then((k) => {
          if (k.status !== 'streaming') { ended(k.message || 'The stream ended.', k.reason); }
        }).catch(() => {});
      }, 2000);
      media.src = location.pathname + '?tinypay=' + Date.now();
      await media.play();
      setPlaying(true);
      say('Playing: paying ' + priceText + ' per second from your node.', 'playing', 'playing');
    } finally { starting = false; }
  }

  function ended(text, reason) {
    if (keepalive) { clearInterval(keepalive); keepalive = 0; }
    stream = '';
    if (!media.paused) media.pause();
    setPlaying(false);
    say(text, 'stopped', reason || 'stopped');
  }

  async function stopStream() {
    const id = stream;
    if (keepalive) { clearInterval(keepalive); keepalive = 0; }
    stream = '';
    if (!id) return null;
    return node('/site/stream/stop', { stream: id });
  }

  async function pause() {
    media.pause();
    setPlaying(false);
    const r = await stopStream();
    say('Paused: your node stopped paying' + (r && r.paid_text ? ' (' + r.paid_text + ' paid for this play).' : '.'), 'paused', 'paused');
  }

  function AssetsPath() {
    const s = document.querySelector('script[src$="pay.js"]');
    return s ? new URL(s.getAttribute('src'), location.href).pathname.replace(/pay\.js$/, '') : '/.tinypay/';
  }

  if (perSecond) {
    playBtn.addEventListener('click', () => {
      (playBtn.dataset.state === 'playing' ? pause() : play()).catch(failed);
    });
    let played = 0;
    media.addEventListener('timeupdate', () => {
      played = media.currentTime;
      const s = Math.floor(played);
      $('tinypay-played').textContent = Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
    });
    media.addEventListener('error', () => { if (stream) { stopStream(); ended('The site stopped the sound: its stream was refused or ended.', 'cut'); } });
    media.addEventListener('ended', () => { if (stream) { stopStream(); ended('The end.', 'ended'); } });
    // Leaving the page stops the stream (the node also stops a stream
    // whose page stops calling it, within seconds).
    window.addEventListener('pagehide', () => {
      if (stream) navigator.sendBeacon(nodeBase() + '/site/stream/stop', JSON.stringify({ stream }));
    });
  }

  async function go() {
    show(retryBtn, false);
    say('Asking your tinypay node…', 'busy');
    try {
      if (perSecond) {
        if (await approved()) say('Press play: your node pays ' + priceText + ' per second while it plays.', 'ready', 'ready');
        return;
      }
      if (await approved()) await pay();
    } catch (e) { failed(e); }
  }
  go();
})();
