// The demo shop's "server" signed Anna in: hand her identity to the widget, as a real site's
// own code would after its login.
(function () {
  "use strict";
  var el = document.getElementById("demo-customer");
  if (!el) return;
  var identity = {
    user_id: el.dataset.userId,
    user_hash: el.dataset.userHash,
    name: el.dataset.name,
    email: el.dataset.email,
  };
  window.OneThread = window.OneThread || { q: [] };
  if (typeof window.OneThread.identify === "function") {
    window.OneThread.identify(identity);
  } else {
    (window.OneThread.q = window.OneThread.q || []).push(["identify", identity]);
  }
})();
