// A form the server refused before its handler ran gets one reason at its top (see
// app/domain/console/problems.py): drop the previous one so reasons do not pile up.
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (event.detail.xhr.getResponseHeader("HX-Retarget") !== "closest form" || !target) return;
  target.querySelectorAll(":scope > .form-problem").forEach((old) => old.remove());
});

// A copy button (data-copy="#field-id") copies that field's text and says so for a moment.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  const field = button && document.querySelector(button.dataset.copy);
  if (!field) return;
  field.select();
  const done = () => {
    const label = button.textContent;
    button.textContent = button.dataset.copied || label;
    setTimeout(() => { button.textContent = label; }, 2000);
  };
  if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, () => {});
  else if (document.execCommand("copy")) done();
});
