// The thread page's keyboard and canned responses. Everything here is an enhancement: without it
// the forms still post, the timeline still opens at the newest message (CSS column-reverse) and
// older history is a link.
//
// - Enter sends the composer, Shift+Enter is a new line (IME composition is left alone).
// - "e" resolves the thread when the agent is not typing somewhere.
// - "/shortcut" at the start of the text or after a space offers matching canned responses in a
//   listbox under the caret's line: arrows move, Enter or Tab inserts, Escape closes.
(function () {
  "use strict";

  var MAX_SUGGESTIONS = 8;
  var TRIGGER = /(^|\s)\/([a-z0-9_-]*)$/i;
  var canned = [];
  var active = -1;
  var shown = [];

  function readCanned() {
    var source = document.getElementById("canned-responses");
    if (!source) return [];
    try {
      var parsed = JSON.parse(source.textContent || "[]");
      return Array.isArray(parsed) ? parsed : [];
    } catch (error) {
      return [];
    }
  }

  function isTyping(target) {
    if (!target || !(target instanceof Element)) return false;
    return target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']") !== null;
  }

  function textarea() {
    return document.getElementById("composer-text");
  }

  function listbox() {
    return document.getElementById("canned-list");
  }

  function trigger(area) {
    var before = area.value.slice(0, area.selectionStart);
    var match = TRIGGER.exec(before);
    if (!match) return null;
    return { start: before.length - match[2].length - 1, query: match[2].toLowerCase() };
  }

  function close() {
    var list = listbox();
    var area = textarea();
    shown = [];
    active = -1;
    if (list) {
      list.hidden = true;
      list.replaceChildren();
    }
    if (area) area.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    var list = listbox();
    var area = textarea();
    if (!list || !area || shown.length === 0) return;
    active = (index + shown.length) % shown.length;
    Array.prototype.forEach.call(list.children, function (item, i) {
      item.setAttribute("aria-selected", i === active ? "true" : "false");
      if (i === active) {
        area.setAttribute("aria-activedescendant", item.id);
        item.scrollIntoView({ block: "nearest" });
      }
    });
  }

  function suggest() {
    var area = textarea();
    var list = listbox();
    if (!area || !list || canned.length === 0) return;
    var found = trigger(area);
    if (!found) {
      close();
      return;
    }
    shown = canned
      .filter(function (item) {
        return (
          item.shortcut.indexOf(found.query) === 0 ||
          (found.query.length > 1 && item.title.toLowerCase().indexOf(found.query) !== -1)
        );
      })
      .slice(0, MAX_SUGGESTIONS);
    if (shown.length === 0) {
      close();
      return;
    }
    // Built with textContent only: snippet text is never parsed as HTML.
    var items = shown.map(function (item, i) {
      var li = document.createElement("li");
      li.id = "canned-option-" + i;
      li.setAttribute("role", "option");
      var head = document.createElement("span");
      head.className = "shortcut";
      head.textContent = "/" + item.shortcut + " · " + item.title;
      var preview = document.createElement("span");
      preview.className = "preview-text";
      preview.textContent = item.text;
      li.append(head, preview);
      li.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep the caret in the textarea
        insert(i);
      });
      return li;
    });
    list.replaceChildren.apply(list, items);
    list.hidden = false;
    highlight(0);
  }

  function insert(index) {
    var area = textarea();
    var item = shown[index];
    if (!area || !item) return;
    var found = trigger(area);
    if (!found) return close();
    var after = area.value.slice(area.selectionStart);
    area.value = area.value.slice(0, found.start) + item.text + after;
    var caret = found.start + item.text.length;
    area.setSelectionRange(caret, caret);
    close();
    area.focus();
  }

  function onComposerKey(event) {
    var list = listbox();
    var open = list && !list.hidden && shown.length > 0;
    if (open) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        highlight(active + (event.key === "ArrowDown" ? 1 : -1));
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        insert(active < 0 ? 0 : active);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        close();
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey && !event.isComposing) {
      event.preventDefault();
      var form = event.target.form;
      if (form) form.requestSubmit();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.target && event.target.id === "composer-text") {
      onComposerKey(event);
      return;
    }
    if (event.key === "e" && !event.altKey && !event.ctrlKey && !event.metaKey && !isTyping(event.target)) {
      var resolve = document.getElementById("resolve-button");
      if (resolve) {
        event.preventDefault();
        resolve.click();
      }
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "composer-text") suggest();
  });

  document.addEventListener("focusout", function (event) {
    if (event.target && event.target.id === "composer-text") close();
  });

  // The live socket may have shown the agent's own note or reply before the form's response comes
  // back with it: the response's copy goes again, right after the swap (before the page is painted;
  // htmx 2 hands no parsed fragment to htmx:beforeSwap for the main target). The earlier one stays.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "timeline" || event.target !== target) return;
    var seen = Object.create(null);
    Array.prototype.slice.call(target.children).forEach(function (entry) {
      if (!entry.id) return;
      if (seen[entry.id]) entry.remove();
      else seen[entry.id] = true;
    });
  });

  // After the agent's own reply, note or call lands in the timeline, show it: the bottom of a
  // column-reverse scroller is scrollTop 0.
  document.addEventListener("htmx:afterSwap", function (event) {
    var source = event.detail && event.detail.requestConfig && event.detail.requestConfig.elt;
    if (source && source.tagName === "FORM" && event.detail.target && event.detail.target.id === "timeline") {
      var scroller = document.querySelector(".timeline-scroller");
      if (scroller) scroller.scrollTop = 0;
    }
  });

  canned = readCanned();
})();
