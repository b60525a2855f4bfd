// Kefu website chat widget. Talks to Rasa's socket.io channel.
// All customer and bot text is inserted with textContent: never as HTML.
(function () {
  "use strict";

  var root = document.getElementById("kefu-chat");
  var log = document.getElementById("kefu-log");
  var form = document.getElementById("kefu-form");
  var input = document.getElementById("kefu-input");
  var statusEl = document.getElementById("kefu-status");

  // The opening (greeting and quick replies) comes from content/web/texts.yml, rendered
  // into the page by the desk; the browser's language picks zh or en.
  var texts = {};
  try {
    texts = JSON.parse(root.dataset.texts || "{}") || {};
  } catch (e) {
    texts = {};
  }
  var LANG = /^zh\b/i.test(String(navigator.language || "")) ? "zh" : "en";

  // The server names the conversation; the widget only keeps the signed token that lets
  // it back in (a client-made id would let anyone write into anyone's conversation).
  var KEY_TOKEN = "kefu.token";
  var KEY_LOG = "kefu.transcript";
  var KEY_PENDING = "kefu.pending";
  var MAX_KEPT = 200; // transcript entries kept in the browser across reloads
  // The transcript on screen is readable by whoever opens this browser next (a family or
  // library computer) and holds what the customer typed: addresses, phone numbers. So it
  // is forgotten after a day without activity, long enough to survive reloads and a
  // same-day return. The conversation itself lives on the server and the token (valid
  // for the server's session lifetime) still resumes it, without the old lines.
  var TRANSCRIPT_IDLE_MS = 24 * 3600 * 1000;

  function load(key, fallback) {
    try {
      var value = JSON.parse(localStorage.getItem(key));
      return value === null ? fallback : value;
    } catch (e) {
      return fallback;
    }
  }

  function save(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      /* storage full or disabled: the chat still works, only without reload memory */
    }
  }

  // Stored as {at: last activity (ms), entries: [...]}; anything else or anything idle
  // for too long is dropped.
  function loadFresh(key) {
    var stored = load(key, null);
    if (
      !stored ||
      typeof stored.at !== "number" ||
      !Array.isArray(stored.entries) ||
      Date.now() - stored.at > TRANSCRIPT_IDLE_MS
    ) {
      try {
        localStorage.removeItem(key);
      } catch (e) {
        /* storage disabled */
      }
      return [];
    }
    return stored.entries;
  }

  function saveFresh(key, entries) {
    save(key, { at: Date.now(), entries: entries });
  }

  try {
    localStorage.removeItem("kefu.session_id"); // the client-made id of earlier versions
  } catch (e) {
    /* storage disabled */
  }

  var token = load(KEY_TOKEN, null);
  var sessionId = null; // known once the server confirms the session

  var transcript = loadFresh(KEY_LOG);
  // Messages typed while offline, sent once the server confirms our session.
  var pending = loadFresh(KEY_PENDING);
  var confirmed = false;

  // Small hints the server accepts (it drops any other field): language and page.
  function clientMetadata() {
    return {
      lang: String(navigator.language || "").slice(0, 35),
      page: location.pathname.slice(0, 200),
    };
  }

  function setStatus(text, state) {
    statusEl.textContent = text;
    root.dataset.state = state;
  }

  // The language of a line, for screen readers (WCAG 3.1.2): any Han character means Chinese.
  function langOf(text) {
    return /[\u3400-\u9fff]/.test(String(text || "")) ? "zh-CN" : "en";
  }

  function render(entry) {
    var item = document.createElement("div");
    item.className = "kefu-msg kefu-msg--" + entry.from;
    if (entry.agent && entry.from === "bot") {
      // A human agent's message: their name above it, both as plain text.
      item.classList.add("kefu-msg--agent");
      var name = document.createElement("span");
      name.className = "kefu-msg__agent";
      name.textContent = entry.agent;
      var body = document.createElement("span");
      body.textContent = entry.text;
      item.appendChild(name);
      item.appendChild(body);
    } else {
      item.textContent = entry.text; // customer text is always text
    }
    if (entry.from === "greeting") item.className = "kefu-msg kefu-msg--greeting";
    if (entry.agent) item.title = entry.agent;
    if (entry.text) item.lang = entry.lang || langOf(entry.text);
    log.appendChild(item);
    if (entry.buttons && entry.buttons.length) {
      var row = document.createElement("div");
      row.className = "kefu-buttons";
      row.setAttribute("role", "group");
      entry.buttons.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b.title;
        button.lang = entry.lang || langOf(b.title);
        // Quick replies answer the question they came with: once the customer has said
        // anything after it, a stale button (a greeting's /ask_bill inside a complaint
        // form) would be taken as the answer to another question.
        button.disabled = !!entry.spent;
        button.addEventListener("click", function () {
          send(b.payload, b.title);
          input.focus(); // the clicked button is now disabled: keep keyboard users in the chat
        });
        row.appendChild(button);
      });
      log.appendChild(row);
    }
    log.scrollTop = log.scrollHeight;
  }

  function remember(entry) {
    transcript.push(entry);
    if (transcript.length > MAX_KEPT) transcript = transcript.slice(-MAX_KEPT);
    saveFresh(KEY_LOG, transcript);
    render(entry);
  }

  transcript.forEach(render);

  function hasGreeting() {
    return transcript.some(function (entry) {
      return entry.from === "greeting";
    });
  }

  // A new conversation opens with help, not a blank box: shown by the widget itself (the
  // model predicts no turn for it) and kept in the transcript, so a resumed conversation
  // shows it once, where it was, and never again.
  function greet() {
    var greeting = texts.greeting && texts.greeting[LANG];
    if (!greeting || hasGreeting()) return;
    // A payload has no words to detect a language from: these buttons, shown in the
    // browser's language, say it (the `language` entity fills the slot, domain.yml).
    var buttons = (texts.quick_replies || []).map(function (r) {
      return { title: String(r[LANG]), payload: String(r.payload) + JSON.stringify({ language: LANG }) };
    });
    var entry = { from: "greeting", text: String(greeting), buttons: buttons, lang: LANG === "zh" ? "zh-CN" : "en" };
    transcript.unshift(entry);
    saveFresh(KEY_LOG, transcript);
    log.textContent = "";
    transcript.forEach(render);
  }

  // Without a token there is nothing to resume: greet at once, before the server answers.
  var startedFresh = token === null;
  if (startedFresh && !transcript.length) greet();

  var socket = io(root.dataset.rasaUrl, {
    path: "/socket.io",
    transports: ["websocket", "polling"],
    // Behind several Rasa replicas, long-polling must keep reaching one of them: the
    // balancer pins this page's requests by this random key (not a secret, not the
    // conversation's identity), not by address, which many customers share.
    query: { kefu_route: Math.random().toString(36).slice(2, 12) },
    reconnection: true,
    reconnectionDelayMax: 5000,
  });

  function flush() {
    while (confirmed && socket.connected && pending.length) {
      var message = pending.shift();
      // No session_id: the server knows which conversation this socket belongs to.
      socket.emit("user_uttered", { message: message, metadata: clientMetadata() });
    }
    saveFresh(KEY_PENDING, pending);
  }

  function spendButtons() {
    transcript.forEach(function (entry) {
      if (entry.buttons && entry.buttons.length) entry.spent = true;
    });
    Array.prototype.forEach.call(log.querySelectorAll(".kefu-buttons button"), function (b) {
      b.disabled = true;
    });
  }

  function send(message, shown) {
    if (!message || !message.trim()) return;
    spendButtons();
    remember({ from: "user", text: shown || message });
    pending.push(message);
    flush();
  }

  socket.on("connect", function () {
    confirmed = false;
    setStatus("连接中… Connecting…", "connecting");
    // On every (re)connect the server-side socket is new: show it our token to get back
    // into our conversation (without one, or with a stale one, it starts a new one).
    socket.emit("session_request", { token: token, metadata: clientMetadata() });
  });

  socket.on("session_confirm", function (data) {
    if (!data || typeof data.session_id !== "string" || typeof data.token !== "string") return;
    var known = sessionId === null ? data.resumed : data.session_id === sessionId;
    // The first confirm after a fresh start: the lines on screen (greeting, what the
    // customer typed meanwhile) already belong to this new conversation.
    var firstOfFresh = startedFresh && sessionId === null;
    if (!known && !firstOfFresh && transcript.length) {
      // The server started a new conversation (our token expired or was refused): the
      // old lines belong to a conversation this browser can no longer reach.
      transcript = [];
      saveFresh(KEY_LOG, transcript);
      log.textContent = "";
    }
    sessionId = data.session_id;
    token = data.token; // refreshed on every confirm, so an active chat never expires
    save(KEY_TOKEN, token);
    root.dataset.sessionId = sessionId;
    if (!known) greet();
    setStatus("在线 Online", "online"); // only now can messages reach the conversation
    confirmed = true;
    flush();
  });

  socket.on("disconnect", function () {
    confirmed = false;
    setStatus("重新连接中… Reconnecting…", "offline");
  });

  socket.io.on("reconnect_attempt", function () {
    setStatus("重新连接中… Reconnecting…", "offline");
  });

  socket.on("bot_uttered", function (data) {
    if (!data) return;
    var buttons = (data.quick_replies || data.buttons || []).map(function (b) {
      return { title: String(b.title), payload: String(b.payload) };
    });
    var agent = data.metadata && data.metadata.agent_name;
    var notice = data.metadata && data.metadata.kefu_event;
    if (notice === "agent_joined" || notice === "agent_left") {
      // An agent joining or leaving is a system line, not a chat bubble.
      remember({ from: "system", text: String(data.text || ""), agent: agent || null });
      root.dataset.agent = notice === "agent_joined" ? String(agent || "") : "";
      return;
    }
    if (data.text || buttons.length) {
      remember({ from: "bot", text: String(data.text || ""), buttons: buttons, agent: agent || null });
    }
  });

  socket.on("kefu_error", function (data) {
    // `text` is written for the customer, in their language; `error` is for developers.
    var text = data && (data.text || data.error);
    remember({ from: "system", text: String(text || "error") });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    send(text);
  });
})();
