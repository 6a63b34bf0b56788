// The navigation's unread badge, live: the "/notifications" socket (the signed-in session) joins the
// user's own room and is sent "unread" {count} on connect and after every change (docs/notifications.md).
import { io } from "../vendor/socket.io/socket.io.esm.min.js";

const badge = document.getElementById("notification-badge");

function show(count) {
  if (!badge || typeof count !== "number" || count < 0) return;
  badge.textContent = String(count);
  badge.hidden = count === 0;
  badge.dataset.count = String(count);
}

if (badge) {
  const socket = io("/notifications", { transports: ["websocket", "polling"] });
  socket.on("unread", (data) => show(data && data.count));
}
