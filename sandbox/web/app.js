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
// person what went wrong (in the toast of the pane where, the chat's by
// default), so that no click ends in an uncaught error.
async function api(method, path, body, where = "toast") {
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
    toast("The sandbox is not reachable: is `kabinet sandbox` still running?", where);
    return null;
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    toast(data.error || ("HTTP " + res.status), where);
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

  drawItems(box, state.nodes, chat.items, chatSide, resizes);
  if (chat.items.length === 0) {
    box.append(el("div", "empty-note", "This is the start of your chat with " + chat.bot.name + ". Press START."));
  }
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

// drawItems draws a list of messages and system lines into box, changing
// only what changed: an item keeps its element while its JSON is the same.
// side says how the chat's messages look and act (chatSide, groupSide);
// observer watches each element's size.
function drawItems(box, nodes, items, side, observer) {
  const wanted = [];
  const keys = new Set();
  let sysN = 0;
  for (const item of items) {
    const key = item.message ? "m" + item.message.id : "s" + (sysN++) + ":" + item.system.time;
    keys.add(key);
    const sig = JSON.stringify(item);
    let node = nodes.get(key);
    if (!node || node.sig !== sig) {
      const fresh = item.message ? renderMessage(item.message, side) : renderSystem(item.system);
      if (node) { observer.unobserve(node.el); node.el.replaceWith(fresh); }
      observer.observe(fresh);
      node = { sig, el: fresh };
      nodes.set(key, node);
    }
    wanted.push(node.el);
  }
  for (const [key, node] of nodes) {
    if (!keys.has(key)) { observer.unobserve(node.el); node.el.remove(); nodes.delete(key); }
  }
  let ref = box.firstChild;
  for (const e of wanted) {
    if (e === ref) { ref = ref.nextSibling; continue; }
    box.insertBefore(e, ref);
  }
  while (ref) { const next = ref.nextSibling; ref.remove(); ref = next; }
  // Group consecutive messages of one sender: only the last has a tail,
  // only the first the sender's name.
  const msgs = [...box.children];
  msgs.forEach((m, i) => {
    if (!m.classList.contains("msg")) return;
    const same = (o) => o && o.classList.contains("msg") && o.dataset.who === m.dataset.who;
    m.classList.toggle("tail", !same(msgs[i + 1]));
    m.classList.toggle("first", !same(msgs[i - 1]));
  });
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

// How the messages of a chat look and act. In the subscriber's chat the
// person's own are on the right and the bot's on the left; in the
// operators' group the chosen operator's are on the right, everyone else's
// on the left under their name, and the buttons are pressed as that operator.
const chatSide = {
  out: (m) => !m.from_bot,
  press: (m, b) => api("POST", chatPath("/button"), { message_id: m.id, data: b.data }),
  edit: (m) => editOwn(m),
  names: false,
};

const groupSide = {
  out: (m) => !!(m.from && m.from.id && m.from.id === state.desk.operator),
  press: (m, b) => pressCard(m, b),
  edit: (m) => editPost(m),
  names: true,
};

function renderMessage(m, side = chatSide) {
  if (m.service) {
    // "Kabinet created the topic «…»", as a line of its own.
    const line = el("div", "service", ((m.from && m.from.name) || "") + " " + m.service);
    line.title = formatTime(m.date);
    return line;
  }
  const out = side.out(m);
  const row = el("div", "msg " + (out ? "out" : "in"));
  row.dataset.id = m.id;
  row.dataset.who = out ? "me" : (m.from ? (m.from.id || "bot") : "bot");
  const wrap = el("div", "wrap");
  const bubble = el("div", "bubble");
  if (side.names && !out && m.from) {
    bubble.append(el("div", "sender " + nameColor(m.from.id || "bot"), m.from.name));
  }

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

  // The time goes at the end of the text, or beside the reactions: the
  // bot's, as Telegram shows them under the text.
  let metaHost = m.text ? bubble.lastChild : bubble;
  if (m.reactions && m.reactions.length) {
    const rs = el("div", "reactions");
    for (const r of m.reactions) rs.append(el("span", "reaction", r));
    bubble.append(rs);
    metaHost = rs;
  }

  const meta = el("span", "meta");
  if (m.edited) meta.append(el("span", "edited", "edited"));
  meta.append(document.createTextNode(formatTime(m.date)));
  if (out) meta.append(el("span", "ticks", "✓✓"));
  if (out && m.text && !m.photo && !m.document) {
    const edit = el("button", "edit-own", "✎");
    edit.type = "button";
    edit.title = "Edit";
    edit.addEventListener("click", () => side.edit(m));
    meta.append(edit);
  }
  metaHost.append(meta);
  wrap.append(bubble);

  if (m.buttons && m.buttons.length) {
    const kb = el("div", "inline-kb");
    for (const r of m.buttons) {
      const rowEl = el("div", "kb-row");
      for (const b of r) rowEl.append(inlineButton(m, b, side));
      kb.append(rowEl);
    }
    wrap.append(kb);
  }
  row.append(wrap);
  return row;
}

function inlineButton(m, b, side) {
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
      await side.press(m, b);
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

// ---- The operators' group ----

// state.desk is the operators' view: the support group, its topics, the
// topic open and the operator the person answers as.
state.desk = {
  enabled: false,
  chatId: null,       // the group's chat id (string), for its event stream
  view: null,         // the last GET /api/support
  topic: null,        // the thread open, or null
  topicView: null,    // the last GET /api/support/topics/{thread}
  operator: null,     // the operator's user id (string)
  nodes: new Map(),
  events: null,
  loading: false,
  again: false,
  stick: true,
};

const topicPath = (suffix) => "/api/support/topics/" + encodeURIComponent(state.desk.topic) + suffix;

// loadSupport reads the group's topics again, and the open topic; calls
// while one is under way are merged into one more read after it.
async function loadSupport() {
  const d = state.desk;
  if (d.loading) { d.again = true; return; }
  d.loading = true;
  try {
    const v = await api("GET", "/api/support", undefined, "support-toast");
    if (v) renderSupport(v);
    if (d.enabled && d.topic !== null) await loadTopic();
  } finally {
    d.loading = false;
    if (d.again) { d.again = false; loadSupport(); }
  }
}

function renderSupport(v) {
  const d = state.desk;
  d.enabled = v.enabled;
  document.body.classList.toggle("has-support", v.enabled);
  $("support").hidden = !v.enabled;
  $("open-support").hidden = !v.enabled;
  if (!v.enabled) return;
  if (v.chat_id !== d.chatId) {
    // A new sandbox (a restart): a new group, with topics of its own.
    d.chatId = v.chat_id;
    closeTopic();
    connectSupportEvents();
  }
  d.view = v;
  $("support-title").textContent = v.title;
  $("support-avatar").textContent = initial(v.title);
  $("support-status").textContent = plural(v.topics.length, "topic") + " · operators' group";
  if (!v.operators.some((o) => o.id === d.operator)) d.operator = v.operators.length ? v.operators[0].id : null;
  renderOperators();
  renderTopics();
  const errors = $("support-errors");
  errors.replaceChildren(...v.errors.map(renderSystem));
  if (d.topic !== null && !v.topics.some((t) => t.thread === d.topic)) closeTopic(); // deleted
}

function renderOperators() {
  const d = state.desk;
  const box = $("op-picker");
  box.replaceChildren();
  for (const o of d.view.operators) {
    const b = el("button", "op-pick" + (o.id === d.operator ? " active" : ""));
    b.type = "button";
    b.dataset.id = o.id;
    b.setAttribute("aria-pressed", o.id === d.operator ? "true" : "false");
    b.title = o.name + (o.username ? " (@" + o.username + ")" : "");
    const a = avatar(o.name, o.id);
    a.classList.add("small");
    b.append(a, el("span", "", o.name.split(" ")[0]));
    b.addEventListener("click", () => pickOperator(o.id));
    box.append(b);
  }
  const me = d.view.operators.find((o) => o.id === d.operator);
  $("op-input").placeholder = me ? "Message as " + me.name.split(" ")[0] : "Message";
}

function pickOperator(id) {
  const d = state.desk;
  if (id === d.operator) return;
  d.operator = id;
  renderOperators();
  // Whose messages are "mine" changed: draw the topic again.
  d.nodes.clear();
  $("topic-messages").replaceChildren();
  if (d.topicView) renderTopic(d.topicView, true);
}

function renderTopics() {
  const d = state.desk;
  const list = $("topic-list");
  list.replaceChildren();
  let unread = 0;
  for (const t of d.view.topics) {
    const li = el("li", "topic-item" + (t.thread === d.topic ? " active" : "") + (t.unread ? " unread" : "") + (t.closed ? " closed" : ""));
    li.dataset.thread = t.thread;
    li.append(topicIcon(t));
    const main = el("div", "topic-main");
    const top = el("div", "topic-row");
    top.append(el("span", "topic-name", (t.closed ? "🔒 " : "") + t.name));
    if (t.last_date) top.append(el("span", "topic-time", formatTime(t.last_date)));
    const bottom = el("div", "topic-row");
    const last = el("span", "topic-last");
    if (t.last_from) last.append(el("span", "topic-from", t.last_from + ": "));
    last.append(document.createTextNode(t.last || ""));
    bottom.append(last);
    if (t.unread) {
      const badge = el("span", "unread-badge", String(t.unread));
      badge.title = plural(t.unread, "unread message");
      bottom.append(badge);
    }
    main.append(top, bottom);
    li.append(main);
    li.addEventListener("click", () => openTopic(t.thread));
    list.append(li);
    unread += t.unread;
  }
  $("topics-empty").hidden = d.view.topics.length > 0;
  for (const id of ["support-badge", "topics-badge"]) {
    // The back button counts the other topics' unread messages.
    const n = id === "topics-badge" ? unread - ((d.view.topics.find((t) => t.thread === d.topic) || {}).unread || 0) : unread;
    $(id).hidden = n <= 0;
    $(id).textContent = n;
  }
}

// Telegram's six topic colours, by the icon_color the bot chose.
const topicColors = [7322096, 16766590, 13338331, 9367192, 16749490, 16478047];

function topicIcon(t) {
  const i = Math.max(0, topicColors.indexOf(t.color));
  return el("div", "topic-icon tc" + i, t.thread === 0 ? "#" : initial(t.name));
}

function openTopic(thread) {
  const d = state.desk;
  if (d.topic !== thread) {
    d.topic = thread;
    d.topicView = null;
    d.nodes.clear();
    d.stick = true;
    $("topic-messages").replaceChildren();
  }
  $("support-body").classList.add("topic-open");
  renderTopics();
  loadTopic();
  if (!matchMedia("(pointer: coarse)").matches) $("op-input").focus({ preventScroll: true });
}

function closeTopic() {
  const d = state.desk;
  d.topic = null;
  d.topicView = null;
  d.nodes.clear();
  $("support-body").classList.remove("topic-open");
  $("topic-messages").replaceChildren(el("div", "empty-note", "Pick a topic to read the request and answer it as an operator."));
  $("op-composer").hidden = true;
  $("topic-head").hidden = true;
  $("topic-name").textContent = "";
  $("topic-status").textContent = "";
  if (d.view) renderTopics();
}

async function loadTopic() {
  const d = state.desk;
  const asked = d.topic;
  if (asked === null) return;
  let res;
  try {
    res = await fetch(topicPath(""));
  } catch (e) {
    return; // the group's stream says when the sandbox is back
  }
  if (asked !== d.topic) return;
  if (res.status === 404) { closeTopic(); return; } // deleted by hand
  if (!res.ok) return;
  renderTopic(await res.json());
}

function renderTopic(tv, redraw) {
  const d = state.desk;
  const firstDraw = d.topicView === null || redraw;
  const prevCount = d.topicView ? d.topicView.items.length : 0;
  d.topicView = tv;
  $("topic-name").textContent = tv.name;
  $("topic-icon").replaceWith(Object.assign(topicIcon(tv), { id: "topic-icon" }));
  const msgs = tv.items.filter((it) => it.message && !it.message.service).length;
  $("topic-status").textContent = (tv.closed ? "🔒 closed · " : "") + plural(msgs, "message");
  $("op-composer").hidden = false;
  $("topic-head").hidden = false;
  drawItems($("topic-messages"), d.nodes, tv.items, groupSide, topicResizes);
  if (firstDraw || d.stick || tv.items.length > prevCount) topicToNewest();
  markTopicRead();
}

// markTopicRead tells the sandbox the open topic has been read, when the
// person can see it: its unread marker goes.
function markTopicRead() {
  const d = state.desk;
  const tv = d.topicView;
  if (!tv || !tv.unread || !supportVisible()) return;
  const thread = tv.thread;
  tv.unread = 0;
  const t = d.view && d.view.topics.find((x) => x.thread === thread);
  if (t) { t.unread = 0; renderTopics(); }
  api("POST", "/api/support/topics/" + encodeURIComponent(thread) + "/read", { message_id: tv.last_id }, "support-toast");
}

function supportVisible() {
  return state.desk.enabled && (getComputedStyle($("open-support")).display === "none" || document.body.classList.contains("show-support"));
}

function connectSupportEvents() {
  const d = state.desk;
  if (d.events) d.events.close();
  const es = new EventSource("/api/events?chat=" + encodeURIComponent(d.chatId));
  es.onmessage = (e) => {
    const ev = JSON.parse(e.data);
    switch (ev.kind) {
      case "chat":
      case "error":
      case "reload":
        loadSupport();
        break;
      case "toast":
        if (ev.alert) showModal(ev.text); else toast(ev.text, "support-toast");
        break;
    }
  };
  es.onopen = () => loadSupport(); // something may have been missed
  d.events = es;
}

function topicToNewest() {
  const box = $("topic-messages");
  box.scrollTop = box.scrollHeight;
  state.desk.stick = true;
}

const topicResizes = new ResizeObserver(() => { if (state.desk.stick) topicToNewest(); });

// ---- Answering as an operator ----

function operatorBody(extra) {
  return Object.assign({ operator: state.desk.operator }, extra);
}

async function postText(text) {
  text = text.trim();
  if (!text || state.desk.topic === null) return false;
  const res = await api("POST", topicPath("/text"), operatorBody({ text }), "support-toast");
  if (res !== null) topicToNewest();
  return res !== null;
}

async function postFile(file, as) {
  if (!file || state.desk.topic === null) return;
  const form = new FormData();
  form.append("operator", state.desk.operator);
  form.append("file", file);
  form.append("as", as);
  const caption = $("op-input").value.trim();
  if (caption) form.append("caption", caption);
  if (await api("POST", topicPath("/file"), form, "support-toast")) {
    $("op-input").value = "";
    autosize($("op-input"));
    topicToNewest();
  }
}

function pressCard(m, b) {
  return api("POST", "/api/support/button", operatorBody({ message_id: m.id, data: b.data }), "support-toast");
}

async function editPost(m) {
  const text = await askText("Edit your message", m.text);
  if (text && text.trim() !== m.text) await api("POST", "/api/support/edit", operatorBody({ message_id: m.id, text }), "support-toast");
}

function plural(n, word) {
  return n + " " + word + (n === 1 ? "" : "s");
}

// nameColor is the colour class of a sender's name in a group, by their id.
function nameColor(seed) {
  let h = 0;
  for (const ch of String(seed)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return "n" + (h % 7);
}

function wireSupport() {
  $("op-input-bar").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("op-input");
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    autosize(input);
    closePopups();
    if (!(await postText(text))) input.value = text; // give the text back when it did not go
  });
  $("op-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("op-input-bar").requestSubmit();
    }
    if (e.key === "Escape") closePopups();
  });
  $("op-input").addEventListener("input", () => {
    if (!$("op-input").value.trim()) $("op-input").value = "";
    autosize($("op-input"));
  });
  let lastTop = 0;
  $("topic-messages").addEventListener("scroll", () => {
    const box = $("topic-messages");
    if (box.scrollHeight - box.scrollTop - box.clientHeight < 80) state.desk.stick = true;
    else if (box.scrollTop < lastTop) state.desk.stick = false;
    lastTop = box.scrollTop;
  });
  topicResizes.observe($("topic-messages"));
  $("op-attach-btn").addEventListener("click", () => { if ($("op-attach").hidden) openPopup("op-attach"); else closePopups(); });
  $("op-attach-photo").addEventListener("click", () => { closePopups(); $("op-photo-input").click(); });
  $("op-attach-file").addEventListener("click", () => { closePopups(); $("op-file-input").click(); });
  $("op-photo-input").addEventListener("change", (e) => { postFile(e.target.files[0], "photo"); e.target.value = ""; });
  $("op-file-input").addEventListener("change", (e) => { postFile(e.target.files[0], "document"); e.target.value = ""; });
  $("topic-back").addEventListener("click", closeTopic);
  $("open-support").addEventListener("click", () => showSupport(true));
  $("close-support").addEventListener("click", () => showSupport(false));
}

// ---- Popups, drawers, toasts, modal ----

const popups = ["commands", "attach", "places", "op-attach"];

function openPopup(id, keepInput) {
  for (const p of popups) $(p).hidden = p !== id;
  if (!keepInput) $("input").blur();
}

function closePopups() {
  for (const p of popups) $(p).hidden = true;
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

// On a phone the operators' group takes the whole screen in place of the
// subscriber's chat; elsewhere it is beside it and these do nothing.
function showSupport(on) {
  document.body.classList.toggle("show-support", on);
  closePopups();
  if (on) markTopicRead();
}

// toast shows a short note over a pane: the chat's ("toast") or the
// operators' topic ("support-toast").
const toastTimers = {};

function toast(text, where = "toast") {
  const t = $(where);
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimers[where]);
  toastTimers[where] = setTimeout(() => { t.hidden = true; }, 3000);
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

function autosize(t = $("input")) {
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
    if (!e.target.closest(".popup, #menu-btn, #attach-btn, #op-attach-btn, .key")) closePopups();
  });
}

async function main() {
  wire();
  wireSupport();
  loadSupport();
  await loadPersonas();
  const wanted = location.hash.slice(1);
  if (wanted && state.personas.some((p) => p.id === wanted)) selectPersona(wanted);
  else loadPhones();
}

main();
