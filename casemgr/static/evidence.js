// Evidence upload: drag and drop or choose several files; they wait in the queue (each can be
// removed) while the analyst fills in where they come from, and go when "Upload" is pressed. Each
// is posted on its own with XMLHttpRequest (for upload progress), shows a progress bar and can be
// cancelled. The CSRF token goes in the X-CSRFToken header (the server reads the body as a stream).
(function () {
  "use strict";
  const section = document.querySelector("[data-upload-url]");
  if (!section) { return; }
  const url = section.dataset.uploadUrl;
  const csrf = section.dataset.csrf;
  const maxBytes = Number(section.dataset.maxBytes);
  const drop = document.getElementById("evidence-drop");
  const input = document.getElementById("evidence-files");
  const form = document.getElementById("evidence-upload-form");
  const queue = document.getElementById("evidence-queue");
  const send = document.getElementById("evidence-send");
  const hint = document.getElementById("evidence-hint");
  const waiting = [];  // {file, ui} chosen or dropped, not sent yet
  let running = 0;
  let succeeded = 0;

  function metadata() {
    const data = {};
    for (const name of ["description", "collected_by", "collected_at", "source", "acquisition_method"]) {
      const field = form.elements.namedItem(name);
      if (field && field.value.trim()) {
        data[name] = name === "collected_at" ? field.value + ":00Z" : field.value;
      }
    }
    return data;
  }

  function row(file) {
    const li = document.createElement("li");
    li.setAttribute("data-testid", "upload-item");
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name + " ";
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("data-testid", "upload-progress");
    const status = document.createElement("span");
    status.className = "upload-status";
    status.setAttribute("data-testid", "upload-status");
    status.textContent = " ready: fill in where it comes from, then press Upload";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary outline";
    remove.textContent = "Remove";
    remove.setAttribute("data-testid", "upload-remove");
    li.dataset.state = "queued";
    li.append(name, bar, status, remove);
    queue.append(li);
    return { li, bar, status, remove };
  }

  function cancelButton(ui) {
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary outline";
    cancel.textContent = "Cancel";
    cancel.setAttribute("data-testid", "upload-cancel");
    ui.remove.replaceWith(cancel);
    ui.cancel = cancel;
    ui.li.dataset.state = "uploading";
  }

  function refresh() {
    send.disabled = waiting.length === 0;
    hint.textContent = waiting.length === 0 ? "Choose or drop files first."
      : waiting.length + (waiting.length === 1 ? " file" : " files") + " ready to upload.";
  }

  function enqueue(files) {
    for (const file of files) {
      const ui = row(file);
      const entry = { file, ui };
      waiting.push(entry);
      ui.remove.addEventListener("click", function () {
        waiting.splice(waiting.indexOf(entry), 1);
        ui.li.remove();
        refresh();
      });
    }
    refresh();
  }

  function finished() {
    running -= 1;
    if (running === 0 && succeeded > 0) {
      // Show the new items with their hashes, as the server recorded them.
      window.setTimeout(function () { window.location.reload(); }, 600);
    }
  }

  function upload(file, ui, fields) {
    if (file.size > maxBytes) {
      ui.status.textContent = " too large (the limit is " + maxBytes + " bytes)";
      ui.li.dataset.state = "failed";
      ui.remove.remove();
      return;
    }
    cancelButton(ui);
    const body = new FormData();
    for (const [k, v] of Object.entries(fields)) { body.append(k, v); }
    body.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        const pct = Math.floor((e.loaded / e.total) * 100);
        ui.bar.value = pct;
        ui.status.textContent = " " + pct + "%";
      }
    });
    xhr.addEventListener("load", function () {
      ui.cancel.remove();
      if (xhr.status === 201) {
        const item = JSON.parse(xhr.responseText);
        ui.bar.value = 100;
        ui.status.textContent = " stored, SHA-256 " + item.sha256;
        ui.li.dataset.state = "done";
        succeeded += 1;
      } else {
        let message = xhr.status + " " + xhr.statusText;
        try { message = JSON.parse(xhr.responseText).error.message; } catch (err) { /* an HTML error page */ }
        ui.status.textContent = " failed: " + message;
        ui.li.dataset.state = "failed";
      }
      finished();
    });
    xhr.addEventListener("error", function () {
      ui.cancel.remove();
      ui.status.textContent = " failed: the connection broke";
      ui.li.dataset.state = "failed";
      finished();
    });
    xhr.addEventListener("abort", function () {
      ui.status.textContent = " cancelled";
      ui.li.dataset.state = "cancelled";
      ui.cancel.remove();
      finished();
    });
    ui.cancel.addEventListener("click", function () { xhr.abort(); });
    running += 1;
    ui.status.textContent = " 0%";
    xhr.send(body);
  }

  function start() {
    const fields = metadata();
    for (const entry of waiting.splice(0)) { upload(entry.file, entry.ui, fields); }
    refresh();
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    start();
  });
  input.addEventListener("change", function () {
    enqueue(Array.from(input.files));
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.add("dragging"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, function () { drop.classList.remove("dragging"); });
  }
  drop.addEventListener("drop", function (e) {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) { enqueue(Array.from(e.dataTransfer.files)); }
  });
  refresh();
}());
