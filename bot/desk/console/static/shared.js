// Kefu console: what every console page script shares (console.js, outages.js, the SMS
// simulator's simulator.js); layout.html loads it before them.
// - apiClient: the JSON API client. Same-origin requests carrying the session's CSRF token
//   (meta csrf-token); a 401 goes to the login page; an error answer becomes a rejected
//   promise whose Error carries the desk's message, status, code and field.
// - el: a new element; its text goes in with textContent, never as HTML.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // options.fieldInMessage: prefix the message with the field the desk names ("eta: …").
  function apiClient(options) {
    var fieldInMessage = Boolean(options && options.fieldInMessage);
    var csrf = csrfToken();
    return function api(method, path, payload) {
      var request = {
        method: method,
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "X-Requested-With": "fetch", Accept: "application/json" },
      };
      if (payload !== undefined) {
        request.headers["Content-Type"] = "application/json";
        request.body = JSON.stringify(payload);
      }
      return fetch(path, request).then(function (response) {
        if (response.status === 401) {
          window.location.href = "/console/login?next=" + encodeURIComponent(location.pathname);
          throw new Error("logged out");
        }
        return response.json().then(function (data) {
          if (!response.ok) {
            var message = (data && data.error) || "HTTP " + response.status;
            var field = data && data.field;
            var error = new Error(fieldInMessage && field ? field + ": " + message : message);
            error.status = response.status;
            error.code = data && data.code;
            error.field = field;
            throw error;
          }
          return data;
        });
      });
    };
  }

  window.KefuConsole = { apiClient: apiClient, el: el };
})();
