// Kefu website chat widget. Talks to Rasa's socket.io channel.
// All customer and bot text is inserted with textContent: never as HTML.
(function () {
  "use strict";

  var root = document.getElementById("kefu-chat");
  var log = document.getElementById("kefu-log");
  var form = document.getElementById("kefu-form");
  var input = document.getElementById("kefu-input");
  var statusEl = document.getElementById("kefu-status");

  var KEY_SESSION = "kefu.session_id";
  var KEY_LOG = "kefu.transcript";
  var KEY_PENDING = "kefu.pending";
  var MAX_KEPT = 200; // transcript entries kept in the browser across reloads

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

  function newSessionId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return Date.now().toString(16) + Math.random().toString(16).slice(2);
  }

  var sessionId = load(KEY_SESSION, null) || newSessionId();
  save(KEY_SESSION, sessionId);
  root.dataset.sessionId = sessionId;

  var transcript = load(KEY_LOG, []);
  // Messages typed while offline, sent once the server confirms our session.
  var pending = load(KEY_PENDING, []);
  var confirmed = false;

  function setStatus(text, state) {
    statusEl.textContent = text;
    root.dataset.state = state;
  }

  function render(entry) {
    var item = document.createElement("li");
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
    if (entry.agent) item.title = entry.agent;
    log.appendChild(item);
    if (entry.buttons && entry.buttons.length) {
      var row = document.createElement("li");
      row.className = "kefu-buttons";
      entry.buttons.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b.title;
        button.addEventListener("click", function () {
          send(b.payload, b.title);
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
    save(KEY_LOG, transcript);
    render(entry);
  }

  transcript.forEach(render);

  var socket = io(root.dataset.rasaUrl, {
    path: "/socket.io",
    transports: ["websocket", "polling"],
    reconnection: true,
    reconnectionDelayMax: 5000,
  });

  function flush() {
    while (confirmed && socket.connected && pending.length) {
      var message = pending.shift();
      socket.emit("user_uttered", { message: message, session_id: sessionId });
    }
    save(KEY_PENDING, pending);
  }

  function send(message, shown) {
    if (!message || !message.trim()) return;
    remember({ from: "user", text: shown || message });
    pending.push(message);
    flush();
  }

  socket.on("connect", function () {
    confirmed = false;
    setStatus("在线 Online", "online");
    // Re-join our session's room on every (re)connect: the server-side sid changes.
    socket.emit("session_request", { session_id: sessionId });
  });

  socket.on("session_confirm", function (id) {
    if (id !== sessionId) {
      sessionId = id;
      save(KEY_SESSION, sessionId);
      root.dataset.sessionId = sessionId;
    }
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
    remember({ from: "system", text: String((data && data.error) || "error") });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    send(text);
  });
})();
