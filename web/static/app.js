// tagdrift's own script: copy buttons. Every page works without it; the buttons stay
// hidden when it does not run.
(function () {
  "use strict";
  function copied(btn) {
    btn.setAttribute("data-done", "");
    var label = btn.textContent;
    btn.textContent = "copied";
    setTimeout(function () { btn.textContent = label; btn.removeAttribute("data-done"); }, 1200);
  }
  document.querySelectorAll("button.copy").forEach(function (btn) {
    var text = btn.getAttribute("data-copy");
    if (text === null) {
      var chip = btn.closest("[data-digest]");
      if (!chip) { return; }
      text = chip.getAttribute("data-digest");
    }
    btn.hidden = false;
    btn.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { copied(btn); }, function () {});
        return;
      }
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.style.position = "absolute";
      ta.style.left = "-9999px";
      document.body.appendChild(ta);
      ta.select();
      try { document.execCommand("copy"); copied(btn); } catch (e) { /* nothing to do */ }
      document.body.removeChild(ta);
    });
  });
})();
