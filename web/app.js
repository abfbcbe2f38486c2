/* polku dashboard — plain JS, no framework, nothing fetched from elsewhere.
 *
 * Data (the broker's contract, notes/feed_spec.md):
 *   GET api/v1/pending  {now, referrals[], handovers[], tiles{}}
 *   GET api/v1/alerts   {alerts[]}
 *   GET api/v1/stats    {epoch, feed_seq, ...}          (header only)
 *   GET events          SSE; event names are feed topics (referral.received,
 *                       alert.raised, ...) and `reset`.
 * Any feed event (or a reset) re-fetches pending and alerts, debounced; a
 * slow timer re-fetches too, and ages tick locally every second between
 * fetches. All text goes in with textContent: nothing from the server is
 * ever parsed as HTML.
 *
 * Page options (query string): ?refresh=SECONDS (periodic re-fetch, default
 * 15, at least 1); ?access_token=T (a broker bound beyond loopback: passed
 * on to the API and the feed, since an EventSource cannot send headers). */
(function () {
  "use strict";

  var params = new URLSearchParams(window.location.search);
  var REFRESH_MS = Math.max(1, Number(params.get("refresh")) || 15) * 1000;
  var ACCESS_TOKEN = params.get("access_token") || "";
  var DEBOUNCE_MS = 150;
  var MAX_EVENTS_SHOWN = 15;

  /* EventSource delivers a named event only to a listener for that name,
   * so every topic of the contract is listed here. */
  var TOPICS = [
    "referral.requested", "referral.received", "referral.accepted",
    "referral.rejected", "referral.in-progress", "referral.on-hold",
    "referral.completed", "referral.failed", "referral.cancelled",
    "referral.cancel_requested", "referral.cancel-requested",
    "handover.offered", "handover.accepted", "handover.declined",
    "handover.withdrawn", "handover.failed", "handover.withdraw_requested",
    "consent.granted", "consent.revoked", "consent.expired",
    "path.claimed", "path.claim_won", "path.claim_lost", "path.closed", "path.plan",
    "service.started", "service.ended",
    "alert.raised", "alert.cleared", "message"
  ];

  var ALERT_KINDS = {
    referral_not_received: "Referral not received in time",
    referral_not_answered: "Referral not answered in time",
    rejection_no_followup: "Rejected with no follow-up: falling between services",
    handover_unanswered: "Handover offer unanswered",
    consent_expired_open: "Consent expired with open items",
    path_no_coordinator: "Path with no coordinator",
    coordinator_conflict: "Coordinator conflict",
    events_refused: "An organisation's log holds refused events",
    duplicate_session: "Two processes connect with one organisation's key"
  };

  var OVERDUE_REASONS = {
    not_received: "not received",
    not_answered: "not answered"
  };

  var $ = function (id) { return document.getElementById(id); };

  /* ------------------------------------------------------------ state */

  var state = {
    items: [],          /* [{kind, data, fetchedAt}] of the last fetch */
    firstSeen: Object.create(null), /* "referral-<id>" -> refresh cause */
    everFetched: false,
    refreshCount: 0,
    eventCount: 0,
    events: []          /* newest first, at most MAX_EVENTS_SHOWN */
  };

  /* ------------------------------------------------------------ helpers */

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, String(attrs[k]));
      });
    }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function shortKey(key) {
    if (typeof key !== "string" || key === "") return "—";
    return key.length > 10 ? key.slice(0, 8) + "…" : key;
  }

  function shortId(id) {
    if (typeof id !== "string" || id === "") return "—";
    return id.length > 10 ? "…" + id.slice(-8) : id;
  }

  function formatAge(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds) || seconds < 0) return "—";
    var s = Math.floor(seconds);
    if (s < 60) return s + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m " + (s % 60) + "s";
    var h = Math.floor(m / 60);
    if (h < 48) return h + "h " + (m % 60) + "m";
    var d = Math.floor(h / 24);
    return d + "d " + (h % 24) + "h";
  }

  function formatTime(rfc3339) {
    if (!rfc3339) return "—";
    var d = new Date(rfc3339);
    if (isNaN(d.getTime())) return String(rfc3339);
    return d.toLocaleString();
  }

  function ageSince(rfc3339) {
    var d = new Date(rfc3339);
    if (!rfc3339 || isNaN(d.getTime())) return null;
    return Math.max(0, (Date.now() - d.getTime()) / 1000);
  }

  function replaceChildren(parent, children) {
    while (parent.firstChild) parent.removeChild(parent.firstChild);
    children.forEach(function (c) { parent.appendChild(c); });
  }

  function setEmpty(id, empty) {
    $(id).hidden = !empty;
  }

  /* ---------------------------------------------------------- connection */

  var CONN_TEXT = {
    connecting: "Connecting to the live feed…",
    live: "Live: updates arrive as they happen",
    reconnecting: "Connection lost, reconnecting…",
    offline: "Offline: the live feed is unavailable, retrying"
  };

  function setConnection(s) {
    var c = $("conn");
    if (c.getAttribute("data-state") === s) return;
    c.setAttribute("data-state", s);
    $("conn-text").textContent = CONN_TEXT[s] || s;
  }

  /* ------------------------------------------------------------- fetching */

  /* A same-origin relative URL, with the access token when the page has one. */
  function withToken(path) {
    return ACCESS_TOKEN ? path + "?access_token=" + encodeURIComponent(ACCESS_TOKEN) : path;
  }

  function getJSON(path) {
    return fetch(withToken(path), {
      headers: { "Accept": "application/json" },
      cache: "no-store",
      credentials: "same-origin"
    }).then(function (r) {
      if (!r.ok) throw new Error(path + " answered HTTP " + r.status);
      return r.json();
    });
  }

  var inFlight = false, again = null, debounceTimer = null;

  /* Re-fetches now (or right after the fetch in flight). */
  function refresh(cause) {
    if (inFlight) {
      again = again || cause;
      return;
    }
    inFlight = true;
    Promise.all([
      getJSON("api/v1/pending"),
      getJSON("api/v1/alerts"),
      getJSON("api/v1/stats").catch(function () { return null; })
    ]).then(function (res) {
      var fetchedAt = performance.now();
      renderPending(res[0], fetchedAt, cause);
      renderAlerts(res[1]);
      renderStats(res[2]);
      state.everFetched = true;
      state.refreshCount++;
      document.body.setAttribute("data-refresh-count", String(state.refreshCount));
      document.body.setAttribute("data-last-refresh-cause", cause);
      $("updated").textContent = new Date().toLocaleTimeString();
      $("updated").setAttribute("datetime", new Date().toISOString());
      showFetchError(null);
    }).catch(function (err) {
      showFetchError("Could not refresh: " + (err && err.message ? err.message : err));
    }).then(function () {
      inFlight = false;
      if (again) {
        var c = again;
        again = null;
        refresh(c);
      }
    });
  }

  /* Many events in a burst make one re-fetch. */
  function refreshSoon(cause) {
    if (debounceTimer !== null) return;
    debounceTimer = setTimeout(function () {
      debounceTimer = null;
      refresh(cause);
    }, DEBOUNCE_MS);
  }

  function showFetchError(text) {
    var e = $("fetch-error");
    if (!text) {
      e.hidden = true;
      e.textContent = "";
    } else {
      e.textContent = text;
      e.hidden = false;
    }
  }

  /* ------------------------------------------------------------ rendering */

  function setTile(name, value) {
    var v = document.querySelector('[data-testid="tile-' + name + '-value"]');
    v.textContent = typeof value === "number" ? String(value) : "–";
    var tile = document.querySelector('[data-testid="tile-' + name + '"]');
    tile.setAttribute("data-count", typeof value === "number" ? String(value) : "");
  }

  function renderPending(p, fetchedAt, cause) {
    var tiles = (p && p.tiles) || {};
    var byOrg = tiles.pending_by_org || {};
    var orgs = Object.keys(byOrg).sort();
    var total = orgs.reduce(function (n, o) { return n + (Number(byOrg[o]) || 0); }, 0);
    setTile("pending", total);
    setTile("overdue", typeof tiles.overdue === "number" ? tiles.overdue : 0);
    setTile("handovers", typeof tiles.handovers_open === "number" ? tiles.handovers_open : 0);
    setTile("alerts", typeof tiles.alerts === "number" ? tiles.alerts : 0);

    replaceChildren($("org-tiles"), orgs.map(function (o) {
      var li = el("li", { "class": "org-tile", "data-testid": "pending-org-" + o, "data-count": byOrg[o] });
      li.appendChild(el("span", { "class": "org-name" }, o));
      li.appendChild(el("span", { "class": "org-count" }, byOrg[o]));
      return li;
    }));
    setEmpty("org-tiles-empty", orgs.length === 0);

    var items = [];
    ((p && p.referrals) || []).forEach(function (r) { items.push({ kind: "referral", data: r, fetchedAt: fetchedAt }); });
    ((p && p.handovers) || []).forEach(function (h) { items.push({ kind: "handover", data: h, fetchedAt: fetchedAt }); });
    /* oldest first, as the broker sends each list */
    items.sort(function (a, b) { return (b.data.age_s || 0) - (a.data.age_s || 0); });
    items.forEach(function (it) {
      var key = it.kind + "-" + it.data.id;
      if (!(key in state.firstSeen)) state.firstSeen[key] = state.everFetched ? cause : "initial";
    });
    state.items = items;
    replaceChildren($("items"), items.map(itemRow));
    setEmpty("items-empty", items.length === 0);
  }

  function itemRow(it) {
    var d = it.data;
    var overdue = d.overdue === true;
    var tid = it.kind + "-" + d.id;
    var tr = el("tr", {
      "data-testid": tid,
      "data-kind": it.kind,
      "data-id": d.id,
      "data-status": it.kind === "referral" ? d.status : "offered",
      "data-overdue": overdue ? "true" : "false",
      "data-first-seen": state.firstSeen[tid],
      "class": overdue ? "overdue" : null
    });
    tr.appendChild(el("td", { "data-col": "kind" }, it.kind === "referral" ? "Referral" : "Handover"));
    var idCell = el("td", { "data-col": "id" });
    idCell.appendChild(el("code", { title: d.id }, shortId(d.id)));
    tr.appendChild(idCell);
    var keyCell = el("td", { "data-col": "client" });
    keyCell.appendChild(el("code", { title: "client key " + (d.client_key || "") }, shortKey(d.client_key)));
    tr.appendChild(keyCell);
    tr.appendChild(el("td", { "data-col": "from" }, d.from || "—"));
    tr.appendChild(el("td", { "data-col": "to" }, d.to || "—"));
    tr.appendChild(el("td", { "data-col": "service" },
      it.kind === "referral" ? (d.service || "—") : (d.term !== undefined ? "term " + d.term : "—")));
    var status = it.kind === "referral" ? (d.status || "—") : "offered";
    var st = el("td", { "data-col": "status" });
    st.appendChild(el("span", { "class": "badge status-" + status }, status));
    tr.appendChild(st);
    tr.appendChild(el("td", { "data-col": "age", "class": "num" }, formatAge(currentAge(it))));
    var reason = OVERDUE_REASONS[d.overdue_reason] || d.overdue_reason;
    var ov = el("td", {
      "data-col": "overdue",
      "data-testid": tid + "-overdue",
      "data-overdue": overdue ? "true" : "false"
    });
    if (overdue) {
      ov.appendChild(el("span", { "class": "badge badge-overdue" }, reason ? "Overdue: " + reason : "Overdue"));
    } else {
      ov.appendChild(el("span", { "class": "on-time" }, "on time"));
    }
    tr.appendChild(ov);
    return tr;
  }

  function currentAge(it) {
    if (typeof it.data.age_s !== "number") return null;
    return it.data.age_s + (performance.now() - it.fetchedAt) / 1000;
  }

  /* Ages tick between fetches (overdue flags only change with a fetch:
   * the broker owns the SLAs). */
  function tickAges() {
    var rows = $("items").rows;
    for (var i = 0; i < rows.length && i < state.items.length; i++) {
      var cell = rows[i].querySelector('[data-col="age"]');
      if (cell) cell.textContent = formatAge(currentAge(state.items[i]));
    }
    var since = $("alerts").querySelectorAll("[data-since]");
    for (var j = 0; j < since.length; j++) {
      var a = ageSince(since[j].getAttribute("data-since"));
      since[j].textContent = a === null ? "" : "for " + formatAge(a);
    }
  }

  function renderAlerts(a) {
    var alerts = (a && a.alerts) || [];
    replaceChildren($("alerts"), alerts.map(function (x) {
      var li = el("li", {
        "class": "alert alert-" + x.kind,
        "data-testid": "alert-" + x.id,
        "data-kind": x.kind,
        "data-subject-id": x.subject_id
      });
      li.appendChild(el("span", { "class": "alert-kind" }, ALERT_KINDS[x.kind] || x.kind));
      var detail = el("span", { "class": "alert-detail" });
      detail.appendChild(document.createTextNode((x.subject || "item") + " "));
      detail.appendChild(el("code", { title: x.subject_id || "" }, shortId(x.subject_id)));
      if (x.client_key) {
        detail.appendChild(document.createTextNode(" · client "));
        detail.appendChild(el("code", { title: "client key " + x.client_key }, shortKey(x.client_key)));
      }
      if (x.peers && x.peers.length === 2) {
        detail.appendChild(document.createTextNode(" · connected from " + x.peers[0] +
          ", refused from " + x.peers[1]));
      } else if (x.org) {
        detail.appendChild(document.createTextNode(" · waiting on " + x.org));
      }
      li.appendChild(detail);
      var since = ageSince(x.since);
      li.appendChild(el("span", { "class": "alert-since", "data-since": x.since, title: formatTime(x.since) },
        since === null ? "" : "for " + formatAge(since)));
      return li;
    }));
    setEmpty("alerts-empty", alerts.length === 0);
  }

  function renderStats(s) {
    if (!s) return;
    if (s.epoch) $("epoch").textContent = String(s.epoch);
  }

  function eventSubject(ev) {
    var parts = [];
    if (ev.kind) parts.push(ALERT_KINDS[ev.kind] || ev.kind);
    if (ev.from || ev.to) parts.push((ev.from || "?") + " → " + (ev.to || "?"));
    if (ev.orgs && ev.orgs.join) parts.push(ev.orgs.join(", "));
    if (ev.coordinator) parts.push("coordinator " + ev.coordinator);
    if (ev.service && ev.org) parts.push(ev.org + ": " + ev.service);
    if (ev.client_key) parts.push("client " + shortKey(ev.client_key));
    return parts.join(" · ");
  }

  function noteEvent(topic, data) {
    state.eventCount++;
    $("event-count").textContent = String(state.eventCount);
    var ev = null;
    try { ev = data ? JSON.parse(data) : null; } catch (e) { ev = null; }
    state.events.unshift({ topic: topic, ev: ev || {}, at: new Date() });
    if (state.events.length > MAX_EVENTS_SHOWN) state.events.length = MAX_EVENTS_SHOWN;
    replaceChildren($("events"), state.events.map(function (e) {
      var li = el("li", { "data-topic": e.topic });
      li.appendChild(el("time", { datetime: e.at.toISOString() }, e.at.toLocaleTimeString()));
      li.appendChild(el("span", { "class": "topic topic-" + e.topic.split(".")[0] }, e.topic));
      li.appendChild(el("span", { "class": "event-subject" }, eventSubject(e.ev)));
      return li;
    }));
    setEmpty("events-empty", state.events.length === 0);
  }

  /* ------------------------------------------------------------------ SSE */

  var source = null, reopenTimer = null, reopenDelay = 1000;

  function openFeed() {
    if (!window.EventSource) {
      setConnection("offline");
      return;
    }
    setConnection(state.everFetched ? "reconnecting" : "connecting");
    source = new EventSource(withToken("events"));
    source.onopen = function () {
      reopenDelay = 1000;
      setConnection("live");
      /* Whatever happened while the feed was down. */
      refreshSoon("open");
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        /* The browser gave up (e.g. an HTTP error): open it again later. */
        setConnection("offline");
        source.close();
        if (reopenTimer === null) {
          reopenTimer = setTimeout(function () {
            reopenTimer = null;
            openFeed();
          }, reopenDelay);
          reopenDelay = Math.min(reopenDelay * 2, 30000);
        }
      } else {
        setConnection("reconnecting");
      }
    };
    TOPICS.forEach(function (t) {
      source.addEventListener(t, function (e) {
        noteEvent(t === "message" ? "event" : t, e.data);
        refreshSoon("event");
      });
    });
    source.addEventListener("reset", function () {
      /* The broker could not resume from our last id: start over. */
      refreshSoon("reset");
    });
  }

  /* ------------------------------------------------------------ start up */

  setEmpty("items-empty", true);
  setEmpty("alerts-empty", true);
  setEmpty("org-tiles-empty", true);
  refresh("initial");
  openFeed();
  setInterval(function () { refresh("timer"); }, REFRESH_MS);
  setInterval(tickAges, 1000);
})();
