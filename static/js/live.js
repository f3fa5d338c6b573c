/* The console's live socket (htmx ws extension) and keys that work on every page.
 *
 * - Reconnects resume where the page stopped: #live-state holds the last event id the page has
 *   seen (the server updates it with every fragment), and every (re)connect asks from there (a
 *   thread page also says which message it shows last).
 * - A message already on the page is not added twice (the composer's own response and the live
 *   fragment both bring a new reply).
 * - While the agent types in the composer, a "typing" notice goes over the socket (at most every
 *   2 s), for the other agents' collision notice.
 * - "/" focuses the search box (the inbox's, else the top bar's), unless the agent is typing.
 */
(function () {
  "use strict";

  var TYPING_EVERY_MS = 2000;
  var socket = null;
  var lastTyping = 0;

  function resumeUrl(url) {
    var state = document.getElementById("live-state");
    var last = state && state.getAttribute("data-last-event-id");
    if (!last) {
      return url;
    }
    var resumed = new URL(url, window.location.href);
    resumed.searchParams.set("last_event_id", last);
    if (resumed.searchParams.has("after_message")) {
      // The thread page's newest entry now: the server sends only what comes after it.
      var entries = document.querySelectorAll("#timeline > li[id^='m-']");
      var newest = entries.length ? entries[entries.length - 1].id.slice(2) : "0";
      resumed.searchParams.set("after_message", newest);
    }
    return resumed.toString();
  }

  if (window.htmx) {
    window.htmx.createWebSocket = function (url) {
      var ws = new WebSocket(resumeUrl(url), []);
      ws.binaryType = window.htmx.config.wsBinaryType;
      return ws;
    };
  }

  function showStatus(state) {
    var status = document.querySelector("#live .live-status");
    if (status) {
      status.textContent = status.getAttribute("data-" + state) || "";
      status.setAttribute("data-state", state);
    }
  }

  document.addEventListener("htmx:wsConnecting", function () { showStatus("connecting"); });
  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    showStatus("open");
  });
  document.addEventListener("htmx:wsClose", function () {
    socket = null;
    showStatus("closed");
  });

  // A socket message is swapped in here rather than by the ws extension, so that the parts with
  // nothing to do on this page can be dropped as parsed nodes (never re-serialized to HTML): htmx
  // would report a missing target as an error. A row update for a thread further down than this
  // page has loaded, or a delivery update for a message not shown, is expected and not an error.
  // The rest is what the ws extension does: each part swapped out of band, then wsAfterMessage.
  var internal = null;
  if (window.htmx) {
    window.htmx.defineExtension("live", {
      init: function (api) { internal = api; }
    });
  }

  function targetOf(element) {
    var how = element.getAttribute("hx-swap-oob") || "true";
    var colon = how.indexOf(":");
    if (colon > 0) {
      return document.querySelector(how.slice(colon + 1));
    }
    return element.id ? document.getElementById(element.id) : null;
  }

  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    var api = internal;
    var socketElt = event.target;
    if (!api || typeof event.detail.message !== "string") {
      return;  // left to the ws extension
    }
    event.preventDefault();
    var fragment = api.makeFragment(event.detail.message);
    var settleInfo = api.makeSettleInfo(socketElt);
    Array.prototype.slice.call(fragment.children).forEach(function (part) {
      if (targetOf(part)) {
        api.oobSwap(api.getAttributeValue(part, "hx-swap-oob") || "true", part, settleInfo);
      }
    });
    api.settleImmediately(settleInfo.tasks);
    api.triggerEvent(socketElt, "htmx:wsAfterMessage", event.detail);
  });

  // A timeline entry already on the page is not added again: the composer's own response may have
  // brought the agent's reply before its live fragment does. Dropped from the parsed fragment.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var detail = event.detail;
    if (!detail.target || detail.target.id !== "timeline" || !detail.fragment) {
      return;
    }
    Array.prototype.slice.call(detail.fragment.children).forEach(function (entry) {
      if (entry.id && document.getElementById(entry.id)) {
        entry.remove();
      }
    });
  });

  // The server says the page is too far behind to catch up event by event (or on another database).
  document.addEventListener("htmx:wsAfterMessage", function () {
    var state = document.getElementById("live-state");
    if (state && state.getAttribute("data-resync")) {
      window.location.reload();
    }
  });

  document.addEventListener("input", function (event) {
    if (!socket || !event.target || event.target.id !== "composer-text") {
      return;
    }
    var now = Date.now();
    if (now - lastTyping < TYPING_EVERY_MS) {
      return;
    }
    lastTyping = now;
    // An internal note is no business of the customer's: their widget hears only reply typing.
    var mode = document.querySelector('input[name="mode"]:checked');
    socket.send(JSON.stringify({ type: "typing", note: !!(mode && mode.value === "note") }));
  });

  function isTyping(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) {
      return;
    }
    var search = document.getElementById("inbox-q") || document.getElementById("topbar-q");
    if (search) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  });
})();
