// provlog pages: a running cluster's page refreshes itself by conditional requests.
// Without this file every page is complete; it only adds the refresh, ticking clocks and copy.
(function () {
  "use strict";
  var INTERVAL = 1000;
  var SOON = 500; // the server is rendering a newer page: ask again sooner
  var main = document.querySelector("main[data-live]");

  function words(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + (seconds === 1 ? " second" : " seconds");
    var minutes = Math.floor(seconds / 60), rest = seconds % 60;
    if (minutes < 60) return minutes + (minutes === 1 ? " minute" : " minutes") + (rest ? " " + rest + (rest === 1 ? " second" : " seconds") : "");
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    return hours + (hours === 1 ? " hour" : " hours") + (minutes ? " " + minutes + (minutes === 1 ? " minute" : " minutes") : "");
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-since]").forEach(function (node) {
      var since = Date.parse(node.getAttribute("data-since"));
      if (!isNaN(since)) node.textContent = words((now - since) / 1000);
    });
  }

  function setUpCopy() {
    document.querySelectorAll("button[data-copy]:not([data-ready])").forEach(function (button) {
      if (!navigator.clipboard) return;
      button.hidden = false;
      button.setAttribute("data-ready", "");
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        navigator.clipboard.writeText(source.value).then(function () {
          button.textContent = "Copied";
        });
      });
    });
  }

  setUpCopy();
  if (!main) return;

  var etag = main.getAttribute("data-etag");
  var running = main.getAttribute("data-live") === "running";
  var lastUpdate = Date.now();
  var timer = null;
  var clock = null;
  var statusNode = document.querySelector("[data-live-status]");
  var ageNode = document.querySelector("[data-live-age]");

  function say(text) {
    if (statusNode && statusNode.textContent !== text) statusNode.textContent = text;
  }

  function showAge() {
    tick();
    if (ageNode && running) ageNode.textContent = "updated " + words((Date.now() - lastUpdate) / 1000) + " ago";
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main[data-live]");
    if (!fresh) return;
    var open = {};
    document.querySelectorAll("details[open]").forEach(function (node, index) { open[index] = true; });
    var focused = document.activeElement && document.activeElement.closest("[data-part]");
    document.querySelectorAll("[data-part]").forEach(function (part) {
      var name = part.getAttribute("data-part");
      if (focused === part) return; // never pull the focus away from a reader
      var next = fresh.querySelector('[data-part="' + name + '"]');
      if (next) part.replaceWith(document.importNode(next, true));
      else part.remove();
    });
    fresh.querySelectorAll("[data-part]").forEach(function (part) {
      var name = part.getAttribute("data-part");
      if (!document.querySelector('[data-part="' + name + '"]')) {
        var after = document.querySelector('[data-part="header"]');
        if (after) after.after(document.importNode(part, true));
      }
    });
    document.querySelectorAll("details").forEach(function (node, index) { if (open[index]) node.open = true; });
    statusNode = document.querySelector("[data-live-status]");
    ageNode = document.querySelector("[data-live-age]");
    running = fresh.getAttribute("data-live") === "running";
    main.setAttribute("data-live", running ? "running" : "ended");
    setUpCopy();
  }

  function schedule(delay) {
    clearTimeout(timer);
    if (running && !document.hidden) timer = setTimeout(poll, delay || INTERVAL);
  }

  function stop() {
    clearTimeout(timer);
    clearInterval(clock);
    tick();
    if (ageNode) ageNode.textContent = "";
    say("The operation ended: this page no longer refreshes.");
  }

  var CONNECTED = "Connected: refreshing every second.";
  var soon = false;

  function poll() {
    if (document.hidden) { say("Paused while this tab is hidden."); return; }
    fetch(location.href, {
      cache: "no-store",
      credentials: "same-origin",
      headers: { "If-None-Match": etag, "Accept": "text/html", "X-Provlog-Live": "1" }
    }).then(function (response) {
      soon = response.headers.get("X-Provlog-Stale") === "1";
      if (response.status === 304) return null;
      if (!response.ok) throw new Error("HTTP " + response.status);
      etag = response.headers.get("ETag") || etag;
      return response.text();
    }).then(function (html) {
      if (html) swap(html);
      lastUpdate = Date.now();
      if (!running) { stop(); return; }
      say(CONNECTED);
      showAge();
      schedule(soon ? SOON : INTERVAL);
    }).catch(function () {
      say("Not connected: retrying.");
      schedule();
    });
  }

  if (!running) return;
  say(CONNECTED);
  clock = setInterval(showAge, 1000);
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { clearTimeout(timer); say("Paused while this tab is hidden."); }
    else if (running) poll();
  });
  schedule();
})();
