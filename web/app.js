/* polku dashboard — plain JS, no framework, nothing fetched from elsewhere.
 *
 * Data (the broker's API, all metadata):
 *   GET api/v1/directory  {orgs[{id,name,services}], sla_s{}}  names, SLAs
 *   GET api/v1/pending    {now, referrals[], handovers[], tiles{}}
 *   GET api/v1/alerts     {alerts[]}
 *   GET api/v1/stats      {epoch, feed_seq, ...}
 *   GET api/v1/paths/KEY  one client's path (the side panel)
 *   GET api/v1/reports    the report view (?view=report)
 *   GET events            SSE; opened with last_event_id a few events back
 *                         so "Latest events" starts with the backlog.
 *   GET i18n/LANG.json    the words: one table per language, no text here.
 * Any feed event re-fetches pending and alerts, debounced; a slow timer
 * re-fetches too; ages tick locally every second. All text goes in with
 * textContent: nothing from the server is ever parsed as HTML.
 *
 * Page state lives in the query string (a link shares the view): lang,
 * view, q, to, from, service, status, urgency, age, overdue, sort, dir,
 * client (the open path), rfrom, rto, rorg; plus ?refresh=SECONDS and
 * ?access_token=T (a broker beyond loopback). Dates are d.M.yyyy and times
 * 24-hour, in Europe/Helsinki. */
(function () {
  "use strict";

  var params = new URLSearchParams(window.location.search);
  var REFRESH_MS = Math.max(1, Number(params.get("refresh")) || 15) * 1000;
  var ACCESS_TOKEN = params.get("access_token") || "";
  var DEBOUNCE_MS = 150;
  var MAX_EVENTS_SHOWN = 15;
  var PAGE = 100;
  var LANGS = ["fi", "sv", "en"];
  var TZ = "Europe/Helsinki";

  /* EventSource delivers a named event only to a listener for that name. */
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
  var CLOSED = { completed: 1, rejected: 1, failed: 1, cancelled: 1 };
  var AGES = [["1h", 3600], ["1d", 86400], ["3d", 259200], ["7d", 604800], ["30d", 2592000]];
  var FILTERS = ["q", "to", "from", "service", "status", "urgency", "age", "overdue", "sort", "dir"];
  var COLS = [
    { key: "kind", sort: "kind" }, { key: "id" }, { key: "client" },
    { key: "from", sort: "from" }, { key: "to", sort: "to" },
    { key: "service", sort: "service" }, { key: "status", sort: "status" },
    { key: "urgency", sort: "urgency" }, { key: "due", sort: "due" },
    { key: "age", sort: "age", num: true }, { key: "overdue", sort: "overdue" }
  ];

  var $ = function (id) { return document.getElementById(id); };

  /* ------------------------------------------------------------ state */

  var state = {
    lang: "en",
    tables: {},           /* lang -> words */
    dir: { orgs: {}, list: [], sla: {} },
    items: [],            /* [{kind, data, fetchedAt}] of the last fetch */
    visible: [],          /* items after filters and sorting */
    shown: PAGE,
    firstSeen: Object.create(null),
    everFetched: false,
    refreshCount: 0,
    eventCount: 0,
    events: [],           /* newest first */
    pending: null, alerts: null, stats: null, report: null,
    f: {},                /* filters, as in the URL */
    path: null,           /* the open client key */
    pathData: null,
    view: params.get("view") === "report" ? "report" : "dashboard",
    langInUrl: params.has("lang")
  };
  FILTERS.forEach(function (k) { state.f[k] = params.get(k) || ""; });
  if (!state.f.sort) state.f.sort = "age";
  if (!state.f.dir) state.f.dir = "desc";

  /* ------------------------------------------------------------- words */

  function i18n(key, vars) {
    var s = state.tables[state.lang] && state.tables[state.lang][key];
    if (typeof s !== "string") return key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, k) {
        return vars[k] !== undefined && vars[k] !== null ? String(vars[k]) : m;
      });
    }
    return s;
  }

  function chooseLang() {
    var q = params.get("lang");
    if (LANGS.indexOf(q) >= 0) return q;
    try {
      var s = window.localStorage.getItem("polku.lang");
      if (LANGS.indexOf(s) >= 0) return s;
    } catch (e) { /* storage off: the browser's languages decide */ }
    var prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (var i = 0; i < prefs.length; i++) {
      var l = String(prefs[i]).toLowerCase().slice(0, 2);
      if (LANGS.indexOf(l) >= 0) return l;
    }
    return "en";
  }

  function loadTable(l) {
    if (state.tables[l]) return Promise.resolve(state.tables[l]);
    return fetch("i18n/" + l + ".json", { cache: "no-cache" }).then(function (r) {
      if (!r.ok) throw new Error("i18n/" + l + ".json: HTTP " + r.status);
      return r.json();
    }).then(function (t) { state.tables[l] = t; return t; });
  }

  /* Words into the static page: data-i18n (text), data-i18n-attr
   * ("attr:key;attr:key"). */
  function applyWords() {
    document.documentElement.lang = state.lang;
    document.title = i18n("app.title");
    var nodes = document.querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = i18n(nodes[i].getAttribute("data-i18n"));
    nodes = document.querySelectorAll("[data-i18n-attr]");
    for (var j = 0; j < nodes.length; j++) {
      nodes[j].getAttribute("data-i18n-attr").split(";").forEach(function (pair) {
        var p = pair.split(":");
        if (p.length === 2) nodes[j].setAttribute(p[0], i18n(p[1]));
      });
    }
    $("lang").value = state.lang;
    $("conn-text").textContent = i18n("conn." + $("conn").getAttribute("data-state"));
  }

  function setLang(l, remember) {
    return loadTable(l).then(function () {
      state.lang = l;
      if (remember) {
        try { window.localStorage.setItem("polku.lang", l); } catch (e) { /* not remembered */ }
        state.langInUrl = true;
      }
      applyWords();
      renderAll();
      writeUrl();
    });
  }

  /* ------------------------------------------------- times and durations */

  var partsFmt = null;
  function helsinki(d) {
    if (!partsFmt) {
      partsFmt = new Intl.DateTimeFormat("en-GB", {
        timeZone: TZ, year: "numeric", month: "numeric", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
      });
    }
    var o = {};
    partsFmt.formatToParts(d).forEach(function (p) { o[p.type] = p.value; });
    return o;
  }
  function toDate(v) {
    var d = v instanceof Date ? v : new Date(v);
    return v && !isNaN(d.getTime()) ? d : null;
  }
  function fmtDate(v) {
    var d = toDate(v);
    if (!d) return "—";
    var p = helsinki(d);
    return Number(p.day) + "." + Number(p.month) + "." + p.year;
  }
  function fmtTime(v, seconds) {
    var d = toDate(v);
    if (!d) return "—";
    var p = helsinki(d), sep = i18n("fmt.time_sep");
    return p.hour + sep + p.minute + (seconds ? sep + p.second : "");
  }
  function fmtDateTime(v) {
    var d = toDate(v);
    return d ? fmtDate(d) + " " + fmtTime(d) : "—";
  }
  /* yyyy-mm-dd of a day in Helsinki (for <input type=date>). */
  function isoDay(d) {
    var p = helsinki(d);
    return p.year + "-" + ("0" + p.month).slice(-2) + "-" + ("0" + p.day).slice(-2);
  }
  function fmtDur(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds) || seconds < 0) return "—";
    var s = Math.floor(seconds);
    if (s < 60) return i18n("dur.s", { n: s });
    var m = Math.floor(s / 60);
    if (m < 60) return i18n("dur.min", { n: m });
    var h = Math.floor(m / 60);
    if (h < 48) return i18n("dur.h", { h: h, m: m % 60 });
    return i18n("dur.d", { d: Math.floor(h / 24), h: h % 24 });
  }
  function ageSince(v) {
    var d = toDate(v);
    return d ? Math.max(0, (Date.now() - d.getTime()) / 1000) : null;
  }

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
  function replaceChildren(parent, children) {
    while (parent.firstChild) parent.removeChild(parent.firstChild);
    children.forEach(function (c) { parent.appendChild(c); });
  }
  function setEmpty(id, empty) { $(id).hidden = !empty; }
  function shortKey(key) {
    if (typeof key !== "string" || key === "") return "—";
    return key.length > 10 ? key.slice(0, 8) + "…" : key;
  }
  function shortId(id) {
    if (typeof id !== "string" || id === "") return "—";
    return id.length > 10 ? "…" + id.slice(-8) : id;
  }
  function orgName(id) {
    var o = id && state.dir.orgs[id];
    return o ? o.name : (id || "—");
  }
  /* An organisation by name, its id on hover. */
  function orgEl(id) {
    return el("span", { "class": "org", title: id || "", "data-org": id || "" }, orgName(id));
  }
  function statusWord(s) { return i18n("status." + (s || "unknown")); }

  /* ---------------------------------------------------------- URL state */

  function writeUrl() {
    var p = new URLSearchParams();
    ["refresh", "access_token"].forEach(function (k) { if (params.get(k)) p.set(k, params.get(k)); });
    if (state.langInUrl) p.set("lang", state.lang);
    if (state.view === "report") {
      p.set("view", "report");
      ["rfrom", "rto", "rorg"].forEach(function (k) {
        var v = $(k === "rfrom" ? "r-from" : k === "rto" ? "r-to" : "r-org").value;
        if (v) p.set(k, v);
      });
    } else {
      FILTERS.forEach(function (k) {
        var v = state.f[k];
        if (v && !(k === "sort" && v === "age") && !(k === "dir" && v === "desc")) p.set(k, v);
      });
    }
    if (state.path) p.set("client", state.path);
    var url = window.location.pathname + (p.toString() ? "?" + p.toString() : "");
    window.history.replaceState(null, "", url);
    var keep = new URLSearchParams();
    ["refresh", "access_token", "lang"].forEach(function (k) { if (p.get(k)) keep.set(k, p.get(k)); });
    var dash = keep.toString();
    keep.set("view", "report");
    $("nav-dashboard").setAttribute("href", "?" + dash);
    $("nav-report").setAttribute("href", "?" + keep.toString());
  }

  /* ------------------------------------------------------------- fetching */

  function api(path, extra) {
    var p = new URLSearchParams(extra || {});
    if (ACCESS_TOKEN) p.set("access_token", ACCESS_TOKEN);
    var q = p.toString();
    return path + (q ? "?" + q : "");
  }

  function getJSON(path, extra) {
    return fetch(api(path, extra), {
      headers: { "Accept": "application/json" }, cache: "no-store", credentials: "same-origin"
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (j) {
        if (!r.ok) {
          var msg = j && j.error && j.error.message ? j.error.message : "HTTP " + r.status;
          var e = new Error(msg);
          e.status = r.status;
          throw e;
        }
        return j;
      });
    });
  }

  var inFlight = false, again = null, debounceTimer = null;

  function fetchData() {
    return Promise.all([
      getJSON("api/v1/pending"),
      getJSON("api/v1/alerts"),
      getJSON("api/v1/stats").catch(function () { return null; })
    ]);
  }

  /* Re-fetches now (or right after the fetch in flight); the first time
   * with the fetch start() began beside the words and the directory. */
  function refresh(cause, started) {
    if (inFlight) {
      again = again || cause;
      return;
    }
    inFlight = true;
    (started || fetchData()).then(function (res) {
      var fetchedAt = performance.now();
      state.pending = res[0];
      state.alerts = res[1];
      if (res[2]) state.stats = res[2];
      takePending(res[0], fetchedAt, cause);
      renderDashboard();
      document.body.setAttribute("data-render-ms", String(Math.round(performance.now() - fetchedAt)));
      state.everFetched = true;
      state.refreshCount++;
      document.body.setAttribute("data-refresh-count", String(state.refreshCount));
      document.body.setAttribute("data-last-refresh-cause", cause);
      var now = new Date();
      $("updated").textContent = fmtTime(now, true);
      $("updated").setAttribute("datetime", now.toISOString());
      if (document.body.getAttribute("data-ready") !== "true")
        document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
      document.body.setAttribute("data-ready", "true");
      showFetchError(null);
    }).catch(function (err) {
      showFetchError(i18n("error.refresh", { why: err && err.message ? err.message : err }));
    }).then(function () {
      inFlight = false;
      if (again) {
        var c = again;
        again = null;
        refresh(c);
      }
    });
  }

  function refreshSoon(cause) {
    if (debounceTimer !== null) return;
    debounceTimer = setTimeout(function () {
      debounceTimer = null;
      refresh(cause);
    }, DEBOUNCE_MS);
  }

  function showFetchError(text) {
    var e = $("fetch-error");
    e.textContent = text || "";
    e.hidden = !text;
  }

  /* ------------------------------------------------------- the dashboard */

  function takePending(p, fetchedAt, cause) {
    var items = [];
    ((p && p.referrals) || []).forEach(function (r) { items.push({ kind: "referral", data: r, fetchedAt: fetchedAt }); });
    ((p && p.handovers) || []).forEach(function (h) { items.push({ kind: "handover", data: h, fetchedAt: fetchedAt }); });
    items.forEach(function (it) {
      var key = it.kind + "-" + it.data.id;
      if (!(key in state.firstSeen)) state.firstSeen[key] = state.everFetched ? cause : "initial";
    });
    state.items = items;
  }

  function setTile(name, value) {
    var v = document.querySelector('[data-testid="tile-' + name + '-value"]');
    v.textContent = typeof value === "number" ? String(value) : "–";
    document.querySelector('[data-testid="tile-' + name + '"]')
      .setAttribute("data-count", typeof value === "number" ? String(value) : "");
  }

  function renderTiles() {
    var tiles = (state.pending && state.pending.tiles) || {};
    var byOrg = tiles.pending_by_org || {};
    var orgs = Object.keys(byOrg).sort(function (a, b) { return byOrg[b] - byOrg[a] || orgName(a).localeCompare(orgName(b)); });
    var total = orgs.reduce(function (n, o) { return n + (Number(byOrg[o]) || 0); }, 0);
    setTile("pending", state.pending ? total : null);
    setTile("overdue", typeof tiles.overdue === "number" ? tiles.overdue : null);
    setTile("handovers", typeof tiles.handovers_open === "number" ? tiles.handovers_open : null);
    setTile("alerts", typeof tiles.alerts === "number" ? tiles.alerts : null);
    replaceChildren($("org-tiles"), orgs.map(function (o) {
      var li = el("li", { "class": "org-tile", "data-testid": "pending-org-" + o, "data-count": byOrg[o] });
      var b = el("button", { type: "button", "class": "org-filter", title: o, "aria-pressed": state.f.to === o ? "true" : "false" });
      b.appendChild(el("span", { "class": "org-name" }, orgName(o)));
      b.appendChild(el("span", { "class": "org-count" }, byOrg[o]));
      b.addEventListener("click", function () { setFilter("to", state.f.to === o ? "" : o); });
      li.appendChild(b);
      return li;
    }));
    setEmpty("org-tiles-empty", state.pending && orgs.length === 0);
  }

  function itemStatus(it) { return it.kind === "referral" ? (it.data.status || "unknown") : "offered"; }
  function currentAge(it) {
    if (typeof it.data.age_s !== "number") return null;
    return it.data.age_s + (performance.now() - it.fetchedAt) / 1000;
  }

  function matches(it) {
    var d = it.data, f = state.f;
    if (f.to && d.to !== f.to) return false;
    if (f.from && d.from !== f.from) return false;
    if (f.service && (it.kind !== "referral" || d.service !== f.service)) return false;
    if (f.status && itemStatus(it) !== f.status) return false;
    if (f.urgency && (it.kind !== "referral" || d.urgency !== f.urgency)) return false;
    if (f.overdue === "1" && d.overdue !== true) return false;
    if (f.age && (currentAge(it) || 0) < Number(f.age)) return false;
    if (f.q) {
      var q = f.q.trim().toLowerCase();
      if (q && String(d.id || "").toLowerCase().indexOf(q) < 0 &&
          String(d.client_key || "").indexOf(q) < 0) return false;
    }
    return true;
  }

  var SORTS = {
    kind: function (it) { return it.kind; },
    from: function (it) { return orgName(it.data.from); },
    to: function (it) { return orgName(it.data.to); },
    service: function (it) { return it.data.service || ""; },
    status: function (it) { return statusWord(itemStatus(it)); },
    urgency: function (it) { return it.data.urgency === "urgent" ? 1 : 0; },
    due: function (it) { var d = toDate(it.data.due); return d ? d.getTime() : Infinity; },
    age: function (it) { return it.data.age_s || 0; },
    overdue: function (it) { return it.data.overdue ? lateBy(it) : -1; }
  };

  function applyFilters() {
    var key = SORTS[state.f.sort] || SORTS.age, sign = state.f.dir === "asc" ? 1 : -1;
    state.visible = state.items.filter(matches).sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = typeof x === "string" ? x.localeCompare(y) : (x < y ? -1 : x > y ? 1 : 0);
      return c * sign || (b.data.age_s || 0) - (a.data.age_s || 0);
    });
  }

  /* The SLA an overdue item broke (seconds) and by how much. */
  function slaOf(it) {
    var s = state.dir.sla || {};
    if (it.kind === "handover") return s.handover_answer;
    return it.data.overdue_reason === "not_answered" ? s.referral_answer : s.referral_receipt;
  }
  function lateBy(it) {
    var sla = slaOf(it), age = currentAge(it);
    return typeof sla === "number" && typeof age === "number" ? Math.max(0, age - sla) : 0;
  }
  function overdueText(it) {
    var key = it.kind === "handover" ? "overdue.handover"
      : it.data.overdue_reason === "not_answered" ? "overdue.not_answered" : "overdue.not_received";
    return i18n(key, { sla: fmtDur(slaOf(it)), late: fmtDur(lateBy(it)) });
  }

  function clientButton(key) {
    if (!key) return el("span", null, "—");
    var b = el("button", { type: "button", "class": "link client-link", "data-client-key": key,
      title: key, "aria-label": i18n("client.open", { key: shortKey(key) }) });
    b.appendChild(el("code", null, shortKey(key)));
    b.addEventListener("click", function () { openPath(key, b); });
    return b;
  }

  function itemRow(it) {
    var d = it.data, overdue = d.overdue === true, tid = it.kind + "-" + d.id, status = itemStatus(it);
    var tr = el("tr", {
      "data-testid": tid, "data-kind": it.kind, "data-id": d.id, "data-status": status,
      "data-overdue": overdue ? "true" : "false", "data-first-seen": state.firstSeen[tid],
      "data-from": d.from, "data-to": d.to, "data-client-key": d.client_key,
      "class": overdue ? "overdue" : null
    });
    tr.appendChild(el("td", { "data-col": "kind" }, i18n("kind." + it.kind)));
    var idCell = el("td", { "data-col": "id" });
    idCell.appendChild(el("code", { title: d.id }, shortId(d.id)));
    tr.appendChild(idCell);
    var keyCell = el("td", { "data-col": "client" });
    keyCell.appendChild(clientButton(d.client_key));
    tr.appendChild(keyCell);
    var from = el("td", { "data-col": "from" }); from.appendChild(orgEl(d.from)); tr.appendChild(from);
    var to = el("td", { "data-col": "to" }); to.appendChild(orgEl(d.to)); tr.appendChild(to);
    tr.appendChild(el("td", { "data-col": "service" }, it.kind === "referral" ? (d.service || "—") : "—"));
    var st = el("td", { "data-col": "status" });
    st.appendChild(el("span", { "class": "badge status-" + status }, statusWord(status)));
    tr.appendChild(st);
    var urg = el("td", { "data-col": "urgency" });
    if (d.urgency) urg.appendChild(el("span", { "class": "urgency-" + d.urgency }, i18n("urgency." + d.urgency)));
    else urg.textContent = "—";
    tr.appendChild(urg);
    tr.appendChild(el("td", { "data-col": "due", title: d.due ? fmtDateTime(d.due) : null }, d.due ? fmtDate(d.due) : "—"));
    tr.appendChild(el("td", { "data-col": "age", "class": "num" }, fmtDur(currentAge(it))));
    var ov = el("td", { "data-col": "overdue", "data-testid": tid + "-overdue", "data-overdue": overdue ? "true" : "false" });
    if (overdue) {
      ov.appendChild(el("span", { "class": "badge badge-overdue" }, i18n("overdue.short")));
      ov.appendChild(el("span", { "class": "overdue-why" }, overdueText(it)));
    } else {
      ov.appendChild(el("span", { "class": "on-time" }, i18n("overdue.on_time")));
    }
    tr.appendChild(ov);
    return tr;
  }

  function renderHead() {
    replaceChildren($("items-head"), COLS.map(function (c) {
      var label = i18n("col." + c.key);
      var th = el("th", { scope: "col", "class": c.num ? "num" : null });
      if (!c.sort) {
        th.textContent = label;
        return th;
      }
      var active = state.f.sort === c.sort;
      if (active) th.setAttribute("aria-sort", state.f.dir === "asc" ? "ascending" : "descending");
      var b = el("button", { type: "button", "class": "sort", "data-sort": c.sort, "data-testid": "sort-" + c.sort,
        title: i18n("sort.by", { col: label }) }, label);
      if (active) b.appendChild(el("span", { "aria-hidden": "true" }, state.f.dir === "asc" ? " ▲" : " ▼"));
      b.addEventListener("click", function () {
        if (state.f.sort === c.sort) state.f.dir = state.f.dir === "asc" ? "desc" : "asc";
        else { state.f.sort = c.sort; state.f.dir = c.sort === "age" || c.sort === "overdue" || c.sort === "urgency" ? "desc" : "asc"; }
        renderItems();
        writeUrl();
        var again = document.querySelector('[data-sort="' + c.sort + '"]');
        if (again) again.focus();
      });
      th.appendChild(b);
      return th;
    }));
  }

  function renderItems() {
    applyFilters();
    renderHead();
    var rows = state.visible.slice(0, state.shown);
    replaceChildren($("items"), rows.map(itemRow));
    var total = state.visible.length;
    $("items-count").textContent = state.pending ? i18n("items.showing", { shown: rows.length, total: total }) : "";
    $("items-empty").textContent = state.items.length === 0 ? i18n("items.empty") : i18n("items.none_match");
    setEmpty("items-empty", !!state.pending && total === 0);
    $("items-more").hidden = rows.length >= total;
  }

  /* Filter controls from the directory and the items. */
  function options(select, values, current) {
    var list = [el("option", { value: "" }, i18n("filter.any"))];
    values.forEach(function (v) {
      var o = el("option", { value: v[0], title: v[2] || null }, v[1]);
      list.push(o);
    });
    replaceChildren(select, list);
    select.value = current || "";
    if (select.value !== (current || "")) select.value = "";
  }

  function renderFilters() {
    var orgs = state.dir.list.map(function (o) { return [o.id, o.name, o.id]; })
      .sort(function (a, b) { return a[1].localeCompare(b[1]); });
    options($("f-to"), orgs, state.f.to);
    options($("f-from"), orgs, state.f.from);
    var svc = {};
    state.dir.list.forEach(function (o) { (o.services || []).forEach(function (s) { svc[s] = 1; }); });
    state.items.forEach(function (it) { if (it.data.service) svc[it.data.service] = 1; });
    options($("f-service"), Object.keys(svc).sort().map(function (s) { return [s, s]; }), state.f.service);
    options($("f-status"), ["requested", "received", "offered"].map(function (s) { return [s, statusWord(s)]; }), state.f.status);
    options($("f-urgency"), ["urgent", "routine"].map(function (s) { return [s, i18n("urgency." + s)]; }), state.f.urgency);
    options($("f-age"), AGES.map(function (a) { return [String(a[1]), i18n("age." + a[0])]; }), state.f.age);
    $("f-overdue").checked = state.f.overdue === "1";
    if (document.activeElement !== $("f-q")) $("f-q").value = state.f.q;
  }

  function setFilter(k, v) {
    state.f[k] = v;
    state.shown = PAGE;
    renderFilters();
    renderTiles();
    renderItems();
    writeUrl();
  }

  /* Alerts grouped by kind, then by the organisation that must act. */
  function renderAlerts() {
    var alerts = ((state.alerts && state.alerts.alerts) || []).slice()
      .sort(function (a, b) { return String(b.since).localeCompare(String(a.since)); });
    var kinds = {}, order = [];
    alerts.forEach(function (a) {
      if (!kinds[a.kind]) { kinds[a.kind] = { n: 0, orgs: {}, orgOrder: [] }; order.push(a.kind); }
      var k = kinds[a.kind], o = a.org || "";
      k.n++;
      if (!k.orgs[o]) { k.orgs[o] = []; k.orgOrder.push(o); }
      k.orgs[o].push(a);
    });
    order.sort(function (a, b) { return kinds[b].n - kinds[a].n || a.localeCompare(b); });
    replaceChildren($("alerts"), order.map(function (kind) {
      var k = kinds[kind];
      var sec = el("section", { "class": "alert-group alert-" + kind, "data-testid": "alert-group-" + kind, "data-kind": kind, "data-count": k.n });
      var h = el("h3", null);
      h.appendChild(el("span", null, i18n("alert." + kind)));
      h.appendChild(el("span", { "class": "count", "data-testid": "alert-count-" + kind }, k.n));
      sec.appendChild(h);
      k.orgOrder.sort(function (a, b) { return k.orgs[b].length - k.orgs[a].length; });
      k.orgOrder.forEach(function (o) {
        var det = el("details", { "class": "alert-org", "data-org": o, "data-count": k.orgs[o].length });
        if (k.orgs[o].length <= 5) det.open = true;
        det.appendChild(el("summary", { title: o }, i18n("alerts.group_org", { org: o ? orgName(o) : i18n("alerts.no_org"), n: k.orgs[o].length })));
        var ol = el("ol", null);
        var fill = function () {
          if (ol.firstChild) return;
          k.orgs[o].forEach(function (x) { ol.appendChild(alertItem(x)); });
        };
        /* a long group's items are made when it is opened */
        if (det.open) fill();
        else det.addEventListener("toggle", fill);
        det.appendChild(ol);
        sec.appendChild(det);
      });
      return sec;
    }));
    setEmpty("alerts-empty", !!state.alerts && alerts.length === 0);
  }

  function alertItem(x) {
    var li = el("li", { "class": "alert", "data-testid": "alert-" + x.id, "data-kind": x.kind,
      "data-subject-id": x.subject_id, "data-client-key": x.client_key || null, "data-org": x.org || null });
    var detail = el("span", { "class": "alert-detail" });
    detail.appendChild(document.createTextNode(i18n("subject." + (x.subject || "referral")) + " "));
    detail.appendChild(el("code", { title: x.subject_id || "" }, shortId(x.subject_id)));
    if (x.peers && x.peers.length === 2) detail.appendChild(document.createTextNode(" · " + x.peers.join(" / ")));
    li.appendChild(detail);
    var since = ageSince(x.since);
    li.appendChild(el("span", { "class": "alert-since", "data-since": x.since, title: fmtDateTime(x.since) },
      since === null ? "" : i18n("alerts.for", { age: fmtDur(since) })));
    var acts = el("span", { "class": "alert-actions" });
    if (x.client_key) {
      var b = el("button", { type: "button", "class": "link open-path", "data-testid": "alert-path-" + x.id,
        "aria-label": i18n("client.open", { key: shortKey(x.client_key) }) }, i18n("alerts.open_path"));
      b.addEventListener("click", function () { openPath(x.client_key, b); });
      acts.appendChild(b);
    }
    if (x.subject === "referral" || x.subject === "handover") {
      var s = el("button", { type: "button", "class": "link" }, i18n("alerts.show_item"));
      s.addEventListener("click", function () {
        Object.keys(state.f).forEach(function (k) { if (k !== "sort" && k !== "dir") state.f[k] = ""; });
        setFilter("q", x.subject_id);
        $("f-q").focus();
      });
      acts.appendChild(s);
    }
    li.appendChild(acts);
    return li;
  }

  /* A broker pair: which broker is active; this page's broker may be the
   * passive one, which routes nothing and shows nothing of the paths. */
  function renderPair(ha) {
    var box = $("ha");
    if (!ha || ha.role === "single") {
      box.hidden = true;
      return;
    }
    var role = i18n("ha.role." + ha.role);
    var text;
    if (ha.state === "active") text = i18n("ha.this_active", { role: role });
    else if (ha.active) text = i18n("ha.other_active", { role: role, active: ha.active });
    else text = i18n("ha.none_active", { role: role });
    $("ha-text").textContent = text;
    box.setAttribute("data-state", ha.state);
    box.hidden = false;
  }

  function renderStats() {
    var s = state.stats;
    if (s && s.epoch) $("epoch").textContent = String(s.epoch);
    if (s) renderPair(s.ha);
  }

  function eventSubject(ev) {
    var parts = [];
    if (ev.kind) parts.push(i18n("alert." + ev.kind));
    if (ev.from || ev.to) parts.push(orgName(ev.from) + " → " + orgName(ev.to));
    if (ev.coordinator) parts.push(orgName(ev.coordinator));
    if (ev.service && ev.org) parts.push(orgName(ev.org) + ": " + ev.service);
    if (ev.client_key) parts.push(shortKey(ev.client_key));
    return parts.join(" · ");
  }

  function renderEvents() {
    replaceChildren($("events"), state.events.map(function (e) {
      var li = el("li", { "data-topic": e.topic });
      li.appendChild(el("time", { datetime: e.at.toISOString(), title: fmtDateTime(e.at) }, fmtTime(e.at, true)));
      li.appendChild(el("span", { "class": "topic topic-" + e.topic.split(".")[0] }, i18n("ev." + e.topic)));
      var subj = el("span", { "class": "event-subject" }, eventSubject(e.ev));
      li.appendChild(subj);
      if (e.ev.client_key) {
        var b = clientButton(e.ev.client_key);
        b.classList.add("event-path");
        b.textContent = "↗";
        li.appendChild(b);
      }
      return li;
    }));
    setEmpty("events-empty", state.events.length === 0);
  }

  function noteEvent(topic, data) {
    state.eventCount++;
    $("event-count").textContent = String(state.eventCount);
    var ev = null;
    try { ev = data ? JSON.parse(data) : null; } catch (e) { ev = null; }
    ev = ev || {};
    state.events.unshift({ topic: topic, ev: ev, at: toDate(ev.at) || new Date() });
    if (state.events.length > MAX_EVENTS_SHOWN) state.events.length = MAX_EVENTS_SHOWN;
    renderEvents();
  }

  function renderDashboard() {
    renderTiles();
    renderFilters();
    renderItems();
    renderAlerts();
    renderStats();
    renderEvents();
  }

  /* Ages tick between fetches (overdue flags change only with a fetch: the
   * broker owns the SLAs). */
  function tickAges() {
    if (state.view !== "dashboard") return;
    var rows = $("items").rows;
    for (var i = 0; i < rows.length && i < state.visible.length; i++) {
      var cell = rows[i].querySelector('[data-col="age"]');
      if (cell) cell.textContent = fmtDur(currentAge(state.visible[i]));
    }
    var since = $("alerts").querySelectorAll("[data-since]");
    for (var j = 0; j < since.length; j++) {
      var a = ageSince(since[j].getAttribute("data-since"));
      since[j].textContent = a === null ? "" : i18n("alerts.for", { age: fmtDur(a) });
    }
  }

  /* ------------------------------------------------------- the path panel */

  var pathOpener = null;

  function openPath(key, opener) {
    pathOpener = opener || null;
    state.path = key;
    state.pathData = null;
    writeUrl();
    var panel = $("path");
    panel.hidden = false;
    panel.setAttribute("data-client-key", key);
    panel.setAttribute("data-state", "loading");
    replaceChildren($("path-body"), [el("p", null, i18n("path.loading"))]);
    panel.focus();
    getJSON("api/v1/paths/" + encodeURIComponent(key)).then(function (p) {
      if (state.path !== key) return;
      state.pathData = p;
      renderPath();
      panel.setAttribute("data-state", "loaded");
    }).catch(function (err) {
      if (state.path !== key) return;
      panel.setAttribute("data-state", "error");
      replaceChildren($("path-body"), [el("p", { "class": "fetch-error" },
        err && err.status === 404 ? i18n("path.not_found") : i18n("path.error", { why: err.message }))]);
    });
  }

  function closePath() {
    state.path = null;
    state.pathData = null;
    $("path").hidden = true;
    writeUrl();
    if (pathOpener && document.body.contains(pathOpener)) pathOpener.focus();
    pathOpener = null;
  }

  function dl(rows) {
    var d = el("dl", { "class": "facts" });
    rows.forEach(function (r) {
      d.appendChild(el("dt", null, r[0]));
      var dd = el("dd", { "data-field": r[2] || null });
      if (r[1] instanceof Node) dd.appendChild(r[1]); else dd.textContent = r[1];
      d.appendChild(dd);
    });
    return d;
  }

  function renderPath() {
    var p = state.pathData;
    if (!p) return;
    var body = [];
    var keyEl = el("code", { "class": "key" }, p.client_key);
    var coord = el("span", null);
    if (p.coordinator) {
      coord.appendChild(orgEl(p.coordinator));
      coord.appendChild(document.createTextNode(" · " + i18n("path.since_term",
        { since: fmtDateTime(p.since), term: p.term })));
    } else {
      coord.textContent = i18n("path.none");
    }
    var plan = el("span", null);
    if (p.plan) {
      plan.textContent = i18n("path.plan_value", { org: orgName(p.plan.org), version: p.plan.version }) + " · " +
        i18n("path.review", { date: fmtDate(p.plan.review_due) });
      if (p.plan.overdue) plan.appendChild(el("span", { "class": "badge badge-overdue" }, i18n("path.review_overdue")));
    } else {
      plan.textContent = i18n("path.plan_none");
    }
    var consents = p.consents || [];
    var active = consents.filter(function (c) { return c.active; }).length;
    var rows = [
      [i18n("path.client_key"), keyEl, "client_key"],
      [i18n("path.stage"), i18n("stage." + p.stage), "stage"],
      [i18n("path.coordinator"), coord, "coordinator"],
      [i18n("path.plan"), plan, "plan"],
      [i18n("path.consents"), i18n("path.consents_value", { active: active, n: consents.length }), "consents"]
    ];
    if (p.supporter) rows.push([i18n("path.supporter"), orgEl(p.supporter), "supporter"]);
    if (p.open_handover) {
      rows.push([i18n("path.open_handover"), i18n("path.handover_value", {
        from: orgName(p.open_handover.from), to: orgName(p.open_handover.to), at: fmtDateTime(p.open_handover.offered)
      }), "open_handover"]);
    }
    body.push(dl(rows));

    body.push(el("h3", null, i18n("path.open_items")));
    var open = (p.referrals || []).filter(function (r) { return !CLOSED[r.status]; });
    if (open.length === 0) body.push(el("p", { "class": "empty" }, i18n("path.no_open_items")));
    else {
      var ul = el("ul", { "class": "path-items", "data-testid": "path-open-items" });
      open.forEach(function (r) {
        var li = el("li", { "data-id": r.id }, i18n("path.referral_line", {
          from: orgName(r.from), to: orgName(r.to), service: r.service || "—", status: statusWord(r.status)
        }));
        if (r.urgency === "urgent") li.appendChild(el("span", { "class": "badge urgency-urgent" }, i18n("urgency.urgent")));
        if (r.due) li.appendChild(el("span", { "class": "due" }, " · " + i18n("col.due") + " " + fmtDate(r.due)));
        ul.appendChild(li);
      });
      body.push(ul);
    }
    body.push(el("h3", null, i18n("path.services")));
    var services = p.services || [];
    if (services.length === 0) body.push(el("p", { "class": "empty" }, i18n("path.no_services")));
    else {
      var su = el("ul", { "class": "path-items" });
      services.forEach(function (s) { su.appendChild(el("li", null, orgName(s.org) + ": " + s.service + " · " + fmtDate(s.since))); });
      body.push(su);
    }
    body.push(el("h3", null, i18n("path.timeline")));
    var tl = el("ol", { "class": "timeline", "data-testid": "path-timeline" });
    (p.timeline || []).slice().sort(function (a, b) { return String(b.at).localeCompare(String(a.at)); }).forEach(function (t) {
      var li = el("li", { "data-event": t.event });
      li.appendChild(el("time", { datetime: t.at }, fmtDateTime(t.at)));
      li.appendChild(el("span", { "class": "topic topic-" + String(t.event).split(".")[0] }, i18n("ev." + t.event)));
      li.appendChild(orgEl(t.org));
      tl.appendChild(li);
    });
    body.push(tl);
    replaceChildren($("path-body"), body);
  }

  /* ----------------------------------------------------------- the report */

  var REPORT_COLS = [
    ["org"], ["sent"], ["received"], ["receipt", "t"], ["answer", "t"], ["accepted"], ["rejected"],
    ["rejected_no_followup"], ["cancelled"], ["failed"], ["completed"], ["handovers", "h"],
    ["handover_answer", "t"], ["active_paths"]
  ];

  function times(row, name) {
    return [row[name + "_p50_s"], row[name + "_p90_s"], row[name + "_max_s"]].map(function (v) {
      return typeof v === "number" ? fmtDur(v) : "—";
    }).join(" / ");
  }

  function reportQuery() {
    var q = { from: $("r-from").value, to: $("r-to").value };
    if ($("r-org").value) q.org = $("r-org").value;
    return q;
  }

  function loadReport() {
    writeUrl();
    var q = reportQuery();
    var csv = Object.assign({}, q, { format: "csv" });
    $("r-csv").setAttribute("href", api("api/v1/reports", csv));
    $("r-csv").setAttribute("download", "polku-report-" + q.from + "-" + q.to + ".csv");
    $("report-status").textContent = i18n("report.loading");
    $("view-report").setAttribute("data-state", "loading");
    return getJSON("api/v1/reports", q).then(function (r) {
      state.report = r;
      $("report-status").textContent = "";
      renderReport();
      $("view-report").setAttribute("data-state", "loaded");
      document.body.setAttribute("data-ready", "true");
    }).catch(function (err) {
      state.report = null;
      $("view-report").setAttribute("data-state", "error");
      $("report-status").textContent = i18n("report.error", { why: err.message });
    });
  }

  function reportOrgOptions() {
    var cur = $("r-org").value || params.get("rorg") || "";
    options($("r-org"), state.dir.list.map(function (o) { return [o.id, o.name, o.id]; }), cur);
  }

  function renderReport() {
    var r = state.report;
    replaceChildren($("report-head"), REPORT_COLS.map(function (c) { return el("th", { scope: "col" }, i18n("rc." + c[0])); }));
    if (!r) return;
    $("report-period").textContent = i18n("report.period", { from: fmtDateTime(r.from), to: fmtDateTime(r.to) });
    replaceChildren($("report-rows"), r.rows.map(function (row) {
      var tr = el("tr", { "data-org": row.org || "region", "data-testid": "report-row-" + (row.org || "region"),
        "class": row.org ? null : "region" });
      REPORT_COLS.forEach(function (c) {
        var td = el(c[0] === "org" ? "th" : "td", { "data-col": c[0], scope: c[0] === "org" ? "row" : null });
        if (c[0] === "org") {
          if (row.org) td.appendChild(orgEl(row.org)); else td.textContent = i18n("report.region");
        } else if (c[1] === "t") {
          td.textContent = times(row, c[0]);
        } else if (c[1] === "h") {
          td.textContent = [row.handovers_offered, row.handovers_accepted, row.handovers_declined].join(" / ");
        } else {
          td.textContent = String(row[c[0]]);
          td.className = "num";
        }
        tr.appendChild(td);
      });
      return tr;
    }));
    var wc = r.without_coordinator || {};
    $("report-orphans").textContent = i18n("report.without_coordinator", {
      n: wc.paths, p50: fmtDur(wc.waiting_p50_s), max: fmtDur(wc.waiting_max_s)
    });
    var ocols = ["completed", "rejected", "failed", "cancelled", "open"];
    replaceChildren($("outcomes-head"), [el("th", { scope: "col" }, i18n("report.service"))].concat(ocols.map(function (c) {
      return el("th", { scope: "col", "class": "num" }, c === "open" ? i18n("report.open") : statusWord(c));
    })));
    replaceChildren($("outcomes-rows"), (r.outcomes_by_service || []).map(function (o) {
      var tr = el("tr", { "data-service": o.service });
      tr.appendChild(el("th", { scope: "row" }, o.service));
      ocols.forEach(function (c) { tr.appendChild(el("td", { "class": "num", "data-col": c }, o[c])); });
      return tr;
    }));
    renderCharts(r);
  }

  /* ------------------------------------------------------------- charts */

  var SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  /* A horizontal bar chart: categories [{id, label}], series [{name,
   * label, values[]}], stacked or grouped; every bar carries data-label
   * (the category) and data-value, the figures are also a table. */
  function barChart(name, title, alt, cats, series, stacked, fmt) {
    var fig = el("figure", { "class": "chart", "data-chart": name, "data-testid": "chart-" + name });
    fig.appendChild(el("figcaption", { id: "chart-" + name + "-title" }, title));
    var W = 640, LABEL = 190, PAD = 50, bar = 14, gap = 10;
    var perCat = stacked ? bar : bar * series.length;
    var H = Math.max(40, cats.length * (perCat + gap) + 24);
    var max = 0;
    cats.forEach(function (c, i) {
      var sum = 0;
      series.forEach(function (s) { var v = s.values[i] || 0; sum += v; if (!stacked) max = Math.max(max, v); });
      if (stacked) max = Math.max(max, sum);
    });
    max = max || 1;
    var scale = (W - LABEL - PAD) / max;
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img",
      "aria-labelledby": "chart-" + name + "-t chart-" + name + "-d", "class": "bars" });
    root.appendChild(svg("title", { id: "chart-" + name + "-t" }, title));
    root.appendChild(svg("desc", { id: "chart-" + name + "-d" }, alt));
    cats.forEach(function (c, i) {
      var y0 = 8 + i * (perCat + gap), x = LABEL;
      var short = c.label.length > 26 ? c.label.slice(0, 25) + "…" : c.label;
      var lbl = svg("text", { x: LABEL - 8, y: y0 + perCat / 2 + 4, "text-anchor": "end", "class": "cat" }, short);
      lbl.appendChild(svg("title", null, c.label));
      root.appendChild(lbl);
      series.forEach(function (s, k) {
        var v = s.values[i] || 0, w = Math.max(v > 0 ? 1 : 0, v * scale);
        var y = stacked ? y0 : y0 + k * bar;
        var rect = svg("rect", { x: x, y: y, width: w, height: bar - 2, "class": "s" + (k % 8),
          "data-series": s.name, "data-label": c.id, "data-value": v });
        rect.appendChild(svg("title", null, c.label + " · " + s.label + ": " + fmt(v)));
        root.appendChild(rect);
        if (!stacked && v > 0) root.appendChild(svg("text", { x: x + w + 4, y: y + bar - 4, "class": "val" }, fmt(v)));
        if (stacked) x += w;
      });
      if (stacked) {
        var total = series.reduce(function (n, s) { return n + (s.values[i] || 0); }, 0);
        root.appendChild(svg("text", { x: x + 4, y: y0 + bar - 4, "class": "val" }, fmt(total)));
      }
    });
    fig.appendChild(root);
    var legend = el("ul", { "class": "legend" });
    series.forEach(function (s, k) {
      var li = el("li", null);
      li.appendChild(el("span", { "class": "swatch s" + (k % 8), "aria-hidden": "true" }));
      li.appendChild(document.createTextNode(s.label));
      legend.appendChild(li);
    });
    fig.appendChild(legend);
    var det = el("details", { "class": "figures" });
    det.appendChild(el("summary", null, i18n("chart.figures")));
    var t = el("table", { "class": "items", "data-testid": "chart-" + name + "-figures" });
    var hr = el("tr", null);
    hr.appendChild(el("th", { scope: "col" }, ""));
    series.forEach(function (s) { hr.appendChild(el("th", { scope: "col", "class": "num" }, s.label)); });
    var thead = el("thead", null); thead.appendChild(hr); t.appendChild(thead);
    var tb = el("tbody", null);
    cats.forEach(function (c, i) {
      var tr = el("tr", { "data-label": c.id });
      tr.appendChild(el("th", { scope: "row" }, c.label));
      series.forEach(function (s) { tr.appendChild(el("td", { "class": "num", "data-series": s.name }, fmt(s.values[i] || 0))); });
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    det.appendChild(t);
    fig.appendChild(det);
    return fig;
  }

  function renderCharts(r) {
    var orgRows = r.rows.filter(function (w) { return w.org; });
    var cats = orgRows.map(function (w) { return { id: w.org, label: orgName(w.org) }; });
    var count = function (v) { return String(v); };
    var secs = function (v) { return typeof v === "number" ? v : 0; };
    var charts = [
      barChart("received", i18n("chart.received"), i18n("chart.received_alt"), cats,
        [{ name: "received", label: i18n("rc.received"), values: orgRows.map(function (w) { return w.received; }) }], false, count),
      barChart("times", i18n("chart.times"), i18n("chart.times_alt"), cats,
        ["receipt_p50", "receipt_p90", "answer_p50", "answer_p90"].map(function (k) {
          return { name: k, label: i18n("chart." + k), values: orgRows.map(function (w) { return secs(w[k + "_s"]); }) };
        }), false, fmtDur)
    ];
    var days = (r.pending_by_day || []).slice(-14);
    if (days.length) {
      charts.push(barChart("pending", i18n("chart.pending"), i18n("chart.pending_alt"),
        days.map(function (d) { return { id: d.day, label: fmtDate(d.day + "T12:00:00Z") }; }),
        orgRows.map(function (w) {
          return { name: w.org, label: orgName(w.org), values: days.map(function (d) { return (d.pending || {})[w.org] || 0; }) };
        }), true, count));
    }
    var outs = r.outcomes_by_service || [];
    var ocats = outs.map(function (o) { return { id: o.service, label: o.service }; });
    charts.push(barChart("outcomes", i18n("chart.outcomes"), i18n("chart.outcomes_alt"), ocats,
      ["completed", "rejected", "failed", "cancelled", "open"].map(function (k) {
        return { name: k, label: k === "open" ? i18n("report.open") : statusWord(k), values: outs.map(function (o) { return o[k]; }) };
      }), true, count));
    replaceChildren($("charts"), charts);
  }

  /* ------------------------------------------------------------------ SSE */

  var source = null, reopenTimer = null, reopenDelay = 1000;

  function setConnection(s) {
    var c = $("conn");
    c.setAttribute("data-state", s);
    $("conn-text").textContent = i18n("conn." + s);
  }

  /* The first time: from a few events back, so "Latest events" shows the
   * backlog the broker still holds; later the browser resumes by itself. */
  function openFeed(backlog) {
    if (!window.EventSource) {
      setConnection("offline");
      return;
    }
    setConnection(state.everFetched ? "reconnecting" : "connecting");
    var extra = {};
    var s = state.stats;
    if (backlog && s && s.epoch && typeof s.feed_seq === "number" && s.feed_seq > 0)
      extra.last_event_id = s.epoch + "-" + Math.max(0, s.feed_seq - MAX_EVENTS_SHOWN);
    source = new EventSource(api("events", extra));
    source.onopen = function () {
      reopenDelay = 1000;
      setConnection("live");
      refreshSoon("open");
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        setConnection("offline");
        source.close();
        if (reopenTimer === null) {
          reopenTimer = setTimeout(function () { reopenTimer = null; openFeed(false); }, reopenDelay);
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
    source.addEventListener("reset", function () { refreshSoon("reset"); });
  }

  /* ------------------------------------------------------------ wiring */

  function renderAll() {
    if (state.view === "report") {
      reportOrgOptions();
      renderReport();
    } else {
      renderDashboard();
    }
    if (state.pathData) renderPath();
  }

  function showView() {
    var report = state.view === "report";
    document.body.setAttribute("data-view", state.view);
    $("view-dashboard").hidden = report;
    $("view-report").hidden = !report;
    $("nav-dashboard").setAttribute("aria-current", report ? "false" : "page");
    $("nav-report").setAttribute("aria-current", report ? "page" : "false");
  }

  function wire() {
    $("lang").addEventListener("change", function () { setLang($("lang").value, true); });
    var f = $("filters");
    f.addEventListener("submit", function (e) { e.preventDefault(); });
    [["f-to", "to"], ["f-from", "from"], ["f-service", "service"], ["f-status", "status"],
     ["f-urgency", "urgency"], ["f-age", "age"]].forEach(function (p) {
      $(p[0]).addEventListener("change", function () { setFilter(p[1], $(p[0]).value); });
    });
    $("f-overdue").addEventListener("change", function () { setFilter("overdue", $("f-overdue").checked ? "1" : ""); });
    var qTimer = null;
    $("f-q").addEventListener("input", function () {
      clearTimeout(qTimer);
      qTimer = setTimeout(function () { setFilter("q", $("f-q").value.trim()); }, 120);
    });
    $("f-reset").addEventListener("click", function () {
      FILTERS.forEach(function (k) { state.f[k] = ""; });
      state.f.sort = "age";
      state.f.dir = "desc";
      setFilter("q", "");
    });
    $("items-more").addEventListener("click", function () {
      state.shown += PAGE;
      renderItems();
    });
    $("path-close").addEventListener("click", closePath);
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !$("path").hidden) closePath();
    });
    $("report-form").addEventListener("submit", function (e) { e.preventDefault(); loadReport(); });
    $("r-print").addEventListener("click", function () { window.print(); });
  }

  function start() {
    wire();
    showView();
    var today = new Date();
    $("r-from").value = params.get("rfrom") || isoDay(new Date(today.getTime() - 30 * 86400000));
    $("r-to").value = params.get("rto") || isoDay(today);
    var lang = chooseLang();
    var data = state.view === "dashboard" ? fetchData() : null;
    if (data) data.catch(function () { /* refresh() reports it */ });
    Promise.all([
      loadTable(lang),
      getJSON("api/v1/directory").catch(function () { return null; }),
      getJSON("api/v1/stats").catch(function () { return null; })
    ]).then(function (res) {
      state.lang = lang;
      if (res[1]) {
        state.dir.list = res[1].orgs || [];
        state.dir.sla = res[1].sla_s || {};
        state.dir.list.forEach(function (o) { state.dir.orgs[o.id] = o; });
      }
      state.stats = res[2];
      applyWords();
      renderStats();
      writeUrl();
      if (state.view === "report") {
        reportOrgOptions();
        renderReport();
        loadReport();
      } else {
        refresh("initial", data);
        openFeed(true);
        setInterval(function () { if (state.view === "dashboard") refresh("timer"); }, REFRESH_MS);
        setInterval(tickAges, 1000);
      }
      var client = params.get("client");
      if (client && /^[0-9a-f]{32}$/.test(client)) openPath(client, null);
    }).catch(function (err) {
      showFetchError(String(err && err.message ? err.message : err));
    });
  }

  start();
})();
