// The widget settings page (templates/pages/settings/widget.html): the preview follows the color
// and position fields as the admin changes them, before saving. Delegated from document, so it
// keeps working after htmx swaps the form in again.
(() => {
  const COLOR = /^#[0-9a-fA-F]{6}$/;

  function update(form) {
    const launcher = document.querySelector("[data-preview-launcher]");
    if (!launcher || !form) return;
    const color = form.querySelector("input[name=color]");
    if (color && COLOR.test(color.value)) {
      launcher.querySelector("[data-preview-color]").setAttribute("fill", color.value);
    }
    const position = form.querySelector("input[name=position]:checked");
    if (position) launcher.setAttribute("transform", `translate(${position.value === "left" ? 28 : 212} 124)`);
  }

  const follow = (event) => {
    if (event.target.matches?.(".widget-form input[name=color], .widget-form input[name=position]")) {
      update(event.target.form);
    }
  };
  document.addEventListener("input", follow);
  document.addEventListener("change", follow);
})();
