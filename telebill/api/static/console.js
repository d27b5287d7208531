// The console's buttons: each form with data-api="METHOD /path" is sent to the JSON API with
// the session's CSRF token; the template editor previews the text being edited as it changes.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

function flash(text, ok) {
  const box = document.getElementById("flash");
  box.textContent = text;
  box.className = ok ? "ok" : "error";
}

function valueOf(input) {
  const type = input.dataset.type;
  if (type === "bool") return input.type === "checkbox" ? input.checked : input.value === "true";
  const text = input.value.trim();
  if (text === "") return null;
  if (type === "int") return Number(text);
  if (type === "int-list") return text.split(/[\s,]+/).filter(Boolean).map(Number);
  if (input.type === "number") return Number(text);
  return text;
}

function bodyOf(form, withPreviewOnly) {
  const body = {};
  for (const input of form.querySelectorAll("input[name], textarea[name], select[name]")) {
    if (input.hasAttribute("data-preview-only") && !withPreviewOnly) continue;
    const value = valueOf(input);
    if (value !== null) body[input.name] = value;
  }
  return body;
}

function explain(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return JSON.stringify(detail);
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: method === "GET" || method === "DELETE" ? undefined : JSON.stringify(body || {}),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(explain(data.detail) || `HTTP ${response.status}`);
  return data;
}

function summary(data) {
  const parts = [];
  for (const [key, value] of Object.entries(data)) {
    if (value !== null && typeof value !== "object") parts.push(`${key}: ${value}`);
    else if (Array.isArray(value)) parts.push(`${key}: ${value.length ? JSON.stringify(value) : "none"}`);
  }
  return parts.join(" · ");
}

// Only the forms the server put on this page carry its nonce; anything else is not acted on.
const pageNonce = () => document.querySelector('meta[name="action-nonce"]').content;
const ours = (form) => Boolean(form.dataset.nonce) && form.dataset.nonce === pageNonce();

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!ours(form)) {
    if (form.dataset.api || form.hasAttribute("data-logout")) event.preventDefault();
    return;
  }
  if (form.hasAttribute("data-logout")) {
    event.preventDefault();
    await fetch("/console/logout", { method: "POST", headers: { "X-CSRF-Token": csrf() } });
    window.location.assign("/console/login");
    return;
  }
  if (!form.dataset.api) return;
  event.preventDefault();
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  const [method, path] = form.dataset.api.split(" ");
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  try {
    const data = await call(method, path, bodyOf(form, false));
    flash(`완료 Done — ${summary(data)}`, true);
    setTimeout(() => window.location.reload(), 1200);
  } catch (error) {
    flash(`거부됨 Refused — ${error.message}`, false);
    if (button) button.disabled = false;
  }
});

function startPreview(editor) {
  const form = editor.querySelector("form");
  const meta = document.getElementById("preview-meta");
  const problem = document.getElementById("preview-error");
  let timer = null;
  let asked = 0;
  async function render() {
    const mine = ++asked;
    const body = bodyOf(form, true);
    delete body.activate;
    try {
      const m = await call("POST", editor.dataset.preview, body);
      if (mine !== asked) return; // an older answer arriving after a newer one
      problem.hidden = true;
      const encoding = m.kind === "SMS" || m.kind === "LMS" ? " (EUC-KR)" : "";
      meta.textContent = `${m.kind} · ${m.size_bytes.toLocaleString()} bytes${encoding}`;
      const frame = document.getElementById("preview-frame");
      if (frame) {
        frame.src = m.frame; // served with a policy of its own (inline styles, no scripts)
        document.getElementById("preview-subject").textContent = `제목 Subject: ${m.subject || ""}`;
      } else {
        // push: its title above the body; AlimTalk: its button; both: where they lead
        const head = m.subject ? `[${m.subject}]\n` : "";
        const link = m.link ? `\n\n→ ${m.link}` : "";
        document.getElementById("preview-text").textContent = head + m.body + link;
      }
    } catch (error) {
      if (mine !== asked) return;
      problem.textContent = error.message;
      problem.hidden = false;
    }
  }
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(render, 300);
  });
  render();
}

document.addEventListener("DOMContentLoaded", () => {
  const editor = document.querySelector("[data-preview]");
  if (editor && ours(editor)) startPreview(editor);
});
