// The menu button of narrow screens: shows and hides the navigation (CSS hides it there).
(function () {
  "use strict";
  const button = document.getElementById("menu-button");
  const bar = document.getElementById("topbar");
  if (!button || !bar) return;  // logged out: the few links fit on one line

  function setOpen(open) {
    bar.classList.toggle("menu-open", open);
    button.setAttribute("aria-expanded", String(open));
  }
  button.addEventListener("click", () => setOpen(!bar.classList.contains("menu-open")));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && bar.classList.contains("menu-open")) { setOpen(false); button.focus(); }
  });
})();
