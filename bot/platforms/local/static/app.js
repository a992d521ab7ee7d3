// Local workspace: renders the bot's neutral messages (the same data the Slack and
// Mattermost renderers get) and sends what you type to the same router.
"use strict";
const state = { channels: [], users: [], channel: null, user: null, thread: null,
                version: 0, threadVersion: 0, messages: new Map(), polling: 0 };
const $ = (id) => document.getElementById(id);
// The page's own words come from the bot's catalogs in the selected user's language.
const i18n = { locale: "en", strings: {} };
const tr = (key, fallback) => i18n.strings[key] || fallback;

function plural(n) {
  const forms = i18n.strings.replies || {};
  const cat = new Intl.PluralRules(i18n.locale).select(n);
  const form = forms[cat] || forms.other || forms.many || (n === 1 ? "{n} reply" : "{n} replies");
  return form.replace("{n}", String(n));
}

async function loadStrings() {
  const data = await api("/api/local/strings?" + new URLSearchParams({ user: state.user || "" }));
  const changed = data.locale !== i18n.locale || !Object.keys(i18n.strings).length;
  i18n.locale = data.locale; i18n.strings = data.strings;
  document.documentElement.lang = data.locale;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = tr(el.dataset.i18n, el.textContent);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = tr(el.dataset.i18nPlaceholder, el.placeholder);
  for (const el of document.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", tr(el.dataset.i18nAriaLabel, el.getAttribute("aria-label")));
  return changed;
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
// The neutral Markdown dialect: **bold**, _italic_, `code`, ```pre```, [label](url), user:/channel: links.
function md(text) {
  let s = esc(text || "");
  s = s.replace(/```([\s\S]*?)```/g, (_, c) => "<pre>" + c + "</pre>");
  s = s.replace(/`([^`\n]+)`/g, "<code>$1</code>");
  s = s.replace(/\*\*(.+?)\*\*/g, "<b>$1</b>");
  s = s.replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,!?:;]|$)/g, "$1<i>$2</i>");
  s = s.replace(/~~(.+?)~~/g, "<s>$1</s>");
  s = s.replace(/(^|[^\\])\[([^\]\n]*?)\]\(([^)\s]+)\)/g, (m, pre, label, url) => {
    if (url.startsWith("user:")) return pre + '<span class="mention">' + label + "</span>";
    if (url.startsWith("channel:")) return pre + '<span class="mention">' + label + "</span>";
    if (!/^(https?:|\/)/.test(url)) return m;
    return pre + '<a href="' + url + '" target="_blank" rel="noopener">' + (label || url) + "</a>";
  });
  return s.replace(/\\([\[\]])/g, "$1");
}

async function api(path, body) {
  const opts = body ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : {};
  const r = await fetch(path, opts);
  if (!r.ok) throw new Error(await r.text());
  return r.json();
}

function renderBlocks(msg, m) {
  const div = document.createElement("div");
  div.className = "blocks";
  for (const b of msg.blocks || []) {
    if (b.type === "header") div.insertAdjacentHTML("beforeend", '<div class="header">' + esc(b.text) + "</div>");
    else if (b.type === "section") {
      if (b.text) div.insertAdjacentHTML("beforeend", '<div class="section">' + md(b.text) + "</div>");
      if (b.fields && b.fields.length) {
        div.insertAdjacentHTML("beforeend", '<div class="fields">' + b.fields.map(([k, v]) => "<div><b>" + md(k) + "</b><br>" + md(v) + "</div>").join("") + "</div>");
      }
    } else if (b.type === "context") div.insertAdjacentHTML("beforeend", '<div class="context">' + md(b.text) + "</div>");
    else if (b.type === "divider") div.insertAdjacentHTML("beforeend", "<hr>");
    else if (b.type === "image") div.insertAdjacentHTML("beforeend", '<img alt="' + esc(b.alt) + '" src="' + esc(b.url) + '">');
    else if (b.type === "actions") {
      const row = document.createElement("div");
      row.className = "actions";
      for (const btn of b.buttons) {
        const el = document.createElement("button");
        el.textContent = btn.label;
        el.className = btn.style || "default";
        el.dataset.actionId = btn.action_id;
        el.onclick = () => click(btn, m);
        row.appendChild(el);
      }
      div.appendChild(row);
    }
  }
  for (const a of msg.attachments || []) {
    if ((a.filename || "").endsWith(".png")) div.insertAdjacentHTML("beforeend", '<img alt="' + esc(a.title) + '" src="data:image/png;base64,' + a.content_b64 + '">');
  }
  if (msg.form) div.appendChild(renderForm(msg.form, m));
  else if (!(msg.blocks || []).length) div.insertAdjacentHTML("beforeend", '<div class="section">' + md(msg.text) + "</div>");
  return div;
}

// A form the bot opened (a Slack modal / Mattermost dialog elsewhere): fields, field errors.
function renderForm(f, m) {
  const form = document.createElement("form");
  form.className = "copilot-form";
  form.dataset.formId = f.form_id;
  form.insertAdjacentHTML("beforeend", '<div class="header">' + esc(f.title) + "</div>");
  if (f.intro) form.insertAdjacentHTML("beforeend", '<div class="section">' + md(f.intro) + "</div>");
  for (const field of f.fields) {
    const row = document.createElement("label");
    row.className = "field";
    row.insertAdjacentHTML("beforeend", "<b>" + esc(field.label) + (field.required ? " *" : "") + "</b>" +
      (field.help ? '<span class="help">' + esc(field.help) + "</span>" : ""));
    let input;
    if (field.type === "select" || field.type === "yesno") {
      input = document.createElement("select");
      input.insertAdjacentHTML("beforeend", '<option value=""></option>');
      for (const c of field.choices) input.insertAdjacentHTML("beforeend", '<option value="' + esc(c.value) + '">' + esc(c.label) + "</option>");
    } else if (field.type === "textarea") input = document.createElement("textarea");
    else { input = document.createElement("input"); input.type = field.type === "email" ? "email" : field.type === "url" ? "url" : "text"; }
    input.name = field.name;
    input.value = field.initial || "";
    if (field.placeholder) input.placeholder = field.placeholder;
    row.appendChild(input);
    row.insertAdjacentHTML("beforeend", '<span class="error" data-error="' + esc(field.name) + '"></span>');
    form.appendChild(row);
  }
  const submit = document.createElement("button");
  submit.type = "submit"; submit.className = "primary"; submit.textContent = f.submit_label || "OK";
  form.appendChild(submit);
  form.noValidate = true;  // the bot validates, like Slack and Mattermost do
  form.onsubmit = async (e) => {
    e.preventDefault();
    const values = {};
    for (const field of f.fields) values[field.name] = form.elements[field.name].value;
    const r = await api("/api/local/form", { user: state.user, form_id: f.form_id, state: f.state, values, message_id: m.id });
    for (const el of form.querySelectorAll("[data-error]")) el.textContent = (r.errors || {})[el.dataset.error] || "";
    if (r.ok) form.remove();
  };
  return form;
}

function confirmDialog(c) {
  return new Promise((resolve) => {
    $("confirm-title").textContent = c.title; $("confirm-text").innerHTML = md(c.text);
    $("confirm-yes").textContent = c.confirm; $("confirm-no").textContent = c.deny;
    $("confirm").hidden = false;
    const done = (v) => { $("confirm").hidden = true; resolve(v); };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
  });
}

async function click(btn, m) {
  if (btn.url) { window.open(btn.url, "_blank"); return; }
  if (btn.confirm && !(await confirmDialog(btn.confirm))) return;
  await api("/api/local/action", { user: state.user, channel: state.channel.id, message_id: m.id,
                                   thread: m.thread, action_id: btn.action_id, value: btn.value || "" });
}

function renderMessage(m, inThread) {
  const el = document.createElement("div");
  el.className = "msg" + (m.ephemeral ? " ephemeral" : "");
  el.dataset.id = m.id;
  el.innerHTML = '<span class="who">' + esc(m.user) + '</span><span class="when">' + new Date(m.at).toLocaleTimeString(i18n.locale) + "</span>" +
    (m.ephemeral ? '<span class="only-you">(' + esc(tr("only_you", "only visible to you")) + ")</span>" : "") +
    (m.pinned ? '<span class="pin">📌 ' + esc(tr("pinned", "pinned")) + "</span>" : "");
  if (m.message) el.appendChild(renderBlocks(m.message, m));
  else el.insertAdjacentHTML("beforeend", '<div class="section">' + md(m.text) + "</div>");
  if (!inThread) {
    const n = [...state.messages.values()].filter((x) => x.thread === m.id).length;
    const link = document.createElement("div");
    link.className = "replies";
    link.textContent = n ? plural(n) : tr("reply_in_thread", "Reply in thread");
    link.onclick = () => openThread(m.id);
    el.appendChild(link);
  }
  return el;
}

function redraw() {
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.innerHTML = "";
  const all = [...state.messages.values()].sort((a, b) => a.at.localeCompare(b.at) || a.version - b.version);
  for (const m of all.filter((x) => !x.thread)) box.appendChild(renderMessage(m, false));
  if (atBottom) box.scrollTop = box.scrollHeight;
  if (state.thread) {
    const tb = $("thread-messages");
    tb.innerHTML = "";
    const root = state.messages.get(state.thread);
    if (root) tb.appendChild(renderMessage(root, true));
    for (const m of all.filter((x) => x.thread === state.thread)) tb.appendChild(renderMessage(m, true));
    tb.scrollTop = tb.scrollHeight;
  }
}

function openThread(id) { state.thread = id; $("thread").hidden = false; redraw(); }

async function poll(token) {
  while (token === state.polling) {
    try {
      const q = new URLSearchParams({ channel: state.channel.id, user: state.user, after: state.version, wait: "1" });
      const data = await api("/api/local/messages?" + q);
      if (token !== state.polling) return;
      for (const m of data.messages) { state.messages.set(m.id, m); state.version = Math.max(state.version, m.version); }
      if (data.messages.length) redraw();
    } catch (e) { await new Promise((r) => setTimeout(r, 1000)); }
  }
}

function selectChannel(ch) {
  state.channel = ch; state.version = 0; state.messages = new Map(); state.thread = null;
  $("thread").hidden = true;
  $("channel-name").textContent = "#" + ch.name + (ch.shared ? " (" + tr("shared", "shared") + ")" : "");
  $("channel-topic").textContent = ch.topic || "";
  for (const li of $("channels").children) li.classList.toggle("active", li.dataset.id === ch.id);
  location.hash = "#/" + ch.id;
  redraw();
  state.polling += 1; poll(state.polling);
}

async function send(input, thread) {
  const text = input.value.trim();
  if (!text || !state.channel || !state.user) return;
  input.value = "";
  await api("/api/local/send", { user: state.user, channel: state.channel.id, text, thread });
  if (/^\/copilot\s+lang\b/.test(text)) setTimeout(() => refreshStrings(), 1500);
}

async function refreshStrings() {
  // the page works at once; its words switch language when the dictionary arrives
  if (await loadStrings()) {
    renderChannels(); redraw();
    const ch = state.channel;
    if (ch) $("channel-name").textContent = "#" + ch.name + (ch.shared ? " (" + tr("shared", "shared") + ")" : "");
  }
}

function renderChannels() {
  for (const li of $("channels").children) {
    const ch = state.channels.find((c) => c.id === li.dataset.id);
    li.innerHTML = "# " + esc(ch.name) + (ch.shared ? '<span class="shared">' + esc(tr("shared", "shared")) + "</span>" : "");
    li.classList.toggle("active", state.channel && li.dataset.id === state.channel.id);
  }
}

async function boot() {
  // handlers first: a message typed while the page loads must not submit the form natively
  $("composer").onsubmit = (e) => { e.preventDefault(); send($("input"), null); };
  $("thread-composer").onsubmit = (e) => { e.preventDefault(); send($("thread-input"), state.thread); };
  $("close-thread").onclick = () => { state.thread = null; $("thread").hidden = true; };
  const data = await api("/api/local/bootstrap");
  state.channels = data.channels; state.users = data.users;
  $("demo-label").hidden = !data.demo;
  for (const u of data.users) $("user").insertAdjacentHTML("beforeend", '<option value="' + esc(u.id) + '">' + esc(u.name) + "</option>");
  state.user = localStorage.getItem("copilot-user") || data.users[0].id;
  $("user").value = state.user;
  $("user").onchange = () => {
    state.user = $("user").value; localStorage.setItem("copilot-user", state.user);
    selectChannel(state.channel);
    refreshStrings();
  };
  for (const ch of data.channels) {
    const li = document.createElement("li");
    li.dataset.id = ch.id;
    li.onclick = () => selectChannel(ch);
    $("channels").appendChild(li);
  }
  renderChannels();
  const wanted = location.hash.split("/")[1];
  selectChannel(data.channels.find((c) => c.id === wanted) || data.channels[0]);
  refreshStrings();
}
boot();
