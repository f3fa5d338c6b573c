/* OneThread chat widget: the loader a company pastes into its site.
 *
 *   <script src="{PUBLIC_URL}/widget.js" data-site="{webchat account id}" async></script>
 *
 * It draws only the launcher button (in a closed shadow root, so the site's CSS cannot reach it
 * and ours cannot leak out) and an iframe with the chat itself, which is our own page on our own
 * origin. The two talk by postMessage with exact origins.
 *
 * Calls made before this script has loaded are queued with a stub:
 *
 *   <script>window.OneThread=window.OneThread||{q:[],identify:function(u){this.q.push(["identify",u])},
 *     open:function(){this.q.push(["open"])},close:function(){this.q.push(["close"])}};</script>
 *
 * then, at any time: OneThread.identify({user_id, user_hash, name, email}), OneThread.open(),
 * OneThread.close(), and OneThread.reset() on the site's sign-out. (Any stub whose `q` holds
 * ["identify", {...}] arrays works too.)
 *
 * No framework, no innerHTML (sites with Trusted Types keep working), no inline style markup
 * (styles are set through the CSSOM or a constructed stylesheet, which a site's CSP allows).
 */
(function (w, d) {
  "use strict";

  var previous = w.OneThread;
  if (previous && previous.loaded) {
    return; // the snippet pasted twice: one launcher is enough
  }
  var script = d.currentScript || d.querySelector("script[data-site]");
  var site = script && script.getAttribute("data-site");
  if (!site || !script.src) {
    return;
  }
  var base = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  var frameOrigin = new URL(base, w.location.href).origin;
  var SVG = "http://www.w3.org/2000/svg";
  var ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
  var ICON_CLOSE = "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z";
  var CSS =
    ":host{all:initial}" +
    ".w{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
    ".l{position:fixed;bottom:20px;right:20px;left:auto;width:56px;height:56px;margin:0;padding:0;" +
    "border:0;border-radius:50%;background:var(--c);color:var(--t);cursor:pointer;display:flex;" +
    "align-items:center;justify-content:center;box-shadow:0 4px 14px rgba(0,0,0,.28);z-index:2;" +
    "transition:transform .15s}" +
    ".l:hover{transform:scale(1.06)}" +
    ".l:focus{outline:none}" +
    ".l:focus-visible{outline:3px solid var(--c);outline-offset:3px;box-shadow:0 0 0 3px #fff,0 4px 14px rgba(0,0,0,.28)}" +
    ".l svg{width:28px;height:28px;fill:currentColor;display:block}" +
    ".left .l,.left .f{left:20px;right:auto}" +
    ".b{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;box-sizing:border-box;" +
    "border:2px solid #fff;border-radius:11px;background:#c4161c;color:#fff;font:700 12px/18px system-ui,sans-serif;" +
    "text-align:center}" +
    ".b[hidden],.open .b{display:none}" +
    ".f{position:fixed;bottom:88px;right:20px;left:auto;width:380px;height:600px;max-width:calc(100vw - 40px);" +
    "max-height:calc(100vh - 108px);margin:0;padding:0;border:0;border-radius:14px;background:#fff;" +
    "box-shadow:0 10px 40px rgba(0,0,0,.3);display:block;visibility:hidden;opacity:0;z-index:1;" +
    "transform:translateY(12px);transition:opacity .15s,transform .15s,visibility 0s .15s}" +
    ".open .f{visibility:visible;opacity:1;transform:none;transition:opacity .15s,transform .15s}" +
    "@media (max-width:480px){.open .f{top:0;left:0;right:0;bottom:0;width:100%;height:100%;" +
    "max-width:none;max-height:none;border-radius:0}.open .l{display:none}}" +
    "@media (prefers-reduced-motion:reduce){.l,.f,.open .f{transition:none}}";

  var config = null;
  var identity = null;
  var wantOpen = false;
  var isOpen = false;
  var ready = false;
  var unread = 0;
  var wrap, launcher, badge, frame, icon;

  function text(name, values) {
    var s = (config && config.strings && config.strings[name]) || name;
    return s.replace(/%\((\w+)\)s/g, function (_, key) { return String(values[key]); });
  }

  // The frame's state (visitor token, read mark, sound) when the browser denies the frame its own
  // storage: kept here, in the site's localStorage, handed over in the first message.
  var STATE_KEY = "onethread:" + site;
  function savedState() {
    try { return JSON.parse(w.localStorage.getItem(STATE_KEY) || "null"); } catch (e) { return null; }
  }
  function saveState(state) {
    try { w.localStorage.setItem(STATE_KEY, JSON.stringify(state)); } catch (e) { /* this page only */ }
  }

  function toFrame(message) {
    if (ready && frame && frame.contentWindow) {
      frame.contentWindow.postMessage(message, frameOrigin);
    }
  }

  var api = {
    loaded: true,
    q: [],
    identify: function (user) {
      user = user || {};
      identity = {
        type: "onethread:identify",
        user_id: user.user_id == null ? null : String(user.user_id),
        user_hash: user.user_hash == null ? null : String(user.user_hash),
        name: user.name == null ? null : String(user.name),
        email: user.email == null ? null : String(user.email)
      };
      toFrame(identity);
    },
    open: function () {
      if (frame) { setOpen(true, false); } else { wantOpen = true; }
    },
    close: function () {
      if (frame) { setOpen(false, false); } else { wantOpen = false; }
    },
    // On the site's sign-out: forget the visitor, so the next person at this browser starts afresh.
    reset: function () {
      identity = null;
      try { w.localStorage.removeItem(STATE_KEY); } catch (e) { /* nothing kept */ }
      toFrame({ type: "onethread:reset" });
      unread = 0;
      if (launcher) { showUnread(); }
    }
  };
  w.OneThread = api;
  var queued = (previous && previous.q) || [];
  for (var i = 0; i < queued.length; i++) {
    var call = queued[i];
    var method = call && call[0];
    if (method === "identify" || method === "open" || method === "close" || method === "reset") {
      api[method].apply(api, Array.prototype.slice.call(call, 1));
    }
  }

  function important(element, styles) {
    for (var name in styles) {
      element.style.setProperty(name, styles[name], "important");
    }
  }

  function path(shape) {
    var svg = d.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var p = d.createElementNS(SVG, "path");
    p.setAttribute("d", shape);
    svg.appendChild(p);
    return svg;
  }

  // Dark text on light account colours, white on dark ones (WCAG relative luminance).
  function onColor(hex) {
    var c = [1, 3, 5].map(function (i) {
      var v = parseInt(hex.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    var lum = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    return lum > 0.4 ? "#111111" : "#ffffff";
  }

  function pageLanguage() {
    return (d.documentElement.lang || navigator.language || "en").slice(0, 2).toLowerCase();
  }

  function showUnread() {
    badge.textContent = unread > 9 ? "9+" : String(unread);
    badge.hidden = unread < 1;
    var label = text(isOpen ? "close" : "open", {});
    if (unread > 0 && !isOpen) {
      label += " (" + text("unread", { count: unread }) + ")";
    }
    launcher.setAttribute("aria-label", label);
  }

  function setOpen(open, fromFrame) {
    isOpen = open;
    wrap.classList.toggle("open", open);
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.replaceChild(path(open ? ICON_CLOSE : ICON_CHAT), icon);
    icon = launcher.firstChild;
    frame.setAttribute("aria-hidden", open ? "false" : "true");
    frame.tabIndex = open ? 0 : -1;
    showUnread();
    toFrame({ type: open ? "onethread:open" : "onethread:close" });
    if (open) {
      frame.focus();
    } else if (fromFrame) {
      launcher.focus();
    }
  }

  function build() {
    var host = d.createElement("onethread-widget");
    important(host, {
      position: "fixed", "z-index": "2147483000", top: "auto", left: "auto", bottom: "0", right: "0",
      width: "0", height: "0", margin: "0", padding: "0", border: "0", display: "block",
      visibility: "visible", opacity: "1", transform: "none", filter: "none", contain: "none"
    });
    var root = host.attachShadow({ mode: "closed" });
    if (root.adoptedStyleSheets !== undefined && w.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      var style = d.createElement("style");
      style.textContent = CSS;
      root.appendChild(style);
    }
    wrap = d.createElement("div");
    wrap.className = "w " + (config.position === "left" ? "left" : "right");
    wrap.style.setProperty("--c", config.color);
    wrap.style.setProperty("--t", onColor(config.color));

    frame = d.createElement("iframe");
    frame.className = "f";
    frame.title = config.name;
    frame.tabIndex = -1;
    frame.setAttribute("aria-hidden", "true");
    frame.src = base + "/widget/v1/frame/" + encodeURIComponent(site) + "?lang=" + encodeURIComponent(config.lang);

    launcher = d.createElement("button");
    launcher.type = "button";
    launcher.className = "l";
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-haspopup", "dialog");
    launcher.appendChild(path(ICON_CHAT));
    icon = launcher.firstChild;
    badge = d.createElement("span");
    badge.className = "b";
    badge.setAttribute("aria-hidden", "true");
    launcher.appendChild(badge);
    launcher.addEventListener("click", function () { setOpen(!isOpen, false); });
    wrap.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && isOpen) { setOpen(false, true); }
    });

    wrap.appendChild(frame);
    wrap.appendChild(launcher);
    root.appendChild(wrap);
    d.body.appendChild(host);
    showUnread();
    if (wantOpen) { setOpen(true, false); }
  }

  w.addEventListener("message", function (event) {
    if (!frame || event.source !== frame.contentWindow || event.origin !== frameOrigin) {
      return;
    }
    var data = event.data || {};
    if (data.type === "onethread:ready") {
      ready = true;
      // The first word from the page tells the frame which origin it talks to.
      var hello = { type: "onethread:hello", state: savedState() };
      if (identity) {
        for (var name in identity) { hello[name] = identity[name]; }
      }
      toFrame(hello);
      if (isOpen) { toFrame({ type: "onethread:open" }); }
    } else if (data.type === "onethread:unread") {
      unread = Math.max(0, parseInt(data.count, 10) || 0);
      showUnread();
    } else if (data.type === "onethread:close") {
      setOpen(false, true);
    } else if (data.type === "onethread:store" && data.state && typeof data.state === "object") {
      saveState(data.state);
    }
  });

  var url = base + "/widget/v1/config?site=" + encodeURIComponent(site) + "&lang=" + encodeURIComponent(pageLanguage());
  fetch(url, { credentials: "omit" })
    .then(function (response) {
      if (!response.ok) {
        return response.json().then(function (problem) {
          throw new Error(problem.detail || "config " + response.status);
        }, function () { throw new Error("config " + response.status); });
      }
      return response.json();
    })
    .then(function (body) {
      config = body;
      if (d.body) { build(); } else { d.addEventListener("DOMContentLoaded", build); }
    })
    .catch(function (error) {
      if (w.console) { w.console.warn("OneThread widget not loaded:", error.message); }
    });
})(window, document);
