// The SMS phone simulator (bot/desk/simulator.py): text the bot as a chosen number and see
// what reaches that number. Message text is inserted with textContent, never as HTML.
// Live updates poll the simulator API once a second with a cursor into the local sink: the
// console websocket carries handoff events only, and one XRANGE per second is cheap.
(function () {
  "use strict";

  var API = "/console/api/simulator/messages";
  var POLL_MS = 1000;
  var root = document.getElementById("simulator");
  if (!root) return;
  var el = window.KefuConsole.el;
  var api = window.KefuConsole.apiClient({ fieldInMessage: true });
  var phoneInput = document.getElementById("sim-phone");
  var bodyInput = document.getElementById("sim-body");
  var sendButton = document.getElementById("sim-send-button");
  var list = document.getElementById("sim-messages");
  var errorEl = document.getElementById("sim-error");
  var currentEl = document.getElementById("sim-current");
  var KIND_LABELS = { inbound: "", reply: "回复 reply", notice: "通知 notice", reminder: "提醒 reminder" };

  var state = { phone: null, cursor: null, messages: {}, timer: null, generation: 0 };

  if (root.dataset.token === "missing") document.getElementById("sim-token").hidden = false;

  function showError(text) {
    errorEl.textContent = text || "";
  }

  function meta(message) {
    var parts = [new Date(message.at * 1000).toLocaleTimeString()];
    var kind = KIND_LABELS.hasOwnProperty(message.kind) ? KIND_LABELS[message.kind] : message.kind;
    if (kind) parts.push(kind);
    if (message.segments) {
      parts.push(message.segments + " 条 segment" + (message.segments > 1 ? "s" : "") + " · " + message.encoding);
    }
    return parts.join(" · ");
  }

  function render() {
    var messages = Object.keys(state.messages).map(function (key) {
      return state.messages[key];
    });
    messages.sort(function (a, b) {
      return a.at - b.at;
    });
    list.replaceChildren();
    messages.forEach(function (message) {
      var item = el("li", "sim-msg sim-msg--" + message.direction + " sim-msg--" + message.kind);
      item.dataset.kind = message.kind;
      item.dataset.direction = message.direction;
      item.appendChild(el("p", "text", message.body));
      item.appendChild(el("span", "meta", meta(message)));
      list.appendChild(item);
    });
    list.scrollTop = list.scrollHeight;
  }

  function merge(messages) {
    var changed = false;
    messages.forEach(function (message) {
      if (!state.messages.hasOwnProperty(message.key)) changed = true;
      state.messages[message.key] = message;
    });
    if (changed) render();
  }

  function query(phone, after) {
    return API + "?phone=" + encodeURIComponent(phone) + (after ? "&after=" + encodeURIComponent(after) : "");
  }

  function poll(generation) {
    api("GET", query(state.phone, state.cursor))
      .then(function (data) {
        if (generation !== state.generation) return;
        state.cursor = data.cursor;
        merge(data.messages);
      })
      .catch(function (error) {
        if (generation === state.generation) showError(error.message);
      })
      .then(function () {
        if (generation === state.generation) {
          state.timer = window.setTimeout(function () {
            poll(generation);
          }, POLL_MS);
        }
      });
  }

  function open(phone) {
    state.generation += 1;
    var generation = state.generation;
    window.clearTimeout(state.timer);
    showError("");
    return api("GET", query(phone, null))
      .then(function (data) {
        if (generation !== state.generation) return;
        state.phone = data.phone;
        state.cursor = data.cursor;
        state.messages = {};
        phoneInput.value = data.phone;
        currentEl.textContent = data.phone;
        root.dataset.phone = data.phone;
        bodyInput.disabled = false;
        sendButton.disabled = false;
        history.replaceState(null, "", location.pathname + "?phone=" + encodeURIComponent(data.phone));
        list.replaceChildren();
        merge(data.messages);
        bodyInput.focus();
        state.timer = window.setTimeout(function () {
          poll(generation);
        }, POLL_MS);
      })
      .catch(function (error) {
        showError(error.message);
        // The number shown before stays open and live.
        if (generation === state.generation && state.phone) {
          state.timer = window.setTimeout(function () {
            poll(generation);
          }, POLL_MS);
        }
      });
  }

  function send() {
    var text = bodyInput.value;
    if (!state.phone || !text.trim()) return;
    sendButton.disabled = true;
    showError("");
    api("POST", API, { phone: state.phone, body: text })
      .then(function (data) {
        bodyInput.value = "";
        merge([data.message]);
      })
      .catch(function (error) {
        showError(error.message);
      })
      .then(function () {
        sendButton.disabled = false;
        bodyInput.focus();
      });
  }

  document.getElementById("sim-pick").addEventListener("submit", function (event) {
    event.preventDefault();
    open(phoneInput.value);
  });
  document.getElementById("sim-send").addEventListener("submit", function (event) {
    event.preventDefault();
    send();
  });
  bodyInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });

  var initial = new URLSearchParams(location.search).get("phone");
  if (initial) {
    phoneInput.value = initial;
    open(initial);
  }
})();
