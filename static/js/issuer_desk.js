// The issuer desk: each open demand's examination period counts down once a minute (URDG 758 art. 20).
const started = Date.now();
function tick() {
  for (const el of document.querySelectorAll(".countdown[data-seconds-left]")) {
    const left = Math.max(0, Number(el.dataset.secondsLeft) - Math.floor((Date.now() - started) / 1000));
    if (left === 0) { el.textContent = "—"; continue; }
    const d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600), m = Math.floor((left % 3600) / 60);
    el.textContent = el.textContent.replace(/\d+(\D+)\d+(\D+)\d+/, `${d}$1${h}$2${m}`);
  }
}
setInterval(tick, 60_000);
