/* Keyboard for the inbox list: j / k move the selection through the threads, Enter opens one.
 *
 * The selection is the focused row link (so Enter is the link's own behaviour and the focus ring
 * shows where it is). It follows its thread when a live update moves the row to the top.
 */
(function () {
  "use strict";

  var selectedId = null;

  function links() {
    return Array.prototype.slice.call(document.querySelectorAll("#thread-list .thread-row > .thread-link"));
  }

  function isTyping(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function select(link) {
    links().forEach(function (other) {
      other.parentElement.classList.remove("is-selected");
    });
    link.parentElement.classList.add("is-selected");
    selectedId = link.parentElement.id;
    link.focus();
  }

  document.addEventListener("keydown", function (event) {
    if ((event.key !== "j" && event.key !== "k") || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (isTyping(event.target)) {
      return;
    }
    var all = links();
    if (all.length === 0) {
      return;
    }
    var current = all.indexOf(document.activeElement);
    if (current === -1 && selectedId) {
      current = all.findIndex(function (link) { return link.parentElement.id === selectedId; });
    }
    var next;
    if (current === -1) {
      next = event.key === "j" ? 0 : all.length - 1;
    } else {
      next = Math.max(0, Math.min(all.length - 1, current + (event.key === "j" ? 1 : -1)));
    }
    event.preventDefault();
    select(all[next]);
  });

  document.addEventListener("focusin", function (event) {
    var link = event.target;
    if (link && link.classList && link.classList.contains("thread-link") && link.closest("#thread-list")) {
      links().forEach(function (other) { other.parentElement.classList.remove("is-selected"); });
      link.parentElement.classList.add("is-selected");
      selectedId = link.parentElement.id;
    }
  });

  // A live update replaced the selected row: keep it selected (and focused, if focus was lost).
  document.addEventListener("htmx:wsAfterMessage", function () {
    if (!selectedId) {
      return;
    }
    var row = document.getElementById(selectedId);
    if (!row) {
      return;
    }
    row.classList.add("is-selected");
    if (document.activeElement === document.body || document.activeElement === null) {
      var link = row.querySelector(".thread-link");
      if (link) {
        link.focus({ preventScroll: true });
      }
    }
  });
})();
