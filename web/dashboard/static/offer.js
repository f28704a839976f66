// A shared offer: the link's fragment (#tpo1...) holds the offer string,
// which never reaches a server. This page only shows it and the command
// that pays it; it needs no sign-in.
const offer = decodeURIComponent(location.hash.slice(1));
const $ = (id) => document.getElementById(id);
if (/^tpo1\.[A-Za-z0-9_-]+$/.test(offer)) {
  $('offer').value = offer;
  $('command').textContent = `tinypay pay --offer ${offer}`;
} else {
  $('message').textContent = 'This link holds no offer (it ends with #tpo1. and the offer string).';
  $('copy').hidden = true;
}
$('copy').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText($('command').textContent);
    $('copied').textContent = 'Copied.';
  } catch {
    $('offer').select();
    $('copied').textContent = 'Select the command and copy it (Ctrl+C, ⌘C).';
  }
});
