// A wide table scrolls sideways inside its box on a narrow screen: the box takes keyboard
// focus (the arrow keys scroll it) and is named after its section for screen readers.
(function () {
  "use strict";
  document.querySelectorAll(".table-scroll").forEach((box) => {
    const heading = box.closest("section") && box.closest("section").querySelector("h1, h2");
    box.tabIndex = 0;
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", heading ? heading.textContent.trim() : "Table");
  });
})();
