// Kabinet sandbox page. It holds no logic of the bot: it draws what the
// emulator holds (GET /api/chats/{id}) and turns clicks into the emulator's
// user actions (POST /api/chats/{id}/...). Server-Sent Events say when to
// draw again. Every text is set with textContent from Telegram's entities;
// nothing received is ever parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  personas: [],
  current: null,      // persona id (string)
  chat: null,         // the last chat view
  nodes: new Map(),   // item key -> {sig, el}
  events: null,       // EventSource
  loading: false,
  again: false,
  phonesSeen: 0,      // SMS count when the phone panel was last looked at
  smsCount: 0,
  smsKnown: new Set(),
  keyboardHidden: false,
  stick: true,        // the chat follows its newest message (the person has not scrolled up)
  typingTimer: null,
  toastTimer: null,
  timeZone: undefined, // the provider's (TIME_ZONE), as the bot writes times; undefined: the browser's
};

// Places for "share location": cities of the demo offices.
const PLACES = [
  ["Москва, Тверская", 55.7652, 37.6047],
  ["Москва, Профсоюзная", 55.6712, 37.5530],
  ["Белгород", 50.5956, 36.5873],
  ["Владивосток", 43.1155, 131.8855],
  ["Томск", 56.4847, 84.9482],
  ["Ставрополь", 45.0448, 41.9691],
];

// ---- API ----

// api calls the sandbox and returns the answer, or null after telling the
// person what went wrong, so that no click ends in an uncaught error.
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body instanceof FormData) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    toast("The sandbox is not reachable: is `kabinet sandbox` still running?");
    return null;
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    toast(data.error || ("HTTP " + res.status));
    return null;
  }
  return data;
}

const chatPath = (suffix) => "/api/chats/" + encodeURIComponent(state.current) + suffix;

// ---- Personas ----

async function loadPersonas() {
  const data = await api("GET", "/api/personas");
  if (!data) return;
  state.personas = data.personas;
  setTimeZone(data.time_zone);
  $("bot-name").textContent = data.bot.name;
  $("bot-avatar").textContent = initial(data.bot.name);
  renderPersonas();
}

function renderPersonas() {
  const list = $("persona-list");
  list.replaceChildren();
  for (const p of state.personas) {
    const li = el("li", "persona" + (p.id === state.current ? " active" : ""));
    li.dataset.id = p.id;
    li.append(avatar(p.name, p.id));
    const who = el("div", "who");
    who.append(el("div", "name", p.name));
    const sub = el("div", "sub");
    sub.append(el("span", "lang", (p.lang || "?").toUpperCase()));
    sub.append(document.createTextNode([formatPhone(p.phone), p.note].filter(Boolean).join(" · ")));
    if (p.accounts && p.accounts.length) li.title = "Linked: " + p.accounts.join(", ");
    who.append(sub);
    li.append(who);
    li.addEventListener("click", () => selectPersona(p.id));
    list.append(li);
  }
}

async function addPersona(lang) {
  const p = await api("POST", "/api/personas", { lang });
  if (!p) return;
  state.personas.push(p);
  selectPersona(p.id);
}

function selectPersona(id) {
  if (!state.personas.some((p) => p.id === id)) return;
  state.current = id;
  history.replaceState(null, "", "#" + id);
  document.body.classList.remove("no-persona");
  closeDrawers(); // the drawer and its overlay go together
  renderPersonas();
  state.nodes.clear();
  $("messages").replaceChildren();
  state.chat = null;
  state.keyboardHidden = false;
  state.stick = true;
  closePopups();
  connectEvents();
  loadChat();
  loadPhones();
  $("input").focus({ preventScroll: true });
}

// forgetPersona goes back to "who are you?", for a persona that is gone.
function forgetPersona() {
  if (state.events) { state.events.close(); state.events = null; }
  state.current = null;
  state.chat = null;
  state.nodes.clear();
  history.replaceState(null, "", location.pathname);
  document.body.classList.add("no-persona");
  $("me").replaceChildren();
  $("messages").replaceChildren(el("div", "empty-note", "Pick who you are to start chatting with the bot."));
  renderPersonas();
  loadPhones();
}

// updatePersona takes in what a chat read says of its persona (what it has
// linked, from the bot's database), so the list follows a link at once.
function updatePersona(p) {
  const i = state.personas.findIndex((q) => q.id === p.id);
  if (i < 0 || JSON.stringify(state.personas[i]) === JSON.stringify(p)) return;
  state.personas[i] = p;
  renderPersonas();
}

function currentPersona() {
  return state.personas.find((p) => p.id === state.current);
}

// ---- Events ----

function connectEvents() {
  if (state.events) state.events.close();
  const es = new EventSource("/api/events?chat=" + encodeURIComponent(state.current));
  es.onmessage = (e) => {
    const ev = JSON.parse(e.data);
    switch (ev.kind) {
      case "chat":
      case "error":
      case "commands":
        loadChat();
        break;
      case "typing":
        showTyping(ev.action);
        break;
      case "toast":
        if (ev.alert) showModal(ev.text); else toast(ev.text);
        break;
      case "sms":
        loadPhones();
        break;
      case "reload":
        loadChat();
        loadPhones();
        break;
    }
  };
  // After a reconnect something may have been missed; after a restart of
  // the sandbox the personas are new ones.
  es.onopen = async () => {
    await loadPersonas();
    if (!currentPersona()) { forgetPersona(); return; }
    loadChat();
    loadPhones();
  };
  state.events = es;
}

function showTyping(action) {
  const s = $("bot-status");
  s.textContent = action === "typing" ? "typing…" : action.replace(/_/g, " ") + "…";
  s.classList.add("typing");
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(() => { s.textContent = "bot"; s.classList.remove("typing"); }, 5000);
}

// ---- The chat ----

// loadChat reads the chat again; calls while one is under way are merged
// into one more read after it.
async function loadChat() {
  if (!state.current) return;
  if (state.loading) { state.again = true; return; }
  state.loading = true;
  const asked = state.current;
  try {
    const chat = await api("GET", chatPath(""));
    if (chat && asked === state.current) renderChat(chat);
  } finally {
    state.loading = false;
    if (state.again) { state.again = false; loadChat(); }
  }
}

function renderChat(chat) {
  const firstDraw = state.chat === null;
  const box = $("messages");
  const prevCount = state.chat ? state.chat.items.length : 0;
  state.chat = chat;
  updatePersona(chat.persona);

  const me = $("me");
  me.replaceChildren(document.createTextNode("you are "), el("b", "", chat.persona.name));
  if (chat.persona.phone) me.append(el("span", "me-phone", " · " + formatPhone(chat.persona.phone)));

  // Draw only what changed: an item keeps its element while its JSON is the same.
  const wanted = [];
  const keys = new Set();
  let sysN = 0;
  for (const item of chat.items) {
    const key = item.message ? "m" + item.message.id : "s" + (sysN++) + ":" + item.system.time;
    keys.add(key);
    const sig = JSON.stringify(item);
    let node = state.nodes.get(key);
    if (!node || node.sig !== sig) {
      const fresh = item.message ? renderMessage(item.message) : renderSystem(item.system);
      if (node) { resizes.unobserve(node.el); node.el.replaceWith(fresh); }
      resizes.observe(fresh);
      node = { sig, el: fresh };
      state.nodes.set(key, node);
    }
    wanted.push(node.el);
  }
  for (const [key, node] of state.nodes) {
    if (!keys.has(key)) { resizes.unobserve(node.el); node.el.remove(); state.nodes.delete(key); }
  }
  let ref = box.firstChild;
  for (const e of wanted) {
    if (e === ref) { ref = ref.nextSibling; continue; }
    box.insertBefore(e, ref);
  }
  while (ref) { const next = ref.nextSibling; ref.remove(); ref = next; }
  if (chat.items.length === 0) {
    box.append(el("div", "empty-note", "This is the start of your chat with " + chat.bot.name + ". Press START."));
  }
  // Group consecutive messages of one side: only the last has a tail.
  const msgs = [...box.children];
  msgs.forEach((m, i) => {
    if (!m.classList.contains("msg")) return;
    const next = msgs[i + 1];
    const sameSide = next && next.classList.contains("msg") && next.classList.contains("out") === m.classList.contains("out");
    m.classList.toggle("tail", !sameSide);
  });
  renderKeyboard(chat.keyboard);
  renderCommands(chat.commands);
  const started = chat.items.some((it) => it.message);
  $("start-bar").hidden = started;
  $("input-bar").hidden = !started;

  // A new message (the person's or the bot's) brings the chat to it, as
  // Telegram does; a change to one already there (an edit) keeps the place
  // of a person who scrolled up. Done last, once the keyboard above the
  // input has its new height.
  if (firstDraw || state.stick || chat.items.length > prevCount) scrollToNewest();
}

// nearBottom: the newest message is (about) in view.
function nearBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function scrollToNewest() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
  state.stick = true;
}

// Something in the chat changed its size after it was drawn (a photo that
// loaded, a keyboard that appeared under it): a chat that was showing its
// newest message keeps showing it.
const resizes = new ResizeObserver(() => { if (state.stick) scrollToNewest(); });

function renderMessage(m) {
  const row = el("div", "msg " + (m.from_bot ? "in" : "out"));
  row.dataset.id = m.id;
  const wrap = el("div", "wrap");
  const bubble = el("div", "bubble");

  if (m.photo) {
    if (m.photo.url) {
      const img = el("img", "photo");
      img.src = m.photo.url;
      img.alt = "photo";
      bubble.append(img);
    } else {
      bubble.append(el("div", "photo-missing", "🖼️"));
    }
  } else if (m.document) {
    const f = el("div", "file");
    f.append(el("div", "file-icon", "📄"));
    const info = el("div", "");
    info.append(el("div", "file-name", m.document.name || "file"), el("div", "file-size", formatSize(m.document.size)));
    f.append(info);
    bubble.append(f);
  } else if (m.venue || m.location) {
    const place = m.venue || m.location;
    const map = el("a", "map");
    map.href = place.map_url;
    map.target = "_blank";
    map.rel = "noopener noreferrer";
    map.append(el("span", "pin", "📍"), el("span", "coords", place.latitude.toFixed(5) + ", " + place.longitude.toFixed(5)));
    bubble.append(map);
    if (m.venue) {
      bubble.append(el("div", "venue-title", m.venue.title), el("div", "venue-address", m.venue.address));
    }
  } else if (m.contact) {
    const c = el("div", "contact");
    c.append(avatar(m.contact.name || "?", m.contact.phone));
    const info = el("div", "");
    info.append(el("div", "file-name", m.contact.name), el("div", "file-size", formatPhone("+" + m.contact.phone.replace(/^\+/, ""))));
    info.append(el("div", "note", m.contact.own ? "own number (shared with the button)" : "someone else's contact"));
    c.append(info);
    bubble.append(c);
  } else if (m.sticker) {
    row.classList.add("sticker-msg");
    bubble.append(el("div", "sticker", m.sticker));
  }

  if (m.text) {
    const text = el("div", "text");
    text.append(renderEntities(m.text, m.entities || []));
    if (m.photo || m.document) text.classList.add("caption");
    bubble.append(text);
  }

  const meta = el("span", "meta");
  if (m.edited) meta.append(el("span", "edited", "edited"));
  meta.append(document.createTextNode(formatTime(m.date)));
  if (!m.from_bot) meta.append(el("span", "ticks", "✓✓"));
  if (!m.from_bot && m.text && !m.photo && !m.document) {
    const edit = el("button", "edit-own", "✎");
    edit.type = "button";
    edit.title = "Edit";
    edit.addEventListener("click", () => editOwn(m));
    meta.append(edit);
  }
  if (m.text) bubble.lastChild.append(meta); else bubble.append(meta);
  wrap.append(bubble);

  if (m.buttons && m.buttons.length) {
    const kb = el("div", "inline-kb");
    for (const r of m.buttons) {
      const rowEl = el("div", "kb-row");
      for (const b of r) rowEl.append(inlineButton(m, b));
      kb.append(rowEl);
    }
    wrap.append(kb);
  }
  row.append(wrap);
  return row;
}

function inlineButton(m, b) {
  if (b.url) {
    const a = el("a", "kb-btn", b.text);
    a.href = b.url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.append(el("span", "link-mark", "↗"));
    return a;
  }
  const btn = el("button", "kb-btn", b.text);
  btn.type = "button";
  if (!b.data) { btn.disabled = true; return btn; }
  btn.addEventListener("click", async () => {
    btn.classList.add("pending");
    try {
      await api("POST", chatPath("/button"), { message_id: m.id, data: b.data });
    } finally {
      setTimeout(() => btn.classList.remove("pending"), 600);
    }
  });
  return btn;
}

function renderSystem(s) {
  const line = el("div", "system " + s.level);
  let description = s.description;
  if (s.level === "error") {
    line.append(document.createTextNode("⚠ Telegram would reject this: "));
  } else {
    // "Bad Request: message is not modified: specified new message ..." is
    // long for a line the bot expects; its first two parts say it all.
    description = description.split(": ").slice(0, 2).join(": ");
  }
  line.append(el("span", "method", s.method), document.createTextNode(" → " + s.code + " " + description));
  line.title = formatDateTime(s.time);
  return line;
}

// renderEntities builds the formatted text from Telegram's entities.
// Offsets are UTF-16 code units, which is how JavaScript strings count.
function renderEntities(text, entities) {
  const frag = document.createDocumentFragment();
  const sorted = [...entities].sort((a, b) => a.offset - b.offset || b.length - a.length);
  build(frag, 0, text.length, sorted);
  return frag;

  function build(parent, start, end, list) {
    let pos = start;
    let i = 0;
    while (i < list.length) {
      const e = list[i];
      if (e.offset < pos || e.offset >= end) { i++; continue; }
      if (e.offset > pos) parent.append(text.slice(pos, e.offset));
      const eEnd = Math.min(e.offset + e.length, end);
      const inner = [];
      let j = i + 1;
      while (j < list.length && list[j].offset < eEnd) { inner.push(list[j]); j++; }
      const node = entityElement(e, text.slice(e.offset, eEnd));
      build(node, e.offset, eEnd, inner);
      parent.append(node);
      pos = eEnd;
      i = j;
    }
    if (pos < end) parent.append(text.slice(pos, end));
  }
}

function entityElement(e, content) {
  switch (e.type) {
    case "bold": return el("b");
    case "italic": return el("i");
    case "underline": return el("u");
    case "strikethrough": return el("s");
    case "code": return el("code");
    case "pre": return el("pre");
    case "blockquote":
    case "expandable_blockquote": return el("blockquote");
    case "spoiler": {
      const s = el("span", "spoiler");
      s.addEventListener("click", () => s.classList.add("shown"));
      return s;
    }
    case "text_link": return link(e.url);
    case "url": return link(/^[a-z][a-z0-9+.-]*:/i.test(content) ? content : "https://" + content);
    case "email": return link("mailto:" + content);
    case "phone_number": return link("tel:" + content.replace(/[^\d+]/g, ""));
    case "bot_command": {
      const c = el("span", "command");
      c.addEventListener("click", () => sendText(content));
      return c;
    }
  }
  return el("span");
}

// link opens web and Telegram links only; anything else stays plain text.
function link(url) {
  if (!/^(https?:|tg:|mailto:|tel:)/i.test(url || "")) return el("span");
  const a = el("a");
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

// ---- Reply keyboard and commands ----

function renderKeyboard(kb) {
  const box = $("keyboard");
  $("kb-btn").hidden = !kb;
  if (!kb) { box.hidden = true; box.replaceChildren(); $("input").placeholder = "Message"; return; }
  $("input").placeholder = kb.placeholder || "Message";
  box.replaceChildren();
  let hasContact = false;
  for (const r of kb.rows) {
    const row = el("div", "row");
    for (const b of r) {
      const k = el("button", "key", b.text);
      k.type = "button";
      k.addEventListener("click", () => pressKey(b));
      row.append(k);
      hasContact = hasContact || b.contact;
    }
    box.append(row);
  }
  if (hasContact) {
    // Not the bot's: the sandbox's own way to see a foreign contact refused.
    const row = el("div", "row");
    const k = el("button", "key sandbox-key", "👤 Share someone else's contact (sandbox)");
    k.type = "button";
    k.addEventListener("click", () => sendOtherContact($("contact-phone").value));
    row.append(k);
    box.append(row);
  }
  box.hidden = state.keyboardHidden;
}

async function pressKey(b) {
  if (b.location) { openPopup("places"); return; }
  await send("POST", chatPath("/key"), { text: b.text });
}

function renderCommands(commands) {
  $("menu-btn").hidden = !commands.length;
  const box = $("commands");
  box.replaceChildren();
  for (const c of commands) {
    const item = el("button", "popup-item");
    item.type = "button";
    item.dataset.command = c.command;
    item.append(el("span", "cmd", "/" + c.command), el("span", "desc", c.description));
    item.addEventListener("click", () => { closePopups(); sendText("/" + c.command); });
    box.append(item);
  }
}

function filterCommands() {
  const v = $("input").value;
  if (!v.startsWith("/") || /\s/.test(v) || !state.chat || !state.chat.commands.length) {
    if (!$("commands").hidden && v.startsWith("/")) closePopups();
    return;
  }
  let shown = 0;
  for (const item of $("commands").children) {
    const match = ("/" + item.dataset.command).startsWith(v.toLowerCase());
    item.hidden = !match;
    if (match) shown++;
  }
  if (shown) openPopup("commands", true); else closePopups();
}

// ---- Sending ----

// sendText sends a text as the person; false when it did not go.
async function sendText(text) {
  text = text.trim();
  if (!text || !state.current) return false;
  return (await send("POST", chatPath("/text"), { text })) !== null;
}

// send is an api call that sends a message as the person: the chat goes to
// its newest message, even when they had scrolled up.
async function send(method, path, body) {
  const res = await api(method, path, body);
  if (res !== null) scrollToNewest();
  return res;
}

async function sendOtherContact(phone) {
  closePopups();
  await send("POST", chatPath("/contact"), { phone, first_name: "Иван Петров" });
}

async function sendFile(file, as) {
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("as", as);
  const caption = $("input").value.trim();
  if (caption) form.append("caption", caption);
  if (await send("POST", chatPath("/file"), form)) {
    $("input").value = "";
    autosize();
  }
}

async function shareLocation(lat, lon) {
  closePopups();
  await send("POST", chatPath("/location"), { latitude: lat, longitude: lon });
}

async function editOwn(m) {
  const text = await askText("Edit your message", m.text);
  if (text && text.trim() !== m.text) await api("POST", chatPath("/edit"), { message_id: m.id, text });
}

// ---- The phone ----

async function loadPhones() {
  const data = await api("GET", "/api/phones");
  if (data) renderPhones(data.phones);
}

function renderPhones(phones) {
  const list = $("phone-list");
  list.replaceChildren();
  const mine = currentPersona() && currentPersona().phone;
  let count = 0;
  if (!phones.length) list.append(el("div", "phone-empty", "No SMS yet. Ask the bot for a code: send an account number such as 1000000004."));
  for (const ph of phones) {
    const card = el("section", "sms-phone" + (ph.phone === mine ? " mine" : ""));
    card.dataset.phone = ph.phone;
    const head = el("div", "sms-head");
    head.append(el("span", "", formatPhone(ph.phone)));
    if (ph.phone === mine) head.append(el("span", "tag", "this persona's phone"));
    card.append(head);
    // Newest first, as a phone's inbox: the newest is the code that counts,
    // so it is marked and its code stands out; older ones are greyed.
    const msgs = el("div", "sms-list");
    ph.messages.forEach((m, i) => {
      const key = ph.phone + "|" + m.at + "|" + m.text;
      const bubble = el("div", "sms" + (i === 0 ? " latest" : "") + (state.smsKnown.has(key) ? "" : " new"));
      state.smsKnown.add(key);
      const text = el("div", "sms-text");
      if (i === 0) {
        text.append(withCode(m.text));
      } else {
        text.textContent = m.text;
      }
      const time = el("div", "sms-time", formatTime(m.at / 1000));
      if (i === 0 && ph.messages.length > 1) time.append(el("span", "sms-latest-tag", " · newest"));
      bubble.append(text, time);
      msgs.append(bubble);
      count++;
    });
    card.append(msgs);
    list.append(card);
  }
  state.smsCount = count;
  if (phonePanelVisible()) state.phonesSeen = count;
  updateBadge();
}

// withCode is an SMS text with its code (the first run of 4 to 8 digits)
// in an element of its own, to stand out.
function withCode(text) {
  const frag = document.createDocumentFragment();
  const m = /(^|\D)(\d{4,8})(?!\d)/.exec(text);
  if (!m) { frag.append(text); return frag; }
  const start = m.index + m[1].length;
  frag.append(text.slice(0, start), el("b", "sms-code", m[2]), text.slice(start + m[2].length));
  return frag;
}

function phonePanelVisible() {
  return getComputedStyle($("open-phone")).display === "none" || document.body.classList.contains("show-phone");
}

function updateBadge() {
  const unseen = state.smsCount - state.phonesSeen;
  const b = $("sms-badge");
  b.hidden = unseen <= 0;
  b.textContent = unseen;
}

// ---- Popups, drawers, toasts, modal ----

function openPopup(id, keepInput) {
  for (const p of ["commands", "attach", "places"]) $(p).hidden = p !== id;
  if (!keepInput) $("input").blur();
}

function closePopups() {
  for (const p of ["commands", "attach", "places"]) $(p).hidden = true;
}

function togglePopup(id) {
  if ($(id).hidden) openPopup(id); else closePopups();
}

function openDrawer(name) {
  document.body.classList.add("show-" + name);
  $("scrim").hidden = false;
  if (name === "phone") { state.phonesSeen = state.smsCount; updateBadge(); }
  if (name === "personas") loadPersonas(); // what the others have linked since
}

function closeDrawers() {
  document.body.classList.remove("show-phone", "show-personas");
  $("scrim").hidden = true;
}

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(state.toastTimer);
  state.toastTimer = setTimeout(() => { t.hidden = true; }, 3000);
}

let modalDone = null;

function showModal(text) {
  $("modal-text").textContent = text;
  $("modal-input").hidden = true;
  $("modal-cancel").hidden = true;
  $("modal").hidden = false;
  modalDone = null;
}

function askText(title, value) {
  $("modal-text").textContent = title;
  const input = $("modal-input");
  input.hidden = false;
  input.value = value;
  $("modal-cancel").hidden = false;
  $("modal").hidden = false;
  input.focus();
  return new Promise((resolve) => { modalDone = resolve; });
}

function closeModal(value) {
  $("modal").hidden = true;
  if (modalDone) { modalDone(value); modalDone = null; }
}

// ---- Helpers ----

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function initial(name) {
  return (name || "?").trim().charAt(0).toUpperCase() || "?";
}

function avatar(name, seed) {
  let h = 0;
  for (const ch of String(seed)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return el("div", "avatar c" + (h % 7), initial(name));
}

function formatPhone(p) {
  const m = /^\+7(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(p || "");
  return m ? `+7 ${m[1]} ${m[2]}-${m[3]}-${m[4]}` : (p || "");
}

// Times are written in the provider's time zone, the one the bot writes
// its own times in ("Обновлено в 13:35"), not the browser's.
let timeFormat = null;
let dateTimeFormat = null;

function setTimeZone(zone) {
  zone = zone || undefined;
  if (zone === state.timeZone && timeFormat) return;
  const make = (timeZone) => {
    const clock = { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    timeFormat = new Intl.DateTimeFormat("en-GB", clock);
    dateTimeFormat = new Intl.DateTimeFormat("en-GB", { ...clock, second: "2-digit", day: "numeric", month: "short", year: "numeric", timeZoneName: "short" });
  };
  try {
    make(zone);
    state.timeZone = zone;
  } catch (e) { // a zone this browser does not know: its own, then
    make(undefined);
    state.timeZone = undefined;
  }
}

function formatTime(unixSeconds) {
  if (!timeFormat) setTimeZone(undefined);
  return timeFormat.format(new Date(unixSeconds * 1000));
}

function formatDateTime(unixMillis) {
  if (!dateTimeFormat) setTimeZone(undefined);
  return dateTimeFormat.format(new Date(unixMillis));
}

function formatSize(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

function autosize() {
  const t = $("input");
  t.style.height = "auto";
  t.style.height = Math.min(t.scrollHeight, 140) + "px";
}

// ---- Wiring ----

function wire() {
  $("input-bar").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("input");
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    autosize();
    closePopups();
    if (!(await sendText(text))) input.value = text; // give the text back when it did not go
  });
  $("input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("input-bar").requestSubmit();
    }
    if (e.key === "Escape") closePopups();
  });
  $("input").addEventListener("input", () => {
    // Nothing but white space (a line break left by Enter) is an empty field.
    if (!$("input").value.trim()) $("input").value = "";
    autosize();
    filterCommands();
  });
  $("start").addEventListener("click", () => sendText("/start"));
  // The person scrolling up stops the chat following its newest message;
  // scrolling back down starts it again. Only a move up counts: content that
  // grows never moves the view up, but the browser may move it down.
  let lastTop = 0;
  $("messages").addEventListener("scroll", () => {
    const top = $("messages").scrollTop;
    if (nearBottom()) state.stick = true;
    else if (top < lastTop) state.stick = false;
    lastTop = top;
  });
  resizes.observe($("messages"));
  $("menu-btn").addEventListener("click", () => {
    for (const item of $("commands").children) item.hidden = false;
    togglePopup("commands");
  });
  $("attach-btn").addEventListener("click", () => togglePopup("attach"));
  $("kb-btn").addEventListener("click", () => {
    state.keyboardHidden = !state.keyboardHidden;
    $("keyboard").hidden = state.keyboardHidden;
  });
  $("attach-photo").addEventListener("click", () => { closePopups(); $("photo-input").click(); });
  $("attach-file").addEventListener("click", () => { closePopups(); $("file-input").click(); });
  $("attach-location").addEventListener("click", () => openPopup("places"));
  $("attach-sticker").addEventListener("click", () => { closePopups(); send("POST", chatPath("/sticker")); });
  $("contact-form").addEventListener("submit", (e) => { e.preventDefault(); sendOtherContact($("contact-phone").value); });
  $("photo-input").addEventListener("change", (e) => { sendFile(e.target.files[0], "photo"); e.target.value = ""; });
  $("file-input").addEventListener("change", (e) => { sendFile(e.target.files[0], "document"); e.target.value = ""; });

  const places = $("place-list");
  for (const [name, lat, lon] of PLACES) {
    const b = el("button", "popup-item", "📍 " + name);
    b.type = "button";
    b.addEventListener("click", () => shareLocation(lat, lon));
    places.append(b);
  }
  $("place-real").addEventListener("click", () => {
    if (!navigator.geolocation) { toast("This browser cannot tell its location"); return; }
    navigator.geolocation.getCurrentPosition(
      (pos) => shareLocation(pos.coords.latitude, pos.coords.longitude),
      () => toast("The browser did not give a location"));
  });

  $("add-ru").addEventListener("click", () => addPersona("ru"));
  $("add-en").addEventListener("click", () => addPersona("en"));
  $("open-personas").addEventListener("click", () => openDrawer("personas"));
  $("open-phone").addEventListener("click", () => openDrawer("phone"));
  $("scrim").addEventListener("click", closeDrawers);
  for (const b of document.querySelectorAll("[data-close]")) b.addEventListener("click", closeDrawers);

  $("modal-form").addEventListener("submit", (e) => {
    e.preventDefault();
    closeModal($("modal-input").hidden ? true : $("modal-input").value);
  });
  $("modal-cancel").addEventListener("click", () => closeModal(null));

  document.addEventListener("click", (e) => {
    if (!e.target.closest(".popup, #menu-btn, #attach-btn, .key")) closePopups();
  });
}

async function main() {
  wire();
  await loadPersonas();
  const wanted = location.hash.slice(1);
  if (wanted && state.personas.some((p) => p.id === wanted)) selectPersona(wanted);
  else loadPhones();
}

main();
