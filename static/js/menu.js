// The site menu on a narrow screen: the header's links and account fold behind one button, which says
// whether the menu is open (aria-expanded). Without this script the links stay shown and wrap.
(() => {
  document.documentElement.classList.add("js");
  const ready = () => {
    const button = document.querySelector("header.site .menu-toggle");
    const menu = button && document.getElementById(button.getAttribute("aria-controls"));
    if (!menu) return;
    const set = (open) => {
      button.setAttribute("aria-expanded", String(open));
      menu.classList.toggle("open", open);
    };
    button.addEventListener("click", () => set(button.getAttribute("aria-expanded") !== "true"));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        set(false);
        button.focus();
      }
    });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
