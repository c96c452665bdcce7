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
