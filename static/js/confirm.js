// A step that asks on the page before something cannot be undone (<details class="delete-confirm">,
// never the browser's confirm()): its "Keep it" button closes it and gives the keyboard back
// to the question. Without JavaScript the question's own line closes it.
(function () {
  "use strict";
  document.querySelectorAll(".delete-confirm").forEach((step) => {
    const cancel = step.querySelector(".delete-cancel");
    if (!cancel) return;
    cancel.addEventListener("click", () => {
      step.open = false;
      step.querySelector("summary").focus();
    });
  });
})();
