// Case forms: show only the subcategories of the chosen category. Without this script every
// subcategory stays listed (grouped by category) and the server checks the pair.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const category of document.querySelectorAll("select[data-subcategory]")) {
    const sub = document.getElementById(category.dataset.subcategory);
    if (!sub) continue;
    const sync = () => {
      for (const group of sub.querySelectorAll("optgroup")) {
        const match = group.dataset.category === category.value;
        group.hidden = !match;
        group.disabled = !match;
      }
      const chosen = sub.selectedOptions[0];
      if (chosen && chosen.parentElement.tagName === "OPTGROUP" && chosen.parentElement.disabled) sub.value = "";
    };
    category.addEventListener("change", sync);
    sync();
  }
});

// Custom fields: show (and send) only those of the chosen category. Without this script every field is
// shown and the server refuses a value given for another category's field, naming it.
document.addEventListener("DOMContentLoaded", () => {
  const category = document.querySelector("select[name=category]");
  const fields = document.querySelectorAll(".custom-field[data-category]");
  if (!category || !fields.length) return;
  const sync = () => {
    for (const field of fields) {
      const match = !field.dataset.category || field.dataset.category === category.value;
      field.hidden = !match;
      for (const input of field.querySelectorAll("input, select, textarea")) input.disabled = !match;
    }
  };
  category.addEventListener("change", sync);
  sync();
});
