// The one time format of the platform (core.labels.format_time), for the times scripts render:
// "2026-12-06 16:30 北京时间" / "2026-12-06 16:30:26 Beijing time". The display zone (DISPLAY_TIMEZONE)
// and its name in the page's language come from the <html> element (data-timezone, data-zone-name).

const root = document.documentElement;
export const zone = root.dataset.timezone || "Asia/Shanghai";
export const zoneName = root.dataset.zoneName || ((root.lang || "zh").startsWith("zh") ? "北京时间" : "Beijing time");

const formats = new Map();

function formatter(seconds) {
  if (!formats.has(seconds)) {
    // sv-SE writes 2026-12-06 16:30:26 whatever the page's language: the date as the server writes it.
    const parts = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", ...(seconds ? { second: "2-digit" } : {}) };
    let format;
    try {
      format = new Intl.DateTimeFormat("sv-SE", { timeZone: zone, ...parts });
    } catch {
      format = new Intl.DateTimeFormat("sv-SE", parts);  // an unknown zone: the browser's own
    }
    formats.set(seconds, format);
  }
  return formats.get(seconds);
}

/** A time (Date, ISO text or milliseconds) in the one format; "—" for none. */
export function formatTime(value, { seconds = false } = {}) {
  if (value === null || value === undefined || value === "") return "—";
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${formatter(seconds).format(date)} ${zoneName}`;
}
