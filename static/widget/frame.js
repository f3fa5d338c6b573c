/* The chat inside the widget's iframe (our page, our origin; the site embeds it with widget.js).
 *
 * - The session is created lazily: a stored visitor token is resumed at load, but a visitor who
 *   never writes (and is not identified by the site) costs no contact. The token lives in
 *   localStorage `onethread:{site}`; a 401 drops it and starts over.
 * - Live updates come over WS /widget/v1/ws, resumed from the last event id; after 3 failed
 *   connects in a row the frame polls GET /widget/v1/messages?after= every 3 s and tries the
 *   socket again every 30 s.
 * - Sending is optimistic: the message shows at once with its client_id, and a retry re-sends the
 *   same client_id, so the server stores it once however often the network fails.
 * - Customer and agent text only ever goes into the page as textContent.
 * - The bot's reply buttons (a message's `buttons`) are drawn under the newest message that has
 *   them, until the visitor writes after it: older choices are answered or moot. Pressing one
 *   sends its label as the visitor's message, with its payload as `button_payload`.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("ot-config").textContent);
  var S = config.strings;
  var site = config.site;
  var KEY = "onethread:" + site;
  var PREFIX = location.pathname.replace(/\/widget\/v1\/frame\/.*$/, "");
  var POLL_MS = 3000;
  var SOCKET_RETRY_WHILE_POLLING_MS = 30000;
  var READY_WITHIN_MS = 10000;
  var TYPING_EVERY_MS = 2000;
  var TYPING_SHOWN_MS = 6000;
  var EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
  var standalone = window.parent === window;
  var allowedOrigins = (config.origins || []).concat([location.origin]);

  function $(id) { return document.getElementById(id); }
  function t(key, values) {
    return (S[key] || key).replace(/%\((\w+)\)s/g, function (_, name) {
      return values && values[name] != null ? String(values[name]) : "";
    });
  }

  // --- storage ----------------------------------------------------------------------------------
  // Browsers that block third-party storage (Chrome with third-party cookies blocked, incognito)
  // refuse localStorage in this frame. The state then lives with the loader, in the site's own
  // localStorage under the same key: it hands it over with its first message and keeps what the
  // frame sends back ("onethread:store"), so a reload still finds the visitor's conversation.
  var memory = {};
  var ownStorage = (function () {
    try {
      var probe = KEY + ":probe";
      localStorage.setItem(probe, "1");
      localStorage.removeItem(probe);
      return true;
    } catch (e) {
      return false;
    }
  })();
  function stored() {
    if (ownStorage) {
      try { return JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (e) { return {}; }
    }
    return memory;
  }
  function store(changes) {
    var state = stored();
    for (var name in changes) {
      if (changes[name] === undefined) { delete state[name]; } else { state[name] = changes[name]; }
    }
    memory = state;
    if (ownStorage) {
      try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* full: this tab only */ }
    } else {
      toParent({ type: "onethread:store", state: state });
    }
  }

  // --- state ----------------------------------------------------------------------------------
  var session = null;       // the sessions answer: visitor_token, thread_id, name, email, …
  var starting = null;      // the session request in flight
  var identity = null;      // what the site said about the visitor (onethread:identify)
  var sentIdentity = null;  // the identity the current session was opened with
  var items = [];           // messages, oldest first; pending ones (no id yet) last
  var hasMore = false;
  var lastEventId = 0;
  var isOpen = standalone;
  var unread = 0;
  var parentOrigin = null;
  var emailSaved = false;
  var audio = null;

  // --- look --------------------------------------------------------------------------------------
  function onColor(hex) {
    var c = [1, 3, 5].map(function (i) {
      var v = parseInt(hex.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2] > 0.4 ? "#111111" : "#ffffff";
  }
  document.documentElement.style.setProperty("--ot-color", config.color);
  document.documentElement.style.setProperty("--ot-on-color", onColor(config.color));

  function initials(name) {
    var words = String(name || "").trim().split(/\s+/).filter(Boolean);
    var letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || "?").slice(0, 2);
    return letters.toUpperCase();
  }
  $("ot-site-avatar").textContent = initials(config.name);

  var dateFormat = new Intl.DateTimeFormat(config.lang, { day: "numeric", month: "short" });
  var timeFormat = new Intl.DateTimeFormat(config.lang, { hour: "numeric", minute: "2-digit" });
  // A weekday alone is ambiguous a week ahead ("Monday", said on a Monday afternoon): add the date.
  var whenFormat = new Intl.DateTimeFormat(config.lang, {
    weekday: "long", day: "numeric", month: "long", hour: "numeric", minute: "2-digit"
  });

  var back = $("ot-back");
  if (back && back.getAttribute("data-at")) {
    back.textContent = t("back_at", { when: whenFormat.format(new Date(back.getAttribute("data-at"))) });
    back.hidden = false;
  }

  // --- the server -----------------------------------------------------------------------------
  function request(method, path, body, auth) {
    var headers = {};
    var init = { method: method, headers: headers, credentials: "omit" };
    if (auth !== false && session) {
      headers.Authorization = "Bearer " + session.visitor_token;
    }
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(PREFIX + path, init).then(function (response) {
      if (response.status === 401 && auth !== false && session) {
        expired();
        throw new Error("visitor token refused");
      }
      return response;
    });
  }

  function json(response) {
    if (!response.ok) { throw new Error(response.status + " " + response.url); }
    return response.status === 204 ? null : response.json();
  }

  function startSession(extra) {
    var body = { site: site };
    var token = stored().visitor_token;
    if (token) { body.visitor_token = token; }
    var who = identity;
    if (who) {
      ["user_id", "user_hash", "name", "email"].forEach(function (name) {
        if (who[name]) { body[name] = who[name]; }
      });
    }
    if (extra) {
      for (var name in extra) { body[name] = extra[name]; }
    }
    var generation = resets;
    starting = request("POST", "/widget/v1/sessions", body, false)
      .then(function (response) {
        if (generation !== resets) { return null; } // the site signed the visitor out meanwhile
        if (response.status === 401 && body.visitor_token) {
          store({ visitor_token: undefined, read_id: undefined }); // expired or forged: begin again
          starting = null;
          return startSession(extra);
        }
        if (response.status === 403 && who && identity === who) {
          // The site's user_hash does not check out: chat anonymously rather than not at all.
          if (window.console) { window.console.warn("OneThread: the visitor's user_hash was refused"); }
          identity = null;
          starting = null;
          return startSession(extra);
        }
        return json(response).then(opened);
      })
      .then(function () { return session; }, function (error) { starting = null; throw error; });
    sentIdentity = who;
    return starting;
  }

  function opened(answer) {
    var previousThread = session && session.thread_id;
    session = answer;
    starting = null;
    store({
      visitor_token: answer.visitor_token,
      verified: answer.verified ? true : undefined,
      user_id: answer.verified && sentIdentity ? sentIdentity.user_id : undefined
    });
    if (answer.telegram_url) {
      $("ot-telegram").href = answer.telegram_url;
      $("ot-telegram-line").hidden = false;
    }
    if (previousThread && answer.thread_id && previousThread !== answer.thread_id) {
      resetList();
    }
    lastEventId = Math.max(lastEventId, answer.last_event_id || 0);
    updatePanels();
    return loadNewest().then(connect);
  }

  // The first message made the visitor's conversation: ask again for what names it (the Continue
  // on Telegram link carries a token for it), without reloading anything.
  function conversationStarted() {
    if (!session || session.thread_id != null) { return; }
    session.thread_id = -1; // asked once
    request("POST", "/widget/v1/sessions", { site: site, visitor_token: session.visitor_token }, false)
      .then(json)
      .then(function (answer) {
        session.thread_id = answer.thread_id;
        session.contact_id = answer.contact_id;
        if (answer.telegram_url) {
          $("ot-telegram").href = answer.telegram_url;
          $("ot-telegram-line").hidden = false;
        }
      })
      .catch(function () { /* the plain link stays; nothing else depends on it */ });
  }

  function ensureSession(extra) {
    if (session && !extra) { return Promise.resolve(session); }
    return starting || startSession(extra);
  }

  function forget() {
    store({ visitor_token: undefined, read_id: undefined, verified: undefined, user_id: undefined, email_left: undefined });
  }

  // The site signed its customer out (OneThread.reset()): nothing of theirs stays on this screen.
  var resets = 0;
  function reset() {
    resets++;
    forget();
    identity = null;
    sentIdentity = null;
    session = null;
    starting = null;
    emailSaved = false;
    closeSocket();
    stopPolling();
    hideTyping();
    resetList();
    render();
    countUnread();
  }

  function expired() {
    store({ visitor_token: undefined, read_id: undefined });
    session = null;
    closeSocket();
    stopPolling();
    (starting || startSession()).catch(showLoadFailure);
  }

  function showLoadFailure() {
    showBanner(t("load_failed"));
  }

  // --- messages -------------------------------------------------------------------------------
  // Our own messages keep their client_id's key when the server's copy replaces the optimistic
  // one, so the node is updated in place rather than announced twice.
  function keyOf(m) { return m.client_id ? "c" + m.client_id : "m" + m.id; }

  function find(m) {
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      if ((m.id != null && it.id === m.id) || (m.client_id && it.client_id === m.client_id)) {
        return i;
      }
    }
    return -1;
  }

  // The server's order: when it was written (a message from another channel may carry its own
  // time, earlier than ones stored before it), then id; ours still on their way come last.
  function order(a, b) {
    if (a.id == null && b.id == null) { return 0; }
    if (a.id == null) { return 1; }
    if (b.id == null) { return -1; }
    return (Date.parse(a.created_at) - Date.parse(b.created_at)) || a.id - b.id;
  }

  // Adds or replaces messages (by id, or by client_id for our own optimistic ones); `live` says
  // they arrived now rather than with a page of history (only those count as unread).
  function upsert(list, live) {
    var fresh = [];
    list.forEach(function (m) {
      var at = find(m);
      if (at >= 0) {
        var old = items[at];
        if (old.local && old.local.preview && !(m.attachments || []).some(function (a) { return a.url; })) {
          m.local = old.local; // keep showing the picture we already have until the server's is ready
        }
        if (old.status === "seen" && m.status === "sent") { m.status = "seen"; }
        items[at] = m;
      } else {
        items.push(m);
        fresh.push(m);
      }
    });
    items.sort(order);
    render();
    if (live) {
      var incoming = fresh.filter(function (m) { return m.direction === "out"; });
      if (incoming.length) {
        hideTyping();
        notify(incoming[incoming.length - 1]);
      }
    }
  }

  function resetList() {
    items = [];
    listed = 0;
    hasMore = false;
    drawn = {};
    $("ot-list").textContent = "";
  }

  function loadNewest() {
    var list = $("ot-list");
    list.setAttribute("aria-busy", "true"); // history is not news to announce
    return request("GET", "/widget/v1/messages?limit=50")
      .then(json)
      .then(function (page) {
        // Messages still waiting for the server are kept; everything else is what the server says.
        items = items.filter(function (m) { return m.id == null; });
        hasMore = page.has_more;
        lastEventId = Math.max(lastEventId, page.last_event_id || 0);
        var state = stored();
        heard(page.items);
        upsert(page.items, false);
        var agentIds = page.items.filter(function (m) { return m.direction === "out"; }).map(function (m) { return m.id; });
        if (state.read_id == null) {
          // First sight of this thread here: what is already there is not news.
          store({ read_id: Math.max.apply(null, [0].concat(agentIds)) });
        }
        countUnread();
        markRead();
      })
      .then(function () { list.removeAttribute("aria-busy"); }, function (error) {
        list.removeAttribute("aria-busy");
        throw error;
      });
  }

  function loadEarlier() {
    var first = items.filter(function (m) { return m.id != null; })[0];
    if (!first) { return; }
    var body = $("ot-body");
    var before = body.scrollHeight - body.scrollTop;
    request("GET", "/widget/v1/messages?limit=50&before=" + first.id)
      .then(json)
      .then(function (page) {
        hasMore = page.has_more;
        upsert(page.items, false);
        body.scrollTop = body.scrollHeight - before;
      })
      .catch(function () { /* the button stays; the visitor can try again */ });
  }

  // Polling asks for what was stored after the newest message the server has told us about (a
  // page, a poll, the socket). Not after our own newest: a message that waited for the connection
  // is stored when it gets through, after an answer we may not have heard of yet.
  var listed = 0;
  function heard(list) {
    list.forEach(function (m) { if (m.id > listed) { listed = m.id; } });
  }
  function lastMessageId() {
    return listed;
  }

  // --- drawing ----------------------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text != null) { node.textContent = text; }
    return node;
  }

  // Plain text with its web addresses made into links (built as nodes: nothing is parsed as HTML).
  function textWithLinks(text) {
    var p = el("p", "ot-text");
    var pattern = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
    var at = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      p.appendChild(document.createTextNode(text.slice(at, match.index)));
      var a = el("a", null, match[0]);
      a.href = match[0];
      a.target = "_blank";
      a.rel = "noopener noreferrer nofollow";
      p.appendChild(a);
      at = match.index + match[0].length;
    }
    p.appendChild(document.createTextNode(text.slice(at)));
    return p;
  }

  function sameDirection(a, b) {
    return a && b && a.direction === b.direction && (a.author || {}).name === (b.author || {}).name;
  }

  function channelLabel(m) {
    var when = dateFormat.format(new Date(m.created_at));
    if (m.channel === "phone") {
      return t(m.direction === "in" ? "in_phone" : "out_phone", { date: when });
    }
    var how = S["via_" + m.channel] || S.via_api;
    return t(m.direction === "in" ? "in_other" : "out_other", { how: how, date: when });
  }

  // A time today; a date and time before that (history may go back months, across channels).
  function when(iso) {
    var at = new Date(iso);
    var shown = timeFormat.format(at);
    return at.toDateString() === new Date().toDateString() ? shown : dateFormat.format(at) + ", " + shown;
  }

  function statusText(m) {
    if (m.failed) { return m.reason ? t("failed") + " " + m.reason : t("failed"); }
    if (m.waiting) { return m.reason || t("waiting"); }
    if (m.id == null || m.status === "sending") { return t("sending"); }
    return t(m.status === "seen" ? "seen" : "sent");
  }

  function attachmentNode(a, m) {
    var url = a.url && /^(https?:|\/)/.test(a.url) ? new URL(a.url, location.href).href : null;
    var preview = !url && m.local && m.local.preview;
    var isImage = /^image\//.test(a.content_type || "");
    if (isImage && (url || preview)) {
      var link = el("a", "ot-att");
      var img = el("img");
      img.alt = a.filename || t("attachment");
      // The list scrolled to its end before the picture had a height: keep the end in view.
      img.addEventListener("load", function () {
        var body = $("ot-body");
        if (body.scrollHeight - body.scrollTop - body.clientHeight < img.height + 80) {
          body.scrollTop = body.scrollHeight;
        }
      });
      img.src = url || preview;
      if (url) {
        link.href = url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
      }
      link.appendChild(img);
      return link;
    }
    var file = el(url ? "a" : "span", "ot-att ot-att-file", "📎 " + (a.filename || t("attachment")));
    if (url) {
      file.href = url;
      file.target = "_blank";
      file.rel = "noopener noreferrer";
    }
    return file;
  }

  // The newest of our messages with buttons, if the visitor has not written since: its buttons are
  // the ones still waiting for an answer.
  function choicesMessage() {
    for (var i = items.length - 1; i >= 0; i--) {
      var m = items[i];
      if (m.direction === "in") { return null; }
      if (m.buttons && m.buttons.length) { return m; }
    }
    return null;
  }

  function choicesNode(m) {
    var group = el("div", "ot-choices");
    group.setAttribute("role", "group");
    m.buttons.forEach(function (b) {
      if (!b || typeof b.label !== "string" || typeof b.payload !== "string" || !b.label) { return; }
      var chip = el("button", "ot-choice", b.label);
      chip.type = "button";
      chip.setAttribute("data-payload", b.payload);
      group.appendChild(chip);
    });
    return group;
  }

  function messageNode(m, previous, isLastOwn, withChoices) {
    var li = el("li", "ot-msg " + (m.direction === "in" ? "ot-in" : "ot-out"));
    li.setAttribute("data-key", keyOf(m));
    var other = m.channel && m.channel !== "webchat";
    var newRun = !sameDirection(previous, m) || (other && (!previous || previous.channel !== m.channel));
    if (other && (!previous || previous.channel !== m.channel)) {
      li.appendChild(el("p", "ot-channel", channelLabel(m)));
    }
    if (newRun) {
      li.classList.add("ot-first");
    }
    var author = m.author || {};
    if (m.direction === "out" && newRun) {
      li.appendChild(el("span", "ot-author", author.name || config.name));
    }
    var row = el("div", "ot-row");
    if (m.direction === "out") {
      row.appendChild(el("span", "ot-avatar", initials(author.name || config.name)));
      row.lastChild.setAttribute("aria-hidden", "true");
    }
    var bubble = el("div", "ot-bubble");
    if (m.direction === "in") {
      bubble.appendChild(el("span", "ot-sr", t("you") + ": "));
    } else if (!newRun) {
      bubble.appendChild(el("span", "ot-sr", (author.name || config.name) + ": "));
    }
    if (m.text) {
      bubble.appendChild(textWithLinks(m.text));
    }
    (m.attachments || []).forEach(function (a) { bubble.appendChild(attachmentNode(a, m)); });
    row.appendChild(bubble);
    li.appendChild(row);
    if (withChoices) { li.appendChild(choicesNode(m)); }

    var meta = el("p", "ot-meta");
    var time = el("time", null, m.created_at ? when(m.created_at) : "");
    if (m.created_at) { time.dateTime = m.created_at; }
    meta.appendChild(time);
    if (m.direction === "in" && (isLastOwn || m.failed || m.id == null)) {
      meta.appendChild(document.createTextNode(" · " + statusText(m)));
      if (m.failed) {
        li.classList.add("ot-failed");
      }
      if (m.failed && !m.permanent) {
        var retry = el("button", "ot-link", t("retry"));
        retry.type = "button";
        retry.addEventListener("click", function () {
          var at = find(m);
          if (at >= 0) { post(items[at]); }
        });
        meta.appendChild(retry);
      }
    }
    li.appendChild(meta);
    return li;
  }

  function greetingNode() {
    var li = el("li", "ot-msg ot-out ot-first ot-greeting");
    li.setAttribute("data-key", "greeting");
    li.appendChild(el("span", "ot-author", config.name));
    var row = el("div", "ot-row");
    row.appendChild(el("span", "ot-avatar", initials(config.name)));
    row.lastChild.setAttribute("aria-hidden", "true");
    var bubble = el("div", "ot-bubble");
    bubble.appendChild(textWithLinks(config.greeting));
    row.appendChild(bubble);
    li.appendChild(row);
    return li;
  }

  // Redraws the list, reusing nothing but the list itself: a page holds at most a few hundred
  // messages, and a node that did not change is replaced by an identical one (screen readers are
  // told only about additions). Scrolled to the end when the visitor was already there.
  var drawn = {};
  function render() {
    var list = $("ot-list");
    var body = $("ot-body");
    var atEnd = body.scrollHeight - body.scrollTop - body.clientHeight < 60;
    var lastOwn = null;
    // Sending / sent / seen is about the widget's own messages, not what came by email or Telegram.
    items.forEach(function (m) { if (m.direction === "in" && (m.channel || "webchat") === "webchat") { lastOwn = m; } });
    var nodes = [];
    if (config.greeting && !hasMore) { nodes.push(greetingNode()); }
    var choices = choicesMessage();
    items.forEach(function (m, i) { nodes.push(messageNode(m, items[i - 1], m === lastOwn, m === choices)); });
    var seen = {};
    nodes.forEach(function (node, i) {
      var key = node.getAttribute("data-key");
      seen[key] = true;
      var existing = drawn[key];
      if (existing && existing.isEqualNode(node)) {
        node = existing;
      } else if (existing) {
        node.style.animation = "none"; // an update, not an arrival
        existing.replaceWith(node);
      }
      drawn[key] = node;
      if (list.children[i] !== node) { list.insertBefore(node, list.children[i] || null); }
    });
    Object.keys(drawn).forEach(function (key) {
      if (!seen[key]) { drawn[key].remove(); delete drawn[key]; }
    });
    $("ot-earlier").hidden = !hasMore;
    updatePanels();
    if (atEnd) { body.scrollTop = body.scrollHeight; }
  }

  // The pre-chat form, the email card: which show depends on the session and the messages.
  function updatePanels() {
    var known = (session && (session.name || session.email)) || (identity && identity.name && identity.email);
    var noMessages = items.length === 0;
    var prechat = config.prechat_form && !known && noMessages && !(identity && identity.user_hash);
    $("ot-prechat").hidden = !prechat;
    $("ot-form").hidden = prechat;
    $("ot-foot").hidden = prechat && !config.telegram_url;
    $("ot-file").hidden = prechat || !chosenFile;

    var firstOwn = -1;
    items.forEach(function (m, i) { if (firstOwn < 0 && m.direction === "in" && m.id != null) { firstOwn = i; } });
    var agentAnswered = firstOwn >= 0 && items.slice(firstOwn).some(function (m) {
      return m.direction === "out" && (m.author || {}).type === "agent";
    });
    var card = $("ot-email-card");
    var left = emailSaved || !!stored().email_left; // the token does not carry an address left later
    var show = firstOwn >= 0 && session && (emailSaved || (!agentAnswered && !session.email && !left));
    card.hidden = !show;
  }

  // --- sending --------------------------------------------------------------------------------
  var chosenFile = null;

  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 15) | 64;
    bytes[8] = (bytes[8] & 63) | 128;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function send(text, file, buttonPayload) {
    var m = {
      id: null,
      client_id: uuid(),
      direction: "in",
      channel: "webchat",
      text: text,
      created_at: new Date().toISOString(),
      author: { type: "customer", name: null },
      attachments: file ? [{ id: null, filename: file.name, content_type: file.type, size: file.size, status: "pending", url: null }] : [],
      status: "sending",
      local: { file: file, preview: file && /^image\//.test(file.type) ? URL.createObjectURL(file) : null }
    };
    if (buttonPayload) { m.local.button_payload = buttonPayload; }
    items.push(m);
    render();
    $("ot-body").scrollTop = $("ot-body").scrollHeight;
    post(m);
  }

  // Why a send failed, read from the server's problem document (API.md: every error has one).
  function sendProblem(response) {
    return response.json().then(function (problem) { return problem; }, function () { return {}; })
      .then(function (problem) {
        var error = new Error(problem.detail || String(response.status));
        error.status = response.status;
        error.detail = problem.detail || "";
        error.retryAfter = parseInt(response.headers.get("Retry-After"), 10) || 0;
        throw error;
      });
  }

  function retryWaiting() {
    // The connection is back: what waited for it goes now (a client_id makes a repeat harmless).
    items.forEach(function (m) { if (m.id == null && m.waiting) { post(m); } });
  }

  function post(m) {
    m.failed = false;
    m.reason = "";
    clearTimeout(m.timer);
    render();
    ensureSession()
      .then(function () {
        var body;
        if (m.local && m.local.file) {
          body = new FormData();
          body.append("text", m.text || "");
          body.append("client_id", m.client_id);
          body.append("file", m.local.file, m.local.file.name);
        } else {
          body = { text: m.text, client_id: m.client_id };
          if (m.local && m.local.button_payload) { body.button_payload = m.local.button_payload; }
        }
        return request("POST", "/widget/v1/messages", body);
      })
      .then(function (response) { return response.ok ? response.json() : sendProblem(response); })
      .then(function (saved) {
        var at = find(m);
        if (at >= 0 && items[at].local && items[at].local.preview && (saved.attachments || []).some(function (a) { return a.url; })) {
          URL.revokeObjectURL(items[at].local.preview);
        }
        if (at >= 0) { items[at].waiting = false; }
        upsert([saved], false);
        conversationStarted();
      })
      .catch(function (error) {
        var at = find(m);
        if (at < 0 || items[at].id != null) { return; }
        var item = items[at];
        var status = error && error.status;
        if (status && status >= 400 && status < 500 && status !== 408 && status !== 429) {
          // The server refused this message as it is: sending it again cannot help. Say why.
          item.failed = true;
          item.waiting = false;
          item.permanent = true;
          item.reason = error.detail || "";
        } else {
          // No connection, the server restarting, or "too many at once": it goes by itself later.
          item.waiting = true;
          item.attempts = (item.attempts || 0) + 1;
          var seconds = status === 429 && error.retryAfter ? error.retryAfter : Math.min(30, Math.pow(2, item.attempts));
          item.reason = status === 429 ? error.detail || "" : "";
          item.timer = setTimeout(function () { post(item); }, seconds * 1000);
        }
        render();
      });
  }

  function composeError(text) {
    $("ot-compose-error").textContent = text || "";
  }

  function size(bytes) {
    if (bytes >= 1048576) { return Math.round(bytes / 1048576) + " MB"; }
    return Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function accepts(file) {
    // Exactly the server's list: a browser calls an SVG an image too, and the server refuses it.
    return String(config.accept || "").split(",").indexOf(file.type) >= 0;
  }

  function chooseFile(file) {
    composeError("");
    if (file && !accepts(file)) {
      composeError(t("wrong_type"));
      file = null;
    } else if (file && file.size > config.max_attachment_bytes) {
      composeError(t("too_large", { size: size(config.max_attachment_bytes) }));
      file = null;
    }
    chosenFile = file || null;
    $("ot-file-name").textContent = chosenFile ? chosenFile.name + " (" + size(chosenFile.size) + ")" : "";
    $("ot-file").hidden = !chosenFile;
    $("ot-file-input").value = "";
  }

  var textarea = $("ot-text");
  function grow() {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 2, 128) + "px";
  }

  $("ot-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = textarea.value.replace(/^\s+|\s+$/g, "");
    if (!text && !chosenFile) { return; }
    send(text, chosenFile);
    textarea.value = "";
    grow();
    chooseFile(null);
    textarea.focus();
  });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("ot-form").requestSubmit ? $("ot-form").requestSubmit() : $("ot-form").dispatchEvent(new Event("submit"));
    }
  });
  var lastTyping = 0;
  textarea.addEventListener("input", function () {
    grow();
    var now = Date.now();
    if (socket && socket.readyState === 1 && now - lastTyping > TYPING_EVERY_MS) {
      lastTyping = now;
      socket.send(JSON.stringify({ type: "typing" }));
    }
  });
  $("ot-attach").addEventListener("click", function () { $("ot-file-input").click(); });
  $("ot-file-input").addEventListener("change", function () { chooseFile(this.files && this.files[0]); });
  $("ot-file-remove").addEventListener("click", function () { chooseFile(null); textarea.focus(); });
  $("ot-earlier").addEventListener("click", loadEarlier);
  // A reply button: its words become the visitor's message (they go away with it, see render).
  $("ot-list").addEventListener("click", function (event) {
    var chip = event.target && event.target.closest ? event.target.closest("button.ot-choice") : null;
    if (!chip) { return; }
    send(chip.textContent, null, chip.getAttribute("data-payload"));
    textarea.focus();
  });

  $("ot-prechat-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var name = $("ot-pre-name").value.trim();
    var email = $("ot-pre-email").value.trim();
    if (!name || !EMAIL.test(email)) {
      $("ot-pre-error").textContent = t(name ? "email_invalid" : "name_missing");
      return;
    }
    $("ot-pre-error").textContent = "";
    ensureSession({ name: name, email: email })
      .then(function () { textarea.focus(); })
      .catch(function () { $("ot-pre-error").textContent = t("send_failed"); });
  });

  $("ot-email-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var email = $("ot-email-input").value.trim();
    if (!EMAIL.test(email)) {
      $("ot-email-error").textContent = t("email_invalid");
      return;
    }
    $("ot-email-error").textContent = "";
    request("POST", "/widget/v1/email", { email: email })
      .then(json)
      .then(function (answer) {
        emailSaved = true;
        session.email = (answer && answer.email) || email;
        store({ email_left: session.email });
        $("ot-email-form").hidden = true;
        $("ot-email-intro").textContent = t("email_saved", { email: session.email });
        updatePanels();
      })
      .catch(function () { $("ot-email-error").textContent = t("send_failed"); });
  });

  // --- the socket, and polling when it cannot connect -------------------------------------------
  var socket = null;
  var failures = 0;
  var reconnectTimer = null;
  var pollTimer = null;

  function connect() {
    if (!session || socket) { return; }
    clearTimeout(reconnectTimer);
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + PREFIX + "/widget/v1/ws?token=" + encodeURIComponent(session.visitor_token) +
      "&last_event_id=" + lastEventId;
    var ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      return lost(false);
    }
    // Connected means the server said "ready": a proxy that accepts the upgrade and then drops or
    // swallows the socket counts as a failed attempt, so polling takes over all the same.
    var didOpen = false;
    var silence = null;
    socket = ws;
    ws.onopen = function () {
      silence = setTimeout(function () {
        if (socket === ws) {
          socket = null;
          ws.close();
          lost(false);
        }
      }, READY_WITHIN_MS);
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (!didOpen) {
        didOpen = true;
        clearTimeout(silence);
        failures = 0;
        stopPolling();
        showBanner("");
        retryWaiting();
      }
      received(frame);
    };
    ws.onclose = function (event) {
      clearTimeout(silence);
      if (socket !== ws) { return; }
      socket = null;
      if (event.code === 4401) { expired(); return; }
      lost(didOpen);
    };
  }

  function lost(hadOpened) {
    failures = hadOpened ? 1 : failures + 1;
    if (!session) { return; }
    if (failures >= 3) {
      startPolling();
      reconnectTimer = setTimeout(connect, SOCKET_RETRY_WHILE_POLLING_MS);
      return;
    }
    if (hadOpened) { showBanner(t("offline")); }
    var delay = Math.min(30000, 1000 * Math.pow(2, failures - 1)) * (0.75 + Math.random() / 2);
    reconnectTimer = setTimeout(connect, delay);
  }

  window.addEventListener("online", function () {
    if (session && !socket) { connect(); } // back on the network: no need to wait out the backoff
    retryWaiting();
  });

  function closeSocket() {
    clearTimeout(reconnectTimer);
    if (socket) {
      var ws = socket;
      socket = null;
      ws.close();
    }
  }

  function startPolling() {
    if (pollTimer) { return; }
    var tick = function () {
      if (!session) { pollTimer = null; return; }
      request("GET", "/widget/v1/messages?after=" + lastMessageId())
        .then(json)
        .then(function (page) {
          showBanner("");
          lastEventId = Math.max(lastEventId, page.last_event_id || 0);
          heard(page.items);
          if (page.items.length) { upsert(page.items, true); }
        })
        .catch(function () { showBanner(t("offline")); })
        .then(function () { if (pollTimer) { pollTimer = setTimeout(tick, POLL_MS); } });
    };
    pollTimer = setTimeout(tick, 0);
  }

  function stopPolling() {
    clearTimeout(pollTimer);
    pollTimer = null;
  }

  function received(frame) {
    if (typeof frame.id === "number") { lastEventId = Math.max(lastEventId, frame.id); }
    switch (frame.type) {
      case "message.created":
      case "message.updated":
        if (frame.data && frame.data.message) {
          heard([frame.data.message]);
          upsert([frame.data.message], frame.type === "message.created");
        }
        break;
      case "typing":
        showTyping(frame.name);
        break;
      case "seen":
        items.forEach(function (m) {
          // An agent read the thread: everything the visitor sent until then (or up to up_to).
          if (m.direction === "in" && m.id != null && (frame.up_to == null || m.id <= frame.up_to)) {
            m.status = "seen";
          }
        });
        render();
        break;
      case "resync":
        loadNewest().catch(function () { /* the next frame or poll tries again */ });
        break;
      default:
        break; // ready, ping
    }
  }

  function showBanner(text) {
    var banner = $("ot-conn");
    banner.textContent = text;
    banner.hidden = !text;
  }

  var typingTimer = null;
  function showTyping(name) {
    $("ot-typing").textContent = t("typing", { name: name || t("someone") });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_SHOWN_MS);
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    $("ot-typing").textContent = "";
  }

  // --- unread, read, sound ----------------------------------------------------------------------
  function visible() {
    return isOpen && document.visibilityState !== "hidden";
  }

  function countUnread() {
    var readId = stored().read_id || 0;
    unread = items.filter(function (m) { return m.direction === "out" && m.id != null && m.id > readId; }).length;
    toParent({ type: "onethread:unread", count: visible() ? 0 : unread });
  }

  function markRead() {
    if (!visible() || !session) { return; }
    var outs = items.filter(function (m) { return m.direction === "out" && m.id != null; });
    var newest = outs.reduce(function (max, m) { return Math.max(max, m.id); }, 0);
    if (newest > (stored().read_id || 0)) {
      store({ read_id: newest });
      if (socket && socket.readyState === 1) {
        socket.send(JSON.stringify({ type: "read", message_id: newest }));
      } else {
        request("POST", "/widget/v1/read", { message_id: newest }).catch(function () { /* next time */ });
      }
    }
    countUnread();
  }

  function notify(message) {
    if (visible()) {
      markRead();
    } else {
      countUnread();
    }
    if (stored().sound && (!visible() || !document.hasFocus())) { beep(); }
    if (!visible() && standalone) {
      document.title = t("new_message", { name: (message.author || {}).name || config.name });
    }
  }

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var now = audio.currentTime;
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.type = "sine";
      tone.frequency.setValueAtTime(880, now);
      tone.frequency.setValueAtTime(1320, now + 0.09);
      gain.gain.setValueAtTime(0.0001, now);
      gain.gain.exponentialRampToValueAtTime(0.12, now + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.25);
      tone.connect(gain);
      gain.connect(audio.destination);
      tone.start(now);
      tone.stop(now + 0.26);
    } catch (e) { /* no sound, no harm */ }
  }

  function showSound() {
    var on = !!stored().sound;
    var button = $("ot-sound");
    // A toggle keeps one name ("Sound on") and says its state with aria-pressed; the tooltip
    // says the state in words for those who see it.
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.setAttribute("aria-label", t("sound_on"));
    button.title = t(on ? "sound_on" : "sound_off");
  }
  $("ot-sound").addEventListener("click", function () {
    store({ sound: !stored().sound });
    showSound();
    if (stored().sound) { beep(); } // also unlocks audio, which browsers allow only after a gesture
  });
  showSound();

  document.addEventListener("visibilitychange", function () {
    if (visible()) { markRead(); document.title = config.name; }
  });

  // --- the page around us -----------------------------------------------------------------------
  function toParent(message) {
    if (standalone) { return; }
    if (message.type === "onethread:ready") {
      window.parent.postMessage(message, "*"); // says nothing; the answer tells us the page's origin
    } else if (parentOrigin) {
      window.parent.postMessage(message, parentOrigin);
    }
  }

  function setOpen(open) {
    isOpen = open;
    if (open) {
      markRead();
      if (!$("ot-prechat").hidden) { $("ot-pre-name").focus(); } else { textarea.focus(); }
    } else {
      countUnread();
    }
  }

  function sameIdentity(a, b) {
    return !!a && !!b && a.user_id === b.user_id && a.user_hash === b.user_hash;
  }

  function identify(data) {
    var next = {
      user_id: data.user_id || null,
      user_hash: data.user_hash || null,
      name: data.name || null,
      email: data.email || null
    };
    if (sameIdentity(next, identity)) { return; }
    var state = stored();
    if (state.verified && state.user_id !== next.user_id) {
      // Another customer signed in on this browser: never hand them the previous one's token.
      reset();
    }
    identity = next;
    if (!sameIdentity(identity, sentIdentity) && (session || identity.user_hash || stored().visitor_token)) {
      // The site knows who this is: open (or upgrade) the session now, to show their whole thread.
      Promise.resolve(starting).catch(function () {}).then(function () {
        return startSession();
      }).catch(showLoadFailure);
    }
  }

  if (location.ancestorOrigins && location.ancestorOrigins.length) {
    var top = location.ancestorOrigins[0];
    if (allowedOrigins.indexOf(top) >= 0) { parentOrigin = top; }
  }

  var greeted = null;
  var adopted = false;
  var firstWord = new Promise(function (resolve) { greeted = resolve; });

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || allowedOrigins.indexOf(event.origin) < 0) { return; }
    var data = event.data;
    if (!data || typeof data.type !== "string") { return; }
    var known = parentOrigin;
    parentOrigin = event.origin;
    if (!ownStorage && !adopted && data.state && typeof data.state === "object") {
      adopted = true;
      memory = data.state;
      showSound();
    }
    if (data.type === "onethread:identify") {
      identify(data);
    } else if (data.type === "onethread:open") {
      setOpen(true);
    } else if (data.type === "onethread:close") {
      setOpen(false);
    } else if (data.type === "onethread:reset") {
      reset();
    }
    if (!known) { countUnread(); }
    greeted();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !standalone) {
      toParent({ type: "onethread:close" });
    }
  });
  $("ot-close").addEventListener("click", function () {
    if (standalone) { window.close(); } else { toParent({ type: "onethread:close" }); }
  });
  if (standalone) { $("ot-close").hidden = true; }

  // --- start ------------------------------------------------------------------------------------
  render();
  toParent({ type: "onethread:ready" });
  // The loader answers "ready" at once (with the site's identify, if any); waiting a moment for it
  // avoids opening an anonymous session that an identified one replaces a second later.
  var waited = standalone ? Promise.resolve() : Promise.race([
    firstWord,
    new Promise(function (resolve) { setTimeout(resolve, 800); })
  ]);
  waited.then(function () {
    if (stored().verified && !(identity && identity.user_hash)) {
      // A signed-in customer's session continues only while the site still says who they are: a
      // site that forgets to call reset() on sign-out does not show the next visitor their thread.
      forget();
    }
    if (!session && !starting && (stored().visitor_token || (identity && identity.user_hash))) {
      startSession().catch(showLoadFailure);
    }
  });
})();
