// Kefu console: the supervisors' outage page (bot/outages/console.py).
// Polls /console/api/outages every few seconds (broadcast progress changes with every
// SMS status callback). Everything operator- or customer-typed goes in with textContent.
(function () {
  "use strict";

  if (document.body.dataset.page !== "outages") return;
  var POLL_MS = 3000;
  var BASE = "/console/api/outages";
  var el = window.KefuConsole.el;
  var api = window.KefuConsole.apiClient({ fieldInMessage: true });
  var errorEl = document.getElementById("error");
  var form = document.getElementById("publish");
  var publishButton = document.getElementById("publish-button");
  var statusEl = document.getElementById("publish-status");
  var areaNames = {};
  var timer = null;
  var STATUS_LABELS = {
    announced: "已公告 announced",
    in_progress: "停电中 in progress",
    restored: "已恢复 restored",
    cancelled: "已取消 cancelled",
  };

  function showError(text) {
    errorEl.textContent = text || "";
  }

  function when(iso) {
    if (!iso) return "-";
    return new Date(iso).toLocaleString();
  }

  // <input type="datetime-local"> is the browser's local time: send it with its offset.
  function isoFromLocal(value) {
    if (!value) return null;
    var date = new Date(value);
    return isNaN(date.getTime()) ? null : date.toISOString();
  }

  // ---- list -------------------------------------------------------------------------
  function progressText(p) {
    if (!p) return "-";
    return (
      "收件 " + p.recipients + " · 排队 queued " + p.queued + " · 已发 sent " + p.sent +
      " · 送达 delivered " + p.delivered + " · 失败 failed " + p.failed +
      " · 过期 expired " + p.expired
    );
  }

  function change(outage, payload, what) {
    showError("");
    return api("PATCH", BASE + "/" + encodeURIComponent(outage.id), payload)
      .then(function () {
        statusEl.textContent = outage.id + ": " + what;
        refresh();
      })
      .catch(function (e) {
        showError(outage.id + ": " + e.message);
      });
  }

  function actions(outage) {
    var cell = el("td", "row-actions");
    if (outage.status !== "announced" && outage.status !== "in_progress") return cell;
    var eta = el("input");
    eta.type = "datetime-local";
    eta.setAttribute("aria-label", "新的预计恢复时间 New ETA for " + outage.id);
    var setEta = el("button", null, "改预计 Set ETA");
    setEta.type = "button";
    setEta.addEventListener("click", function () {
      var value = isoFromLocal(eta.value);
      if (!value) return showError("ETA: 请选择时间 pick a time");
      change(outage, { eta: value }, "ETA " + when(value));
    });
    cell.append(eta, setEta);
    if (outage.status === "announced") {
      var started = el("button", null, "开始 Started");
      started.type = "button";
      started.addEventListener("click", function () {
        change(outage, { status: "in_progress" }, STATUS_LABELS.in_progress);
      });
      cell.append(started);
    }
    var restored = el("button", null, "已恢复 Restored");
    restored.type = "button";
    restored.dataset.action = "restored";
    restored.addEventListener("click", function () {
      change(outage, { status: "restored" }, STATUS_LABELS.restored);
    });
    cell.append(restored);
    if (outage.status === "announced") {
      var cancel = el("button", null, "取消 Cancel");
      cancel.type = "button";
      cancel.addEventListener("click", function () {
        change(outage, { status: "cancelled" }, STATUS_LABELS.cancelled);
      });
      cell.append(cancel);
    }
    return cell;
  }

  function row(outage) {
    var tr = el("tr");
    tr.dataset.id = outage.id;
    var areas = outage.areas
      .map(function (id) {
        return areaNames[id] || id;
      })
      .join(", ");
    var status = el("td", "status-" + outage.status, STATUS_LABELS[outage.status] || outage.status);
    status.dataset.status = outage.status;
    tr.append(
      el("td", null, outage.id),
      el("td", null, areas),
      el("td", null, outage.kind),
      status,
      el("td", null, when(outage.starts_at)),
      el("td", "eta", when(outage.eta)),
      el("td", null, outage.cause),
      el("td", "progress", progressText(outage.progress)),
      actions(outage)
    );
    tr.title = outage.text.zh + "\n" + outage.text.en;
    return tr;
  }

  function alertItem(alert) {
    var li = el("li");
    var name = alert.area_name ? alert.area_name.zh + " " + alert.area_name.en : alert.area;
    var at = new Date(alert.at * 1000).toLocaleTimeString();
    li.append(el("span", null, at + " · " + name + " · " + alert.reports + " 位客户报告 reports "));
    var ack = el("button", null, "知道了 Acknowledge");
    ack.type = "button";
    ack.addEventListener("click", function () {
      api("POST", BASE + "/alerts/" + encodeURIComponent(alert.id) + "/ack", {})
        .then(refresh)
        .catch(function (e) {
          showError(e.message);
        });
    });
    li.append(ack);
    return li;
  }

  function render(data) {
    data.areas.forEach(function (a) {
      areaNames[a.id] = a.zh + " " + a.en;
    });
    var body = document.getElementById("outages-body");
    body.replaceChildren.apply(body, data.outages.map(row));
    var alerts = document.getElementById("alerts");
    alerts.replaceChildren.apply(alerts, data.alerts.map(alertItem));
    document.getElementById("alerts-box").hidden = data.alerts.length === 0;
  }

  function refresh() {
    clearTimeout(timer);
    return api("GET", BASE)
      .then(render)
      .catch(function (e) {
        showError(e.message);
      })
      .then(schedule);
  }

  function schedule() {
    clearTimeout(timer);
    // A hidden tab does not poll; it refreshes as soon as it is shown again.
    if (!document.hidden) timer = setTimeout(refresh, POLL_MS);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh();
  });

  // ---- publish ------------------------------------------------------------------------
  function formPayload() {
    var areas = Array.prototype.map.call(
      form.querySelectorAll('input[name="areas"]:checked'),
      function (box) {
        return box.value;
      }
    );
    return {
      areas: areas,
      kind: document.getElementById("kind").value,
      starts_at: isoFromLocal(document.getElementById("starts_at").value),
      eta: isoFromLocal(document.getElementById("eta").value),
      cause: document.getElementById("cause").value,
      text: {
        zh: document.getElementById("text_zh").value,
        en: document.getElementById("text_en").value,
      },
    };
  }

  // Publishing needs a preview of exactly what is in the form: any edit asks for a new one.
  function invalidate() {
    publishButton.disabled = true;
    document.getElementById("preview-result").hidden = true;
  }
  form.addEventListener("input", invalidate);
  form.addEventListener("change", invalidate);

  document.getElementById("preview").addEventListener("click", function () {
    showError("");
    var p = formPayload();
    var ask = { areas: p.areas, kind: p.kind, text: p.text };
    if (p.starts_at) ask.starts_at = p.starts_at;
    if (p.starts_at && p.eta) ask.eta = p.eta;
    api("POST", BASE + "/preview", ask)
      .then(function (data) {
        document.getElementById("preview-recipients").textContent = String(data.recipients);
        document.getElementById("preview-zh").textContent = String(data.segments.zh);
        document.getElementById("preview-en").textContent = String(data.segments.en);
        var bodies = data.bodies || {};
        document.getElementById("preview-body-zh").textContent = bodies.zh || "";
        document.getElementById("preview-body-en").textContent = bodies.en || "";
        document.getElementById("preview-result").hidden = false;
        publishButton.disabled = false;
      })
      .catch(function (e) {
        showError(e.message);
      });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    var payload = formPayload();
    if (!payload.eta) delete payload.eta;
    publishButton.disabled = true;
    api("POST", BASE, payload)
      .then(function (outage) {
        statusEl.textContent = "已发布 Published " + outage.id;
        form.reset();
        invalidate();
        refresh();
      })
      .catch(function (e) {
        publishButton.disabled = false;
        showError(e.message);
      });
  });

  refresh();
})();
