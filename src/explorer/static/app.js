// Ferro explorer: copy buttons, and live updates of the home and mempool pages from the
// node's Server-Sent Events (GET /events). No inline script anywhere: the page's
// Content-Security-Policy forbids it.
"use strict";
(function () {
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      button.textContent = "copied";
      setTimeout(function () { button.textContent = "copy"; }, 1200);
    }, function () { /* no clipboard permission: the value is still in the title */ });
  });

  var live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch || !window.DOMParser) return;

  function mark(state, text) {
    live.setAttribute("data-state", state);
    live.textContent = text;
  }

  // Fetch this page again and swap in its live sections. One fetch at a time; events that
  // arrive meanwhile ask for one more afterwards, so the last state always shows.
  var running = false, again = false, lastAt = 0, timer = null, waiting = [];
  function refresh(then) {
    if (then) waiting.push(then);
    if (running) { again = true; return; }
    running = true;
    var done = waiting;
    waiting = [];
    lastAt = Date.now();
    fetch(window.location.href, { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (old) {
          var replacement = old.id ? fresh.getElementById(old.id) : null;
          if (replacement) old.replaceWith(document.importNode(replacement, true));
        });
        done.forEach(function (f) { f(); });
      })
      .catch(function () {
        // Not live until a read succeeds: try again in a while.
        mark("reconnecting", "reconnecting…");
        waiting = done.concat(waiting);
        setTimeout(function () { refresh(); }, 3000);
      })
      .then(function () {
        running = false;
        if (again) { again = false; refresh(); }
      });
  }

  // Transactions can arrive by the thousand: refresh at most once a second for them.
  function soon() {
    if (timer) return;
    var wait = Math.max(0, 1000 - (Date.now() - lastAt));
    timer = setTimeout(function () { timer = null; refresh(); }, wait);
  }

  // On every (re)connect, read the current state first: a block that connected while the
  // stream was (re)opening is in it. Only then is the page live.
  function connect() {
    var source = new EventSource("/events");
    source.addEventListener("open", function () {
      refresh(function () { mark("live", "live"); });
    });
    source.addEventListener("block", function (event) {
      live.setAttribute("data-last-event-id", event.lastEventId);
      refresh();
    });
    source.addEventListener("reorg", function () { refresh(); });
    source.addEventListener("tx", function () { soon(); });
    source.addEventListener("error", function () {
      mark("reconnecting", "reconnecting…");
      // The browser retries by itself unless the node refused the stream (503 when too
      // many are open): then try again later.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 10000);
    });
  }
  connect();
})();
