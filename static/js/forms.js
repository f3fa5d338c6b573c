// A form the server refused before its handler ran gets one reason at its top (see
// app/domain/console/problems.py): drop the previous one so reasons do not pile up.
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (event.detail.xhr.getResponseHeader("HX-Retarget") !== "closest form" || !target) return;
  target.querySelectorAll(":scope > .form-problem").forEach((old) => old.remove());
});
