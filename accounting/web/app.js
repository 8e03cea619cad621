// The pool's page (accounting/web/index.html): plain JavaScript, no framework.
// Views by the address's hash: #/ (pool), #/blocks, #/payments,
// #/accounts/NAME (miner), #/accounts/NAME/holder (holder). Every view reads
// /api/v1/ and is read again every `refresh` seconds (?refresh=N, default 15)
// without reloading the page. Money arrives as integer base-unit strings and
// is shown with string arithmetic (units()), never through floating point.
"use strict";

const API = "/api/v1/";
const params = new URLSearchParams(location.search);
const refreshSeconds = Math.max(1, Math.min(3600, Number(params.get("refresh")) || 15));
const state = { view: null, name: null, blocks: [null], payments: [null], loads: 0 };
window.bmmCharts = {};

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

// Base units (a decimal string) as a decimal number of `decimals` places, exactly: no floats.
function units(text, decimals) {
  const neg = String(text).startsWith("-");
  let d = neg ? String(text).slice(1) : String(text);
  d = d.padStart(decimals + 1, "0");
  let whole = d.slice(0, d.length - decimals);
  const frac = decimals ? d.slice(d.length - decimals).replace(/0+$/, "") : "";
  whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (neg ? "-" : "") + whole + (frac ? "." + frac : "");
}
// An amount with its currency: "0.5 LTC".
function money(text, decimals, currency) { return units(text, decimals) + " " + currency; }
// parts per million as a percentage: 10000 -> "1 %".
function ppm(v) { return units(String(v), 4) + " %"; }
// a / b as a percentage with two decimals (BigInt arithmetic), "–" when b is 0.
function percent(a, b) {
  const bb = BigInt(b);
  if (bb === 0n) return "–";
  return units((BigInt(a) * 10000n / bb).toString(), 2) + " %";
}
// Hashes per second (display only).
function rate(h) {
  const u = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
  let i = 0, v = Number(h);
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return (i || !Number.isInteger(v) ? v.toFixed(2) : String(v)) + " " + u[i];
}
// Network difficulty from the work of a block (hashes expected): work / 2^32.
function difficulty(work) {
  if (work === null || work === undefined) return "–";
  const scaled = BigInt(work) * 1000000000000n / 4294967296n;  // 12 decimals
  return scaled >= 1000000000000000n ? units((scaled / 1000000000000n).toString(), 0) : units(scaled.toString(), 12);
}
function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, " UTC") : "–"; }
function short(hash) { return hash.length > 20 ? hash.slice(0, 10) + "…" + hash.slice(-8) : hash; }
function hashLink(name) { return "#/accounts/" + encodeURIComponent(name); }

// ---------------------------------------------------------------------------
// The DOM
// ---------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}
function link(text, href) { return el("a", { href }, text); }
function setText(id, text) { $(id).textContent = text; }
// Table rows: cells are text, or [content, "n"] for a right-aligned number, or a Node.
function fill(id, items, cells, empty) {
  const tb = $(id);
  const rows = [];
  if (!items.length) {
    const td = el("td", { class: "muted" }, empty);
    td.colSpan = tb.closest("table").querySelectorAll("thead th").length;
    rows.push(el("tr", {}, td));
  }
  for (const it of items) {
    const tr = el("tr");
    for (const c of cells(it)) {
      if (Array.isArray(c)) tr.append(el("td", { class: c[1] }, c[0]));
      else tr.append(el("td", {}, c));
    }
    rows.push(tr);
  }
  tb.replaceChildren(...rows);
}

async function get(path) {
  const r = await fetch(API + path, { headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => ({ error: "HTTP " + r.status }));
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}

// ---------------------------------------------------------------------------
// Charts (Chart.js from /static/chart.js, Debian's libjs-chart.js)
// ---------------------------------------------------------------------------

const palette = ["#1f6fb2", "#d9822b", "#2e9e5b", "#9b4dca", "#c23b3b"];
function chart(id, history) {
  const canvas = $(id);
  if (typeof Chart === "undefined") {
    canvas.parentElement.replaceChildren(el("p", { class: "muted" }, "Charts need Chart.js (libjs-chart.js) on the pool's host."));
    return;
  }
  const long = history.bucket_seconds >= 3600;
  const datasets = history.coins.map((c, i) => ({
    label: c.coin,
    data: c.points.map((p) => ({ x: p[0] * 1000, y: p[1] })),
    borderColor: palette[i % palette.length],
    backgroundColor: palette[i % palette.length] + "33",
    fill: true, pointRadius: 0, borderWidth: 1.5, tension: 0.2,
  }));
  const old = window.bmmCharts[id];
  if (old) {
    old.data.datasets = datasets;
    old.update("none");
    return;
  }
  const pad = (n) => String(n).padStart(2, "0");
  window.bmmCharts[id] = new Chart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { type: "linear", ticks: { stepSize: long ? 5 * 86400000 : 4 * 3600000, callback: (v) => {
          const d = new Date(v);
          return long ? (pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate())) : (pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()));
        } } },
        y: { beginAtZero: true, ticks: { callback: (v) => rate(v) } },
      },
      plugins: { legend: { display: history.coins.length > 1 },
                 tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + rate(c.parsed.y) } } },
    },
  });
}

// ---------------------------------------------------------------------------
// Pool view
// ---------------------------------------------------------------------------

async function loadPool() {
  const [p, f, h24, h30, b] = await Promise.all([get("pool"), get("pool/facts"), get("pool/hashrate?window=24h"),
                                                 get("pool/hashrate?window=30d"), get("blocks?limit=5")]);
  setText("pool-miners", String(p.miners_active));
  setText("pool-workers", String(p.workers_active));
  setText("pool-accounts", String(p.accounts));
  setText("pool-shares", String(p.shares_1h.accepted));
  setText("pool-rejected", p.shares_1h.rejected + " rejected");
  const nb = BigInt(p.blocks.immature) + BigInt(p.blocks.mature) + BigInt(p.blocks.orphaned);
  setText("pool-blocks", nb.toString());
  setText("pool-blocks-states", p.blocks.immature + " immature, " + p.blocks.mature + " mature, " +
          p.blocks.orphaned + " orphaned");

  // One row per coin the pool mines or is configured for.
  const facts = new Map(f.coins.map((c) => [c.coin, c]));
  const names = [...new Set([...p.coins.map((c) => c.coin), ...f.coins.map((c) => c.coin)])].sort();
  fill("pool-coins", names, (coin) => {
    const c = p.coins.find((x) => x.coin === coin) || {};
    const fc = facts.get(coin) || {};
    const weight = c.resource_weight_ppm !== undefined ? units(String(c.resource_weight_ppm), 6) : "–";
    return [coin, fc.algorithm || c.algorithm || "–", [rate(c.hashrate_10m || 0), "n"], [rate(c.hashrate_1h || 0), "n"],
            [String(c.accounts_active || 0), "n"], [String(c.workers_active || 0), "n"],
            [fc.network_height === null || fc.network_height === undefined ? "–" : String(fc.network_height), "n"],
            [difficulty(fc.network_work), "n"],
            [fc.network_work ? percent(fc.round_work, fc.network_work) : "–", "n"], [weight, "n"]];
  }, "no shares in the last hour");
  chart("chart-pool-24h", h24);
  chart("chart-pool-30d", h30);

  // Connect: Stratum URLs per coin and algorithm, with one miner command line.
  const who = ($("name").value.trim() || "YOURNAME").replace(/[^A-Za-z0-9_\-.:]/g, "");
  const connect = [];
  for (const c of f.coins) {
    if (!c.stratum.length) continue;
    connect.push(el("p", {}, el("strong", {}, c.coin), " (" + (c.algorithm || "?") + "): ",
                    ...c.stratum.flatMap((u, i) => [i ? ", " : "", el("code", {}, u)])));
    connect.push(el("pre", {}, "cpuminer -a " + (c.algorithm || "scrypt") + " -o " + c.stratum[0] + " -u " + who +
                                   ".rig1 -p x"));
  }
  if (!connect.length) connect.push(el("p", { class: "muted" }, "The operator has not listed Stratum URLs ([web.stratum.<COIN>])."));
  connect.push(el("p", { class: "small muted" }, "Username: your account name (or a payout address), a dot, and any worker name."));
  $("pool-connect").replaceChildren(...connect);

  fill("pool-rules", f.coins.filter((c) => c.scheme !== undefined), (c) => [
    c.coin, c.scheme.toUpperCase(), [ppm(c.fee_ppm), "n"], [ppm(c.holders_ppm), "n"],
    [c.maturity + " blocks", "n"], [money(c.payout_threshold, c.decimals, c.coin), "n"]], "no coins configured");
  setText("pool-schedule", "Payouts: " + (f.payout.schedule || "on the operator's schedule") +
          "; BMM paid from " + money(f.payout.bmm_threshold, 18, "BMM") + "; a payout is final after " +
          f.payout.confirmations + " confirmations.");

  setText("bmm-issued", money(p.bmm.issued, p.bmm.decimals, "BMM") + " (" + percent(p.bmm.issued, p.bmm.supply) + ")");
  setText("bmm-cap", money(p.bmm.supply, p.bmm.decimals, "BMM"));
  const cur = f.epochs && f.epochs.current;
  setText("bmm-epoch", cur ? String(cur.k) + " (since " + new Date(cur.start * 1000).toISOString().replace(".000Z", "Z") + ")" : "–");
  setText("bmm-emission", cur ? money(cur.emission, cur.decimals, "BMM") : "–");
  setText("bmm-last-epoch", p.last_closed_epoch ? p.last_closed_epoch.k + ", emission paid " +
          money(p.last_closed_epoch.emission_paid, p.last_closed_epoch.decimals, "BMM") : "none yet");
  const fp = $("pool-foundation");
  fp.replaceChildren();
  if (p.foundation.length) {
    fp.append("Foundation accounts: ");
    p.foundation.forEach((x, i) => fp.append(i ? ", " : "", link(x.name, hashLink(x.name) + "/holder"),
                                             " (" + money(x.bmm_held.amount, x.bmm_held.decimals, "BMM") + ")"));
  }
  fillBlocks("pool-latest-blocks", b.blocks, false);
}

function blockState(x) { return el("span", { class: "state-" + x.status }, x.status); }
function fillBlocks(id, blocks, full) {
  fill(id, blocks, (x) => {
    const left = x.confirmations_left === null ? "–" : String(x.confirmations_left);
    const cells = [when(x.found_at), x.coin, [String(x.height), "n"]];
    if (full) cells.push(el("span", { class: "mono", title: x.hash }, short(x.hash)));
    cells.push(link(x.finder, hashLink(x.finder)), [money(x.reward, x.decimals, x.coin), "n"], blockState(x));
    if (full) cells.push([x.confirmations === null ? "–" : String(x.confirmations), "n"]);
    cells.push([left, "n"]);
    if (full) cells.push([String(x.epoch), "n"]);
    return cells;
  }, "no blocks found yet");
}

// ---------------------------------------------------------------------------
// Miner view
// ---------------------------------------------------------------------------

function votingText(a) {
  const v = a.voting_power;
  if (!v) return "–";
  return money(v.bmm, 18, "BMM") + " of " + money(v.total, 18, "BMM") + " (" + percent(v.bmm, v.total) + ", epoch " + v.epoch + ")";
}
function txCell(x) {
  if (!x.txid) return el("span", { class: "muted" }, "not sent yet");
  return el("span", { class: "mono txid", title: x.txid }, x.txid);
}

async function loadAccount(name) {
  const n = encodeURIComponent(name);
  const [a, w, e, h, pay] = await Promise.all([get("accounts/" + n), get("accounts/" + n + "/workers?limit=1000"),
    get("accounts/" + n + "/epochs?limit=30"), get("accounts/" + n + "/hashrate?window=24h"),
    get("accounts/" + n + "/payments?limit=50")]);
  setText("acc-name", a.name + " (" + a.kind + ")");
  $("acc-holder-link").href = hashLink(a.name) + "/holder";
  setText("acc-bmm-held", money(a.bmm_held.amount, a.bmm_held.decimals, "BMM"));
  setText("acc-voting", votingText(a));
  fill("acc-hashrate", a.hashrate, (x) => [x.coin, [rate(x.hashrate_10m), "n"], [rate(x.hashrate_1h), "n"],
                                           [String(x.workers_active), "n"]], "no shares in the last hour");
  chart("chart-account-24h", h);
  fill("acc-workers", w.workers, (x) => [x.worker, x.coin,
    el("span", { class: x.online ? "online" : "offline" }, x.online ? "online" : "offline"),
    [rate(x.hashrate_10m), "n"], [rate(x.hashrate_1h), "n"], [String(x.accepted_1h), "n"],
    [String(x.rejected_1h), "n"], when(x.last_share_minute)], "no workers in the last 24 hours");
  setText("acc-offline-rule", "A worker is offline after " + w.offline_after_minutes + " minutes without a share.");
  // Balances: immature and available (ledger), in payout and paid (payout lines).
  const cur = new Map();
  const of = (c, d) => { if (!cur.has(c)) cur.set(c, { currency: c, decimals: d, immature: "0", available: "0", in_payout: "0", paid: "0" }); return cur.get(c); };
  for (const b of a.balances) Object.assign(of(b.currency, b.decimals), { immature: b.immature, available: b.available });
  for (const t of pay.totals) Object.assign(of(t.currency, t.decimals), { in_payout: t.in_payout, paid: t.paid });
  fill("acc-balances", [...cur.values()], (b) => [b.currency, [units(b.immature, b.decimals), "n"],
    [units(b.available, b.decimals), "n"], [units(b.in_payout, b.decimals), "n"], [units(b.paid, b.decimals), "n"]],
    "no balance yet");
  fill("acc-epochs", e.epochs, (x) => [[String(x.k), "n"], when(x.start), [x.dpp, "n"], [String(x.streak), "n"],
    [units(String(x.e_bp), 4), "n"], [x.pp_total === "0" ? "–" : percent(x.pp, x.pp_total), "n"],
    [units(x.bmm_emission.amount, x.bmm_emission.decimals), "n"]], "no epochs yet");
  fill("acc-payments", pay.payments, (x) => [when(x.planned_at), x.currency, [units(x.amount, x.decimals), "n"],
    el("span", { class: "mono" }, x.address), x.state + " (" + x.batch_state + ")", txCell(x)], "no payments yet");
  fill("acc-wallets", a.wallets, (x) => [x.currency, el("span", { class: "mono" }, x.address), [ppm(x.share_ppm), "n"]],
       "no wallet bound: payouts wait for one");
}

// ---------------------------------------------------------------------------
// Holder view
// ---------------------------------------------------------------------------

async function loadHolder(name) {
  const n = encodeURIComponent(name);
  const [a, d] = await Promise.all([get("accounts/" + n), get("accounts/" + n + "/dividends?limit=100")]);
  setText("hold-name", a.name + " (" + a.kind + ")");
  $("hold-miner-link").href = hashLink(a.name);
  setText("hold-bmm-held", money(a.bmm_held.amount, a.bmm_held.decimals, "BMM") +
          (a.wallets.length ? "" : " (no wallet bound: payouts wait for one)"));
  setText("hold-voting", votingText(a));
  fill("hold-epochs", d.epochs, (x) => [[String(x.epoch), "n"], x.currency, [String(x.blocks), "n"],
                                        [units(x.amount, x.decimals), "n"]], "no dividends yet");
  fill("hold-blocks", d.blocks, (x) => [when(x.found_at), [String(x.epoch), "n"], x.coin, [String(x.height), "n"],
                                        blockState(x), [units(x.amount, x.decimals), "n"]], "no dividends yet");
  await loadStatement(name);
}

// The statement of [from, to) (UTC days): totals per currency and balance, and the
// same statement to download as CSV, PDF or JSON (the API's bytes).
async function loadStatement(name) {
  const from = $("stmt-from").value, to = $("stmt-to").value;
  const q = "accounts/" + encodeURIComponent(name) + "/statement?from=" + from + "T00:00:00Z&to=" + to + "T00:00:00Z";
  const links = $("stmt-links");
  links.replaceChildren("Download: ");
  for (const f of ["csv", "pdf", "json"]) links.append(link(f.toUpperCase(), API + q + "&format=" + f), " ");
  try {
    const st = await get(q + "&format=json");
    fill("statement", st.sections, (x) => [x.currency, x.balance, [units(x.opening, x.decimals), "n"],
      [units(x.credits, x.decimals), "n"], [units(x.debits, x.decimals), "n"], [units(x.closing, x.decimals), "n"],
      [String(x.rows.length), "n"]], "nothing held in this period");
  } catch (ex) {
    fill("statement", [], () => [], "statement unavailable: " + ex.message);
  }
}

// ---------------------------------------------------------------------------
// Blocks and payments lists (paged by the API's next_before)
// ---------------------------------------------------------------------------

async function loadBlocks() {
  const before = state.blocks[state.blocks.length - 1];
  const b = await get("blocks?limit=25" + (before ? "&before=" + encodeURIComponent(before) : ""));
  fillBlocks("blocks-list", b.blocks, true);
  $("blocks-next").disabled = !b.next_before;
  $("blocks-next").dataset.next = b.next_before || "";
  $("blocks-first").disabled = state.blocks.length === 1;
}
async function loadPayments() {
  const before = state.payments[state.payments.length - 1];
  const p = await get("payments?limit=25" + (before ? "&before=" + encodeURIComponent(before) : ""));
  fill("payments-list", p.payments, (x) => [when(x.planned_at), link(x.account, hashLink(x.account)), x.currency,
    [units(x.amount, x.decimals), "n"], el("span", { class: "mono" }, x.address), x.state + " (" + x.batch_state + ")",
    txCell(x)], "no payments yet");
  $("payments-next").disabled = !p.next_before;
  $("payments-next").dataset.next = p.next_before || "";
  $("payments-first").disabled = state.payments.length === 1;
}

// ---------------------------------------------------------------------------
// Navigation and live updates
// ---------------------------------------------------------------------------

function route() {
  let h = location.hash.replace(/^#/, "") || "/";
  try { h = decodeURIComponent(h); } catch (ex) { /* a malformed escape: taken as written */ }
  if (h === "/blocks") return { view: "blocks" };
  if (h === "/payments") return { view: "payments" };
  const m = h.match(/^\/accounts\/(.+?)(\/holder)?$/);
  if (m) return { view: m[2] ? "holder" : "account", name: m[1] };
  return { view: "pool" };
}

async function load() {
  const { view, name } = state;
  const err = $("error");
  try {
    if (view === "pool") await loadPool();
    else if (view === "account") await loadAccount(name);
    else if (view === "holder") await loadHolder(name);
    else if (view === "blocks") await loadBlocks();
    else await loadPayments();
    if (state.view !== view || state.name !== name) return;  // navigated away meanwhile
    err.textContent = "";
    $("view-" + view).hidden = false;
    state.loads++;
    document.body.dataset.loads = String(state.loads);
    document.body.dataset.loaded = view;
    setText("updated", "Updated " + new Date().toISOString().slice(11, 19) + " UTC; refreshes every " + refreshSeconds + " s.");
  } catch (ex) {
    if (state.view !== view || state.name !== name) return;
    err.textContent = ex.message;
    document.body.dataset.loaded = view + ":error";
  }
}

function show() {
  const r = route();
  state.view = r.view;
  state.name = r.name || null;
  document.body.dataset.loaded = "";
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== "view-" + r.view;
  // The account view stays hidden until its account is read (an unknown name shows only the error).
  if (r.view === "account" || r.view === "holder") {
    $("view-" + r.view).hidden = true;
    $("name").value = r.name;
  }
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === r.view);
  document.title = "BMM pool" + (r.name ? " – " + r.name : r.view !== "pool" ? " – " + r.view : "");
  return load();
}

function start() {
  // Old links (?account=NAME) open the account's views.
  if (!location.hash && params.get("account")) {
    history.replaceState(null, "", location.search + "#/accounts/" + encodeURIComponent(params.get("account")));
  }
  const day = (t) => new Date(t).toISOString().slice(0, 10);
  $("stmt-from").value = params.get("from") || day(Date.now() - 30 * 86400000);
  $("stmt-to").value = params.get("to") || day(Date.now() + 86400000);
  $("stmt-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadStatement(state.name); });
  $("lookup").addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = "#/accounts/" + encodeURIComponent($("name").value.trim());
  });
  $("blocks-next").addEventListener("click", () => { state.blocks.push($("blocks-next").dataset.next); load(); });
  $("blocks-first").addEventListener("click", () => { state.blocks = [null]; load(); });
  $("payments-next").addEventListener("click", () => { state.payments.push($("payments-next").dataset.next); load(); });
  $("payments-first").addEventListener("click", () => { state.payments = [null]; load(); });
  window.addEventListener("hashchange", show);
  show();
  // Live updates: the shown view is read again in place.
  setInterval(() => { if (!document.hidden) load(); }, refreshSeconds * 1000);
}
start();
