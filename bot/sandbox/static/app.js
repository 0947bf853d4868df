// The sandbox chat client. No build step: plain DOM, fetch and a long poll.
// The bot's HTML is never inserted as HTML: messages are built from the text and the entities
// the emulator parsed, so nothing the bot (or a user) writes can run as script.
"use strict";

const S = {
  personas: [], group: null, bot: null, me: null, chat: null, version: "", rendered: "",
  unread: {}, // persona id -> {private, group}: messages not yet seen there
  dividerAt: null, // the first message that was unread when this chat was opened
};
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `请求失败（HTTP ${response.status}）`);
  return body;
}
const post = (path, body) =>
  api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

function toast(text, kind = "") {
  const el = document.createElement("div");
  el.className = "toast " + kind;
  el.textContent = text;
  $("toasts").append(el);
  setTimeout(() => el.remove(), kind === "alert" ? 6000 : 3500);
}

// -- entities -> DOM --------------------------------------------------------------------------
const SAFE_URL = /^(https?:|tg:|mailto:)/i;

function entityElement(entity, text) {
  const inner = text.slice(entity.offset, entity.offset + entity.length);
  let el;
  switch (entity.type) {
    case "bold": el = document.createElement("b"); break;
    case "italic": el = document.createElement("i"); break;
    case "underline": el = document.createElement("u"); break;
    case "strikethrough": el = document.createElement("s"); break;
    case "code": el = document.createElement("code"); break;
    case "pre": el = document.createElement("pre"); break;
    case "blockquote": case "expandable_blockquote": el = document.createElement("blockquote"); break;
    case "spoiler":
      el = document.createElement("span"); el.className = "spoiler";
      el.addEventListener("click", () => el.classList.toggle("shown")); break;
    case "text_link": case "url": {
      const href = entity.type === "url" ? (/^https?:/i.test(inner) ? inner : "http://" + inner) : entity.url || "";
      if (SAFE_URL.test(href)) {
        el = document.createElement("a"); el.href = href; el.target = "_blank"; el.rel = "noopener noreferrer";
      } else { el = document.createElement("span"); }
      break;
    }
    case "bot_command":
      el = document.createElement("span"); el.className = "cmd"; el.title = "点击发送";
      el.addEventListener("click", () => sendText(inner.split("@")[0])); break;
    default: el = document.createElement("span");
  }
  return el;
}

function build(parent, text, from, to, entities) {
  let pos = from;
  let i = 0;
  while (i < entities.length) {
    const e = entities[i];
    const end = e.offset + e.length;
    if (e.offset < pos) { i++; continue; } // overlapping entity: ignore
    if (e.offset > pos) parent.append(text.slice(pos, e.offset));
    let j = i + 1;
    while (j < entities.length && entities[j].offset < end) j++;
    const el = entityElement(e, text);
    build(el, text, e.offset, Math.min(end, to), entities.slice(i + 1, j));
    parent.append(el);
    pos = end;
    i = j;
  }
  if (pos < to) parent.append(text.slice(pos, to));
}

function formatted(text, entities) {
  const body = document.createElement("div");
  body.className = "body";
  const sorted = (entities || []).slice().sort((a, b) => a.offset - b.offset || b.length - a.length);
  build(body, text || "", 0, (text || "").length, sorted); // offsets are UTF-16, like JS strings
  return body;
}

// -- rendering --------------------------------------------------------------------------------
function personaName(id) {
  const p = S.personas.find((x) => x.id === id);
  return p ? p.name : String(id);
}

function messageElement(m) {
  const el = document.createElement("div");
  el.dataset.id = m.id;
  if (m.service) {
    el.className = "msg service";
    el.textContent = m.service;
    return el;
  }
  el.className = "msg " + (m.from_bot ? "bot" : m.sender_id === S.me ? "mine" : "other");
  if (m.from_bot) el.dataset.edits = m.edit_count;
  if (S.chat < 0 || !m.from_bot) {
    if (!(m.sender_id === S.me)) {
      const who = document.createElement("div");
      who.className = "who";
      who.textContent = m.from_bot ? "🤖 " + S.bot.name : m.sender || personaName(m.sender_id);
      el.append(who);
    }
  }
  if (m.document) {
    const doc = document.createElement("div");
    doc.className = "doc";
    const link = document.createElement("a");
    link.href = "/api/file/" + encodeURIComponent(m.document.file_id);
    link.download = m.document.name;
    link.textContent = m.document.name;
    link.dataset.testid = "download";
    const size = document.createElement("span");
    size.className = "muted";
    size.textContent = (m.document.size / 1024).toFixed(1) + " KB";
    doc.append("📄", link, size);
    el.append(doc);
  }
  if (m.photo) {
    const link = document.createElement("a");
    link.href = m.photo.url;
    link.target = "_blank";
    link.rel = "noopener";
    link.title = "点击查看原图";
    const img = document.createElement("img");
    img.className = "photo";
    img.src = m.photo.url;
    img.alt = "图片";
    img.loading = "lazy";
    img.dataset.testid = "photo";
    link.append(img);
    el.append(link);
  }
  if (m.text) el.append(formatted(m.text, m.entities));
  if (m.buttons && m.buttons.length) {
    const kb = document.createElement("div");
    kb.className = "kb";
    for (const row of m.buttons) {
      const r = document.createElement("div");
      r.className = "row";
      for (const b of row) {
        if (b.url) {
          const a = document.createElement("a");
          a.className = "url"; a.textContent = b.text + " ↗"; a.title = b.url;
          if (SAFE_URL.test(b.url)) { a.href = b.url; a.target = "_blank"; a.rel = "noopener noreferrer"; }
          r.append(a);
        } else {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = b.text;
          button.addEventListener("click", () => press(m.id, b.data, button));
          r.append(button);
        }
      }
      kb.append(r);
    }
    el.append(kb);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  if (m.edited) {
    const edited = document.createElement("span");
    edited.className = "edited";
    edited.textContent = "已编辑 ";
    meta.append(edited);
  }
  const time = document.createElement("time");
  time.className = "time";
  time.textContent = m.time;
  time.title = "沙盒时间";
  const number = document.createElement("span");
  number.className = "no";
  number.textContent = " #" + m.id;
  meta.append(time, number);
  el.append(meta);
  return el;
}

async function loadMessages({ scroll = false } = {}) {
  if (S.me === null) return;
  const chat = S.chat;
  const data = await api(`/api/messages?chat=${chat}&user=${S.me}`);
  if (chat !== S.chat) return;
  if (scroll) S.dividerAt = data.first_unread; // opened just now: mark where the news starts
  S.unread = data.unread;
  renderBadges();
  const key = JSON.stringify([data.messages, S.dividerAt]);
  if (key === S.rendered && !scroll) return;
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const before = new Map([...box.querySelectorAll(".msg.bot")].map((e) => [e.dataset.id, e.dataset.edits]));
  S.rendered = key;
  box.replaceChildren();
  if (!data.messages.length) {
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = chat > 0 ? "还没有消息。发送 /start 或 /help 开始。" : "群里还没有消息。";
    box.append(empty);
  }
  let divider = null;
  for (const m of data.messages) {
    if (m.id === S.dividerAt) {
      divider = document.createElement("div");
      divider.className = "unread-divider";
      divider.dataset.testid = "unread-divider";
      divider.textContent = "以下为未读消息";
      box.append(divider);
    }
    const el = messageElement(m);
    if (!scroll && m.from_bot && before.has(String(m.id)) && before.get(String(m.id)) !== String(m.edit_count)) {
      el.classList.add("flash"); // edited in place
    }
    box.append(el);
  }
  if (scroll && divider) divider.scrollIntoView({ block: "start" });
  else if (scroll || atBottom) box.scrollTop = box.scrollHeight;
}

function badge(count) {
  const b = document.createElement("span");
  b.className = "badge";
  b.dataset.testid = "unread";
  b.textContent = count > 99 ? "99+" : String(count);
  b.title = `${count} 条未读`;
  return b;
}

// Unread counts: per persona (both chats) in the list, per chat on the two tabs.
function renderBadges() {
  for (const button of document.querySelectorAll("[data-persona]")) {
    button.querySelector(".badge")?.remove();
    const u = S.unread[button.dataset.persona] || { private: 0, group: 0 };
    const total = u.private + u.group;
    if (total) button.querySelector(".name").append(badge(total));
  }
  const mine = S.unread[String(S.me)] || { private: 0, group: 0 };
  for (const [id, count] of [["chat-private", mine.private], ["chat-group", mine.group]]) {
    $(id).querySelector(".badge")?.remove();
    if (count) $(id).append(badge(count));
  }
}

async function loadCommands() {
  const box = $("commands");
  box.replaceChildren();
  const data = await api(`/api/commands?user=${S.me}&chat=${S.chat}`).catch(() => ({ commands: [] }));
  for (const c of data.commands) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "/" + c.command;
    b.title = c.description;
    b.addEventListener("click", () => sendText("/" + c.command));
    box.append(b);
  }
}

function renderSide() {
  const list = $("personas");
  list.replaceChildren();
  for (const p of S.personas) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.persona = p.id;
    b.className = p.id === S.me ? "active" : "";
    const icon = { admin: "🛡️", liaison: "🏛️", inspector: "🔍" }[p.role] || "";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = `${icon} ${p.name}`;
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = p.title;
    b.append(name, title);
    b.addEventListener("click", () => choose(p.id, p.id));
    li.append(b);
    list.append(li);
  }
  const me = S.personas.find((p) => p.id === S.me);
  $("chat-private").classList.toggle("active", S.chat > 0);
  $("chat-group").classList.toggle("active", S.chat < 0);
  $("chat-group").disabled = !(me && me.in_group);
  $("chat-title").textContent = S.chat > 0 ? `🤖 ${S.bot.name}` : `👥 ${S.group.title}`;
  $("chat-sub").textContent = me ? `以「${me.name}（${me.title}）」的身份` : "";
  renderBadges();
}

async function choose(persona, chat) {
  S.me = persona;
  S.chat = chat;
  S.rendered = "";
  location.hash = `#${persona}/${chat}`;
  renderSide();
  await Promise.all([loadMessages({ scroll: true }), loadCommands()]);
}

function showClock(c) {
  $("clock-now").textContent = `${c.display} 周${c.weekday}`;
  $("clock-now").title = c.now + (c.offset_seconds ? `（比真实时间快 ${Math.round(c.offset_seconds / 3600)} 小时）` : "");
}

// -- acting -----------------------------------------------------------------------------------
async function sendText(text) {
  try {
    await post("/api/send", { user: S.me, chat: S.chat, text });
  } catch (e) { toast(e.message, "error"); }
}

async function press(message, data, button) {
  button.disabled = true;
  try {
    const result = await post("/api/press", { user: S.me, chat: S.chat, message, data });
    if (result.answer && result.answer.text) toast(result.answer.text, result.answer.show_alert ? "alert" : "");
  } catch (e) { toast(e.message, "error"); }
  finally { button.disabled = false; loadMessages(); }
}

async function upload(file, caption) {
  const form = new FormData();
  form.append("user", S.me);
  form.append("chat", S.chat);
  if (caption) form.append("caption", caption);
  form.append("file", file, file.name);
  try {
    await api("/api/upload", { method: "POST", headers: { "X-Sandbox": "1" }, body: form });
  } catch (e) { toast(e.message, "error"); }
}

async function fastForward(action, to) {
  const buttons = document.querySelectorAll(".clock button");
  buttons.forEach((b) => (b.disabled = true));
  try {
    const c = await post("/api/clock", { action, to });
    showClock(c);
    if (action === "next" && !c.found) toast("31 天内没有要发出的提醒。");
  } catch (e) { toast(e.message, "error"); }
  finally { buttons.forEach((b) => (b.disabled = false)); }
}

// -- live updates -----------------------------------------------------------------------------
async function watch() {
  for (;;) {
    try {
      const r = await api("/api/wait?since=" + encodeURIComponent(S.version));
      showClock(r.clock);
      S.unread = r.unread;
      renderBadges();
      if (r.version !== S.version) {
        S.version = r.version;
        await loadMessages();
        if (S.chat > 0) loadCommands();
      }
    } catch (e) {
      await new Promise((resolve) => setTimeout(resolve, 2000)); // the sandbox restarts
    }
  }
}

async function main() {
  const state = await api("/api/state");
  Object.assign(S, { personas: state.personas, group: state.group, bot: state.bot, unread: state.unread });
  showClock(state.clock);
  $("group-title").textContent = state.group.title;
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("text");
    const text = input.value;
    const file = $("file").files[0];
    if (file) {
      $("file").value = "";
      input.value = "";
      await upload(file, text.trim());
    } else if (text.trim()) {
      input.value = "";
      await sendText(text);
    }
  });
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (file) toast(`已选择 ${file.name}，点“发送”上传（输入框里的文字作为说明）`);
  });
  $("chat-private").addEventListener("click", () => choose(S.me, S.me));
  $("chat-group").addEventListener("click", () => choose(S.me, S.group.id));
  document.querySelectorAll("[data-ff]").forEach((b) => b.addEventListener("click", () => fastForward(b.dataset.ff)));
  $("ff-to").addEventListener("click", () => {
    const value = $("ff-date").value;
    if (value) fastForward("to", value); else toast("先选择日期和时间");
  });
  const [persona, chat] = location.hash.slice(1).split("/").map(Number);
  const known = S.personas.some((p) => p.id === persona);
  await choose(known ? persona : S.personas[0].id, known && chat ? chat : known ? persona : S.personas[0].id);
  watch();
}

main().catch((e) => toast("沙盒连接失败：" + e.message, "error"));
