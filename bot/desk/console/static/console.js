// Kefu agent console. Server-rendered pages kept live over one websocket.
// Everything a customer typed is inserted with textContent, never as HTML.
(function () {
  "use strict";

  var body = document.body;
  var page = body.dataset.page;
  if (page === "login") return;

  var me = body.dataset.user;
  var role = body.dataset.role;
  var el = window.KefuConsole.el;
  var api = window.KefuConsole.apiClient();
  var liveEl = document.getElementById("live");
  var errorEl = document.getElementById("error");
  var clockOffset = 0; // server time - browser time, seconds

  function showError(text) {
    if (errorEl) errorEl.textContent = text || "";
  }

  function nowSeconds() {
    return Date.now() / 1000 + clockOffset;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function clock(at) {
    if (!at) return "";
    var d = new Date(at * 1000);
    return d.toLocaleTimeString();
  }

  function conversationUrl(id) {
    return "/console/conversations/" + encodeURIComponent(id);
  }

  // ---- websocket --------------------------------------------------------------------
  var socket = null;
  var retry = 500;
  var handlers = {};
  var onOpen = [];

  function setLive(state, text) {
    if (!liveEl) return;
    liveEl.dataset.state = state;
    liveEl.textContent = text;
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/console/ws");
    socket.addEventListener("open", function () {
      retry = 500;
      setLive("online", "在线 live");
      onOpen.forEach(function (fn) {
        fn();
      });
    });
    socket.addEventListener("message", function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      var handler = handlers[data.type];
      if (handler) handler(data);
    });
    socket.addEventListener("close", function (event) {
      if (event.code === 4401) {
        // Logged out, password changed or account disabled: the session is gone.
        window.location.href = "/console/login?next=" + encodeURIComponent(location.pathname);
        return;
      }
      setLive("offline", "重新连接中 reconnecting");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    });
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  handlers.queue = function (data) {
    if (data.now) clockOffset = data.now - Date.now() / 1000;
    if (page === "queue") renderQueue(data);
    if (page === "supervisor") renderSupervisor(data);
  };

  // ---- queue page -------------------------------------------------------------------
  function renderQueue(data) {
    var tbody = document.getElementById("queue-body");
    var rows = [];
    data.queue.forEach(function (c) {
      var tr = el("tr");
      tr.dataset.conversation = c.id;
      tr.appendChild(el("td", null, c.position));
      tr.appendChild(el("td", "grade grade-" + c.grade, c.grade));
      tr.appendChild(el("td", null, c.channel));
      tr.appendChild(el("td", null, c.language));
      var waiting = el("td", "waiting", duration(nowSeconds() - c.enqueued_at));
      waiting.dataset.since = String(c.enqueued_at);
      tr.appendChild(waiting);
      tr.appendChild(el("td", "last", c.last_text || ""));
      var reason = c.reason + (c.reserved_for ? " · 首问 " + c.reserved_for : "");
      tr.appendChild(el("td", null, reason));
      var cell = el("td");
      var button = el("button", "claim", "接入 Claim");
      button.type = "button";
      button.dataset.conversation = c.id;
      if (c.reserved_for && c.reserved_for !== me) button.disabled = true;
      cell.appendChild(button);
      tr.appendChild(cell);
      rows.push(tr);
    });
    tbody.replaceChildren.apply(tbody, rows);
    document.getElementById("queue-count").textContent = String(data.queue.length);
    var mine = document.getElementById("mine");
    var items = [];
    data.active.forEach(function (c) {
      if (c.agent !== me) return;
      var li = el("li");
      var link = el("a", null, c.id.slice(0, 24));
      link.href = conversationUrl(c.id);
      li.appendChild(link);
      li.appendChild(el("span", null, " · " + c.channel + " · " + (c.last_text || "")));
      items.push(li);
    });
    mine.replaceChildren.apply(mine, items);
  }

  function tickWaiting() {
    document.querySelectorAll("td.waiting[data-since]").forEach(function (cell) {
      cell.textContent = duration(nowSeconds() - Number(cell.dataset.since));
    });
  }

  function claim(id) {
    showError("");
    api("POST", "/console/api/conversations/" + encodeURIComponent(id) + "/claim")
      .then(function () {
        window.location.href = conversationUrl(id);
      })
      .catch(function (error) {
        showError(error.message);
      });
  }

  if (page === "queue") {
    document.getElementById("queue-body").addEventListener("click", function (event) {
      var button = event.target.closest("button.claim");
      if (button) claim(button.dataset.conversation);
    });
    document.getElementById("take-next").addEventListener("click", function () {
      showError("");
      api("POST", "/console/api/queue/next")
        .then(function (data) {
          window.location.href = conversationUrl(data.conversation.id);
        })
        .catch(function (error) {
          showError(error.message);
        });
    });
    handlers.customer_message = function (data) {
      var rows = document.querySelectorAll("#queue-body tr");
      rows.forEach(function (tr) {
        if (tr.dataset.conversation === data.conversation) {
          tr.querySelector("td.last").textContent = data.text;
        }
      });
    };
    setInterval(tickWaiting, 1000);
  }

  // ---- conversation page ------------------------------------------------------------
  if (page === "conversation") {
    var section = document.getElementById("conversation");
    var conversationId = section.dataset.conversation;
    var base = "/console/api/conversations/" + encodeURIComponent(conversationId);
    var transcriptEl = document.getElementById("transcript");
    var notesEl = document.getElementById("notes");
    var seen = {};
    var state = section.dataset.state;
    var agent = section.dataset.agent;

    var lineKey = function (line) {
      return [line.kind, line.at, line.text].join("|");
    };

    var REASONS = {
      opted_out: "客户已退订短信 the customer opted out of SMS (replied STOP)",
    };

    // What the SMS outbox did with an agent's message, as text.
    var deliveryText = function (delivery) {
      var why = REASONS[delivery.reason] || delivery.error || delivery.reason || "";
      switch (delivery.status) {
        case "delivered":
          return "短信已送达 SMS delivered";
        case "sent":
          return "短信已发出 SMS sent";
        case "skipped":
        case "failed":
        case "undelivered":
          return "未送达 NOT delivered" + (why ? ": " + why : "");
        default:
          return "短信排队中 SMS queued";
      }
    };

    var FINAL = { delivered: true, skipped: true, failed: true, undelivered: true };

    var renderLine = function (line) {
      var key = lineKey(line);
      if (seen[key]) return;
      seen[key] = true;
      var li = el("li", "line line--" + line.kind + (line.notice ? " line--notice" : ""));
      var who = { user: "客户 Customer", bot: "机器人 Bot", system: "系统 System" }[line.kind];
      if (line.kind === "agent") who = "客服 " + (line.agent_name || "Agent");
      li.appendChild(el("span", "who", who));
      li.appendChild(el("span", "at", clock(line.at)));
      var text = el("span", "text", line.text);
      text.lang = /[\u3400-\u9fff]/.test(String(line.text || "")) ? "zh-CN" : "en"; // WCAG 3.1.2
      li.appendChild(text);
      if (line.buttons && line.buttons.length) {
        li.appendChild(el("span", "buttons", "[" + line.buttons.join("] [") + "]"));
      }
      if (line.delivery) {
        var status = line.delivery.status;
        li.appendChild(el("span", "delivery delivery--" + status, deliveryText(line.delivery)));
        if (!FINAL[status]) pendingDelivery = true;
      }
      transcriptEl.appendChild(li);
      transcriptEl.scrollTop = transcriptEl.scrollHeight;
    };

    var renderNotes = function (notes) {
      var items = notes.map(function (note) {
        var li = el("li", "note");
        li.appendChild(el("span", "who", note.author));
        li.appendChild(el("span", "at", clock(note.at)));
        li.appendChild(el("span", "text", note.text));
        return li;
      });
      notesEl.replaceChildren.apply(notesEl, items);
    };

    var updateControls = function () {
      var mineNow = state === "agent" && agent === me;
      section.dataset.state = state;
      section.dataset.agent = agent || "";
      document.getElementById("conv-state").textContent = state;
      document.getElementById("conv-agent").textContent = agent || "";
      document.getElementById("claim").disabled = state !== "queued";
      document.getElementById("handback").disabled = !(
        state === "agent" &&
        (mineNow || role === "supervisor")
      );
      document.getElementById("close").disabled = !(
        state === "queued" ||
        (state === "agent" && (mineNow || role === "supervisor"))
      );
      document.querySelector("#reply-form button").disabled = !mineNow;
      document.getElementById("reply-text").disabled = !mineNow;
    };

    var pendingDelivery = false;
    var deliveryTimer = null;
    // SMS delivery status changes after the reply (the sender skips or sends it): look
    // again a few times while any of the agent's messages is still on its way.
    var watchDelivery = function (attempt) {
      clearTimeout(deliveryTimer);
      if (attempt > 6) return;
      deliveryTimer = setTimeout(function () {
        load().then(function () {
          if (pendingDelivery) watchDelivery(attempt + 1);
        });
      }, 1000 * Math.pow(2, attempt));
    };

    var load = function () {
      return api("GET", base)
        .then(function (data) {
          var c = data.conversation;
          state = c.state;
          agent = c.agent;
          document.getElementById("conv-ticket").textContent = c.ticket_id || "-";
          if (c.phone) {
            // Only the agent holding the conversation (or a supervisor) gets the number.
            document.getElementById("conv-phone").textContent = c.phone;
            var phoneInput = document.getElementById("ticket-phone");
            if (!phoneInput.value) phoneInput.value = c.phone;
          }
          seen = {};
          pendingDelivery = false;
          transcriptEl.replaceChildren();
          data.transcript.forEach(renderLine);
          if (data.transcript_error) showError(data.transcript_error);
          renderNotes(data.notes);
          updateControls();
        })
        .catch(function (error) {
          showError(error.message);
        });
    };

    var act = function (path, payload) {
      showError("");
      return api("POST", base + path, payload)
        .then(function (data) {
          return load().then(function () {
            return data;
          });
        })
        .catch(function (error) {
          showError(error.message);
          throw error;
        });
    };

    handlers.message = function (data) {
      if (data.conversation === conversationId) renderLine(data.line);
    };
    handlers.change = function (data) {
      if (data.conversation === conversationId) load();
    };
    onOpen.push(function () {
      send({ type: "watch", conversation: conversationId });
      load();
    });

    document.getElementById("claim").addEventListener("click", function () {
      act("/claim").catch(function () {});
    });
    document.getElementById("handback").addEventListener("click", function () {
      act("/handback").catch(function () {});
    });
    document.getElementById("close").addEventListener("click", function () {
      act("/close").catch(function () {});
    });
    // One idempotency key per composed message: made when the agent sends it, kept for
    // every retry of that same text (automatic or the agent pressing Send again), so the
    // customer gets it once. Editing the text after a failure makes it a new message.
    var composed = null; // {text, key}

    var newKey = function () {
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      return Array.prototype.map
        .call(bytes, function (b) {
          return (b < 16 ? "0" : "") + b.toString(16);
        })
        .join("");
    };

    var retryable = function (error) {
      return !error.status || error.status >= 500 || error.code === "in_progress";
    };

    var sendReply = function (message, attempt) {
      return api("POST", base + "/reply", message).catch(function (error) {
        if (attempt < 3 && retryable(error)) {
          return new Promise(function (resolve) {
            setTimeout(resolve, 1000 * Math.pow(2, attempt));
          }).then(function () {
            return sendReply(message, attempt + 1);
          });
        }
        throw error;
      });
    };

    document.getElementById("reply-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var input = document.getElementById("reply-text");
      var button = document.querySelector("#reply-form button");
      var text = input.value;
      if (!text.trim()) return;
      if (!composed || composed.text !== text) composed = { text: text, key: newKey() };
      var message = composed;
      showError("");
      button.disabled = true;
      sendReply(message, 0)
        .then(function (data) {
          if (composed === message) composed = null;
          if (input.value === message.text) input.value = "";
          if (data.sent && data.sent.delivery) watchDelivery(0);
        })
        .catch(function (error) {
          showError(error.message + " — 未发送，可重试 not sent; press Send to retry");
        })
        .then(function () {
          updateControls();
        });
    });
    document.getElementById("note-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var input = document.getElementById("note-text");
      act("/notes", { text: input.value })
        .then(function () {
          input.value = "";
        })
        .catch(function () {});
    });
    document.getElementById("ticket-form").addEventListener("submit", function (event) {
      event.preventDefault();
      act("/ticket", {
        category: document.getElementById("ticket-category").value,
        description: document.getElementById("ticket-description").value,
        phone: document.getElementById("ticket-phone").value,
      })
        .then(function (data) {
          document.getElementById("ticket-description").value = "";
          document.getElementById("notice").textContent =
            (data.created ? "已建工单 Ticket created: " : "已关联 Linked: ") + data.ticket.number;
        })
        .catch(function () {});
    });
    document.getElementById("link-form").addEventListener("submit", function (event) {
      event.preventDefault();
      act("/ticket", { number: document.getElementById("link-number").value })
        .then(function (data) {
          document.getElementById("notice").textContent = "已关联 Linked: " + data.ticket.number;
        })
        .catch(function () {});
    });
    updateControls();
  }

  // ---- supervisor page --------------------------------------------------------------
  function renderSupervisor(data) {
    var stats = data.stats;
    document.getElementById("stat-online").textContent = String(stats.agents_online);
    document.getElementById("stat-queue").textContent = String(stats.queue_length);
    var longest = document.getElementById("stat-longest");
    longest.textContent = stats.queue_length ? duration(stats.longest_wait_s) : "-";
    document.getElementById("stat-active").textContent = String(stats.active);
    document.getElementById("stat-aht").textContent = duration(stats.avg_handle_s);
    var agents = document.getElementById("agents-online");
    agents.replaceChildren.apply(
      agents,
      stats.agents.map(function (name) {
        return el("li", null, name);
      })
    );
    var active = document.getElementById("active-list");
    active.replaceChildren.apply(
      active,
      data.active.map(function (c) {
        return el("li", null, c.id.slice(0, 24) + " · " + (c.agent || ""));
      })
    );
  }

  connect();
})();
