// crmhub console: small progressive enhancement (our own; no library). Every page works without it.
"use strict";

function liveProgress() {
  const box = document.getElementById("live");
  if (!box || !window.EventSource) return;
  const source = new EventSource(box.dataset.progressUrl);
  const started = Date.now();
  let firstDone = null;
  const text = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
  const show = (state) => {
    const bar = document.getElementById("bar");
    if (state.total) { bar.max = state.total; }
    bar.value = state.done;
    text("done", state.done);
    text("total", state.total || "?");
    if (firstDone === null) firstDone = state.done;
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? (state.done - firstDone) / seconds : 0;
    text("rate", rate > 0 ? rate.toFixed(0) : "—");
    text("eta", rate > 0 && state.total ? Math.max(0, (state.total - state.done) / rate).toFixed(0) + " s" : "—");
    const counts = Object.entries(state.counts || {}).filter(([, v]) => v).map(([k, v]) => k + " " + v);
    text("live-counts", counts.join(", "));
    text("run-status", state.status.replace(/_/g, " "));
  };
  source.addEventListener("progress", (e) => show(JSON.parse(e.data)));
  source.addEventListener("end", (e) => {
    show(JSON.parse(e.data));
    source.close();
    window.location.reload();
  });
}

function confirmByName() {
  document.querySelectorAll("form.confirm-name").forEach((form) => {
    const input = form.querySelector("input[name=confirm_name]");
    const button = form.querySelector("button[type=submit]");
    const sync = () => { button.disabled = input.value.trim() !== form.dataset.name; };
    input.addEventListener("input", sync);
    sync();
  });
}

function fieldSearch() {
  const search = document.getElementById("field-search");
  if (!search) return;
  search.addEventListener("input", () => {
    const needle = search.value.trim().toLowerCase();
    document.querySelectorAll(".field-list label").forEach((label) => {
      label.hidden = needle !== "" && !label.textContent.toLowerCase().includes(needle);
    });
  });
}

function liveChecks() {
  document.querySelectorAll("[data-check]").forEach((input) => {
    const out = document.getElementById(input.dataset.result);
    let timer = null;
    const run = () => {
      const form = input.form;
      const params = new URLSearchParams({ kind: input.dataset.check, expr: input.value });
      ["connection", "remote_object", "object_type", "direction"].forEach((name) => {
        const field = form && form.elements.namedItem(name);
        if (field && field.value) params.set(name, field.value);
      });
      form && form.querySelectorAll("input[name=fields]:checked").forEach((f) => params.append("fields", f.value));
      fetch("/build-check?" + params.toString(), { credentials: "same-origin" })
        .then((r) => r.json())
        .then((answer) => {
          out.textContent = answer.ok ? (answer.type ? "OK: " + answer.type : "OK") : answer.message;
          out.classList.toggle("problem", !answer.ok);
          out.classList.toggle("ok", answer.ok);
          input.setAttribute("aria-invalid", answer.ok ? "false" : "true");
        })
        .catch(() => {});
    };
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 250); });
  });
}

function functionEditor() {
  document.querySelectorAll("[data-insert-into]").forEach((picker) => {
    picker.addEventListener("change", () => {
      const target = document.getElementById(picker.dataset.insertInto);
      if (!target || !picker.value) return;
      target.value = (target.value ? target.value + " " : "") + picker.value;
      target.dispatchEvent(new Event("input"));
      target.focus();
      picker.value = "";
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  liveProgress();
  confirmByName();
  fieldSearch();
  liveChecks();
  functionEditor();
});
