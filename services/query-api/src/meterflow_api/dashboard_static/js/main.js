// The dashboard's entry point: sign-in, the state (URL fragment), the controls, and the views' refresh.
import * as api from "./api.js";
import { currentKey, signIn, signOut, takeKeyFromFragment } from "./auth.js";
import { redrawAll } from "./chart.js";
import { download, toCsv } from "./csv.js";
import { $, fileName } from "./dom.js";
import { stateFromParams, writeState } from "./state.js";
import { setUpTheme } from "./theme.js";
import {
  autoInterval, epochOf, isZone, parseWall, periodAround, scaleAroundMiddle, shift, showWall, snapped, wallOf, zoomOut,
} from "./time.js";
import { renderPicker, siteMeters } from "./views/meters.js";
import * as seriesView from "./views/series.js";
import * as dailyView from "./views/daily.js";
import * as heatmapView from "./views/heatmap.js";
import * as qualityView from "./views/quality.js";
import * as balanceView from "./views/balance.js";
import * as costView from "./views/cost.js";
import * as insightsView from "./views/insights.js";

// One module per view; each fetches what it shows through the context and draws it. The first is the main
// chart, whose table "Download CSV" writes.
const VIEWS = [
  ["#view-series", seriesView],
  ["#view-balance", balanceView],
  ["#view-daily", dailyView],
  ["#view-heatmap", heatmapView],
  ["#view-quality", qualityView],
  ["#view-cost", costView],
  ["#view-insights", insightsView],
];
// The views with a download of their own: button, view, what the file is called after.
const DOWNLOADS = [
  ["#daily-csv", dailyView, "daily"],
  ["#balance-csv", balanceView, "balance"],
  ["#cost-csv", costView, "cost"],
];
const COLORS = { import: "--import", export: "--export" };
const SPARE_COLORS = ["--import", "--export", "--third", "--fourth"];

let state = stateFromParams(takeKeyFromFragment());
let meters = [];
let sites = [];
let tariffs = [];
let redrawPicker = () => {};
let onScreen = null; // the main chart's table, for the CSV download
let inFlight = null;

function showSignIn(reason) {
  $("#app").hidden = true;
  $("#sign-in").hidden = false;
  $("#sign-in-reason").textContent = reason;
  $("#sign-out").hidden = !currentKey();
  $("#api-key").focus();
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(message) {
  $("#status").textContent = message;
}

/** The channels to draw: every channel of each selected meter, a colour each (import blue, export green). */
function channelsOf(muids) {
  const used = new Set();
  const pick = (direction) => {
    const preferred = COLORS[direction];
    const color = preferred && !used.has(preferred) ? preferred : SPARE_COLORS.find((c) => !used.has(c)) ?? "--third";
    used.add(color);
    return color;
  };
  return muids.flatMap((muid) => {
    const meter = meters.find((m) => m.muid === muid);
    // A meter the list does not know is still asked for: the API's 404 names the problem.
    const channels = meter ? meter.channels : [{ hex: null, obis: null, direction: null, unit: null }];
    return channels.map((c) => ({
      ...c,
      muid,
      label: `${muid.slice(0, 8)} ${c.direction ?? c.obis ?? ""}`.trim(),
      color: pick(c.direction),
    }));
  });
}

function defaultStart(muids) {
  const lasts = muids.flatMap((muid) => meters.find((m) => m.muid === muid)?.channels ?? []).map((c) => c.last);
  const latest = lasts.filter(Boolean).sort().at(-1);
  return latest ? wallOf(epochOf(latest), state.tz) : wallOf(Date.now() / 1000, state.tz);
}

function syncControls() {
  for (const radio of document.querySelectorAll('input[name="range"]')) radio.checked = radio.value === state.range;
  $("#range-start").value = state.start;
  $("#range-end").value = state.end;
  $("#interval").value = state.interval;
  $("#tz").value = state.tz;
  $("#compare").checked = state.compare;
  $("#sign-out").hidden = !currentKey();
}

function update(changes) {
  state = { ...state, ...changes };
  // A checkbox keeps its focus: the lists are drawn again only when a site choice changed the meters.
  if ("site" in changes) redrawPicker();
  refresh();
}

/** The chosen site; a site the list does not know is still asked for (the API's 404 names the problem). */
function currentSite() {
  if (!state.site) return null;
  return sites.find((s) => s.name === state.site) ?? { name: state.site, channels: [] };
}

/** The context every view reads: state, channels, range, interval, and a shared series fetch per refresh. */
function contextFor(signal) {
  const interval = state.interval === "auto" ? autoInterval(state.start, state.end) : state.interval;
  const range = { start: state.start, end: state.end };
  const previousRange = shift(state, -1);
  const cache = new Map();
  const series = (channel, r, agg, every = interval) => {
    const params = { obis: channel.hex, start: r.start, end: r.end, tz: state.tz, interval: every, agg };
    const key = JSON.stringify([channel.muid, params]);
    if (!cache.has(key)) cache.set(key, api.series(channel.muid, params, { signal }));
    return cache.get(key);
  };
  const zoomTo = (from, to) => update(snapped(parseWall(wallOf(from, state.tz)).getTime(), parseWall(wallOf(to, state.tz)).getTime()));
  return {
    state, site: currentSite(), tariffs, channels: channelsOf(state.meters), range, previousRange, interval, series, signal, zoomTo,
  };
}

async function refresh() {
  document.body.dataset.ready = "false";
  writeState(state);
  syncControls();
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  showError("");
  onScreen = null;
  if (state.meters.length === 0) {
    setStatus("Choose a meter on the left.");
    document.body.dataset.ready = "true";
    return;
  }
  const ctx = contextFor(controller.signal);
  setStatus("Loading…");
  for (const [section] of VIEWS) $(section).setAttribute("aria-busy", "true");
  const results = await Promise.allSettled(VIEWS.map(([, view]) => view.update(ctx)));
  if (controller.signal.aborted) return;
  for (const [section] of VIEWS) $(section).setAttribute("aria-busy", "false");
  const failure = results.find((r) => r.status === "rejected")?.reason;
  if (failure) return reportFailure(failure);
  onScreen = results[0].value;
  setStatus(
    `${ctx.channels.length} channel${ctx.channels.length === 1 ? "" : "s"} · ${onScreen.points} points per ${ctx.interval} · ` +
      `${showWall(state.start)} to ${showWall(state.end)} · ${state.tz}`,
  );
  document.body.dataset.ready = "true";
}

function reportFailure(error) {
  if (error.name === "AbortError") return;
  document.body.dataset.ready = "error";
  if (error instanceof api.Unauthorized) {
    return showSignIn(currentKey() ? `The API refused this key: ${error.message}` : "Sign in with an API key.");
  }
  setStatus("");
  if (error instanceof api.NotFound) {
    return showError(`${error.message.startsWith("unknown site") ? "Site" : "Meter"} not found: ${error.message}`);
  }
  showError(error instanceof api.ApiError ? `The API answered ${error.status}: ${error.message}` : `Could not load the data: ${error.message}`);
}

async function start() {
  $("#sign-in").hidden = true;
  setStatus("Loading meters…");
  try {
    [meters, sites, tariffs] = await Promise.all([api.allMeters(), api.sites(), api.tariffs()]);
  } catch (error) {
    $("#app").hidden = false;
    return reportFailure(error);
  }
  $("#app").hidden = false;
  const site = currentSite();
  if (state.meters.length === 0 && site?.channels.length) state.meters = siteMeters(site);
  if (state.meters.length === 0 && meters.length > 0) state.meters = [meters[0].muid];
  if (!state.start) state = { ...state, ...(state.range === "custom" ? periodAround("month", defaultStart(state.meters)) : periodAround(state.range, defaultStart(state.meters))) };
  redrawPicker = renderPicker({ meters, sites }, () => ({ meters: state.meters, site: state.site }), {
    onMeters: (muids) => update({ meters: muids }),
    onSite: (chosen) => update(chosen ? { site: chosen.name, meters: siteMeters(chosen) } : { site: null }),
  });
  await refresh();
}

function wireControls() {
  for (const radio of document.querySelectorAll('input[name="range"]')) {
    radio.addEventListener("change", () => {
      if (radio.value === "custom") update({ range: "custom" });
      else update({ range: radio.value, ...periodAround(radio.value, state.start) });
    });
  }
  const rangeInput = () => {
    const start = $("#range-start").value;
    const end = $("#range-end").value;
    if (!parseWall(start) || !parseWall(end) || parseWall(end) <= parseWall(start)) {
      return showError("The range's end must come after its start.");
    }
    update({ range: "custom", start, end });
  };
  $("#range-start").addEventListener("change", rangeInput);
  $("#range-end").addEventListener("change", rangeInput);
  $("#pan-prev").addEventListener("click", () => update(shift(state, -1)));
  $("#pan-next").addEventListener("click", () => update(shift(state, 1)));
  $("#zoom-out").addEventListener("click", () => update(zoomOut(state)));
  $("#interval").addEventListener("change", (e) => update({ interval: e.target.value }));
  $("#tz").addEventListener("change", (e) => {
    const tz = e.target.value.trim();
    if (!isZone(tz)) return showError(`Unknown time zone "${tz}": use an IANA name such as UTC or Europe/Zurich.`);
    update({ tz });
  });
  $("#compare").addEventListener("change", (e) => update({ compare: e.target.checked }));
  $("#controls").addEventListener("submit", (e) => e.preventDefault());
  $("#download-csv").addEventListener("click", () => {
    if (!onScreen) return showError("Nothing on screen to download yet.");
    const name = `meterflow_${state.meters.map((m) => m.slice(0, 8)).join("+")}_${state.start}_${state.end}.csv`.replaceAll(":", "");
    download(name, toCsv(onScreen));
  });
  for (const [button, view, what] of DOWNLOADS) {
    $(button).addEventListener("click", () => {
      const table = view.onScreen();
      if (!table) return showError("Nothing on screen to download yet.");
      const subject = what === "daily" ? state.meters.map((m) => m.slice(0, 8)).join("+") : state.site ?? state.meters[0]?.slice(0, 8);
      download(fileName(what, subject, state.start, state.end), toCsv(table));
    });
  }
  $("#tariff").addEventListener("change", (e) => update({ tariff: e.target.value }));
  $("#shift").addEventListener("input", (e) => {
    $("#shift-value").textContent = `${e.target.value} %`;
  });
  $("#shift").addEventListener("change", (e) => update({ shift: Number(e.target.value) / 100 }));
  $("#series-chart").addEventListener("keydown", (e) => {
    const actions = {
      ArrowLeft: () => shift(state, -1),
      ArrowRight: () => shift(state, 1),
      "-": () => zoomOut(state),
      "+": () => scaleAroundMiddle(state, 0.5),
      "=": () => scaleAroundMiddle(state, 0.5),
    };
    if (!actions[e.key]) return;
    e.preventDefault();
    update(actions[e.key]());
  });
  $("#sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("#api-key").value);
    $("#api-key").value = "";
    start();
  });
  $("#sign-out").addEventListener("click", () => {
    signOut();
    showSignIn("Signed out.");
  });
}

/** The skip link moves the focus without touching the fragment, which holds the view's state. */
function wireSkipLink() {
  $(".skip").addEventListener("click", (e) => {
    e.preventDefault();
    $("#main").focus();
  });
}

function fillZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : ["UTC"];
  const options = ["UTC", ...zones.filter((z) => z !== "UTC")].map((z) => Object.assign(document.createElement("option"), { value: z }));
  $("#tz-list").replaceChildren(...options);
}

setUpTheme($("#theme-toggle"), () => {
  redrawAll();
  heatmapView.redraw();
});
fillZones();
wireControls();
wireSkipLink();
start();
