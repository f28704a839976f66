// Sign-in: posts the token once, in a JSON body; the server answers with
// an HttpOnly session cookie. The token is not kept by this page.
const form = document.getElementById('signin');
const msg = document.getElementById('message');
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  msg.textContent = '';
  const input = document.getElementById('token');
  try {
    const r = await fetch('/auth/signin', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({token: input.value}),
    });
    input.value = '';
    if (!r.ok) {
      const e = await r.json().catch(() => ({message: r.statusText}));
      msg.textContent = e.message;
      return;
    }
    location.assign('/');
  } catch (e) {
    msg.textContent = 'cannot reach the node: ' + e.message;
  }
});
