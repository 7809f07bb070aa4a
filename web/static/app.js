// tagdrift's own script: copy buttons, and the overview's quiet refresh. Every page
// works without it; the buttons stay hidden when it does not run, and the overview
// then says to reload.
(function () {
  "use strict";
  function copied(btn) {
    btn.setAttribute("data-done", "");
    var label = btn.textContent;
    btn.textContent = "copied";
    setTimeout(function () { btn.textContent = label; btn.removeAttribute("data-done"); }, 1200);
  }
  function bindCopy(root) {
    root.querySelectorAll("button.copy").forEach(function (btn) {
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
  }
  bindCopy(document);

  // The quiet refresh: a page whose main content holds [data-refresh] (the overview)
  // fetches itself again every that many seconds while the tab is visible, and swaps in
  // the new main content. The line says when the data was read (the server's time) and
  // how long ago it was fetched (this browser's clock, so never skewed); a failure says
  // so, and the age keeps growing, so stale data never looks fresh.
  var main = document.getElementById("main");
  var line = main && main.querySelector("[data-refresh]");
  if (!line) { return; }
  var every = Math.max(1, parseInt(line.getAttribute("data-refresh"), 10) || 30) * 1000;
  var fetchedAt = Date.now();
  var nextAt = fetchedAt + every;
  var failure = "";
  var busy = false;
  var stopped = false;

  function ago(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 90) { return s + " s ago"; }
    var m = Math.round(s / 60);
    if (m < 90) { return m + " min ago"; }
    return Math.round(m / 60) + " h ago";
  }
  function say() {
    var l = main.querySelector("[data-refresh]");
    var state = l && l.querySelector("[data-testid=refresh-state]");
    if (!state) { return; }
    var age = ago(Date.now() - fetchedAt);
    if (failure) {
      l.setAttribute("data-state", "failed");
      state.textContent = "; fetched " + age + ". " + failure;
    } else {
      l.setAttribute("data-state", "fresh");
      state.textContent = "; fetched " + age + ", again every " + Math.round(every / 1000) + " s while this tab is visible.";
    }
  }
  function Refusal(message, final) { this.message = message; this.final = final; }
  function refresh() {
    if (busy || stopped || document.visibilityState !== "visible") { return; }
    // Someone using the page (a focused link or button) keeps it: the swap waits.
    var active = document.activeElement;
    if (active && active !== document.body && main.contains(active)) { return; }
    busy = true;
    nextAt = Date.now() + every;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (res) {
        if (res.redirected && new URL(res.url).pathname === "/signin") {
          throw new Refusal("Your session ended: reload the page to sign in again.", true);
        }
        if (!res.ok) { throw new Refusal("The last refresh failed (HTTP " + res.status + "); retrying every " + Math.round(every / 1000) + " s.", false); }
        return res.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        if (!fresh || !fresh.querySelector("[data-refresh]")) { throw new Refusal("The last refresh got another page; retrying.", false); }
        var nodes = Array.prototype.map.call(fresh.childNodes, function (n) { return document.importNode(n, true); });
        main.replaceChildren.apply(main, nodes);
        bindCopy(main);
        fetchedAt = Date.now();
        failure = "";
      })
      .catch(function (err) {
        if (err instanceof Refusal) {
          failure = err.message;
          stopped = err.final;
        } else {
          failure = "The last refresh failed (no answer from the service); retrying every " + Math.round(every / 1000) + " s.";
        }
      })
      .then(function () { busy = false; say(); });
  }
  setInterval(function () {
    if (Date.now() >= nextAt) { refresh(); }
    say();
  }, 1000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && Date.now() - fetchedAt >= every) { refresh(); }
  });
  say();
})();
