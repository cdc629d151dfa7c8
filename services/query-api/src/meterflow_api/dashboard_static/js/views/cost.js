// Cost under a time-of-use tariff: the chosen site's net cost (/v1/sites/{site}/cost: import cost minus the
// export's feed-in remuneration) or the first chosen meter's (/v1/meters/{muid}/cost), by band as bars, the
// total, and what moving a share of the high-band use to the low band would have saved (the API's ``shift``),
// in a sentence a household can read.
import * as api from "../api.js";
import { $, el, fixed, money, orRefused, percent, showEmpty } from "../dom.js";
import { showWall } from "../time.js";

let table = null;

/** The daily cost points on screen as {columns, rows}, for the CSV download; null when none is shown. */
export const onScreen = () => table;

/** The meter and channel to price without a site: the first chosen meter with an import channel, else the first. */
function meterChannel(ctx) {
  return ctx.channels.find((c) => c.direction === "import") ?? ctx.channels[0];
}

function bandRows(bands, currency) {
  const largest = Math.max(0, ...bands.map((b) => Math.abs(b.cost)));
  return bands.map((band) => {
    const bar = el("span", { class: `band-bar band-${band.name}` });
    bar.style.width = `${largest > 0 ? (100 * Math.abs(band.cost)) / largest : 0}%`;
    return el(
      "tr",
      { "data-band": band.name },
      el("th", { scope: "row", text: band.name }),
      el("td", { "data-field": "kwh", "data-value": band.kwh, text: `${fixed(band.kwh)} kWh` }),
      el("td", { "data-field": "price", text: `${fixed(band.price, 2)} ${currency}/kWh` }),
      el("td", { "data-field": "cost", "data-value": band.cost, text: money(band.cost, currency) }),
      el("td", { class: "band-bar-cell", "aria-hidden": "true" }, bar),
    );
  });
}

function bandTable(bands, currency, caption) {
  return el(
    "table",
    { class: "bands" },
    el("caption", { text: caption }),
    el(
      "thead",
      {},
      el("tr", {}, ...["Band", "Energy", "Price", "Cost"].map((h) => el("th", { scope: "col", text: h })), el("td", {})),
    ),
    el("tbody", {}, ...bandRows(bands, currency)),
  );
}

/** "Moving 20 % of your high-band use (7.20 kWh) to low-band hours would have saved CHF 0.72." */
function savingSentence(shift, currency) {
  if (!shift) return "";
  if (Number(shift.shifted_kwh) === 0) return "Nothing was priced above the cheapest band: there is nothing to move.";
  return `Moving ${percent(shift.share)} of your use in the dearer bands (${fixed(shift.shifted_kwh)} kWh) to the cheapest ` +
    `band's hours would have saved ${money(shift.saving, currency)}, a bill of ${money(shift.cost, currency)} for the energy.`;
}

function period(ctx) {
  return `From ${showWall(ctx.range.start)} to ${showWall(ctx.range.end)} (${ctx.state.tz})`;
}

function meterSentence(ctx, answer) {
  const c = answer.currency;
  if (answer.kind === "export") {
    return `${period(ctx)} this meter exported ${fixed(answer.total_kwh)} kWh; under ${answer.tariff} the grid pays ${money(-answer.total_cost, c)} for it.`;
  }
  const bands = answer.bands.map((b) => `${fixed(b.kwh)} kWh in the ${b.name} band at ${fixed(b.price, 2)} ${c}`).join(" and ");
  const fee = answer.fixed_fee ? ` plus ${money(answer.fixed_fee, c)} of fixed fees` : "";
  return `${period(ctx)} you used ${fixed(answer.total_kwh)} kWh (${bands})${fee}: ${money(answer.total_cost, c)} under ${answer.tariff}.`;
}

function siteSentence(ctx, answer) {
  const c = answer.currency;
  const imported = answer.import;
  const exported = answer.export;
  const paid = imported ? `imported ${fixed(imported.total_kwh)} kWh for ${money(imported.total_cost, c)}` : "imported nothing";
  const earned = !exported
    ? "it has no export channel"
    : Number(exported.remuneration) === 0
      ? `its export of ${fixed(exported.total_kwh)} kWh earned nothing (${answer.tariff} pays no feed-in)`
      : `its export of ${fixed(exported.total_kwh)} kWh earned ${money(exported.remuneration, c)}`;
  return `${period(ctx)} ${answer.site} ${paid} under ${answer.tariff}; ${earned}. In all: ${money(answer.total_cost, c)}.`;
}

function chosenTariff(ctx) {
  return ctx.tariffs.find((t) => t.name === ctx.state.tariff) ?? ctx.tariffs[0];
}

async function siteCost(ctx, tariff, base) {
  const importChannel = ctx.site.channels.find((c) => c.role === "import");
  const [answer, shifted] = await Promise.all([
    api.siteCost(ctx.site.name, { ...base, interval: "1d" }, { signal: ctx.signal }),
    // The site route has no shift: the saving is the import channel's, the only one priced by band.
    importChannel
      ? api.cost(importChannel.muid, { ...base, obis: importChannel.obis, shift: ctx.state.shift }, { signal: ctx.signal })
      : null,
  ]);
  const columns = ["start", "end", "import_kwh", "export_kwh", "import_cost", "export_remuneration", "net_cost"];
  return {
    subject: `site ${ctx.site.name}`,
    total: answer.total_cost,
    currency: answer.currency,
    bands: [...(answer.import?.bands ?? []), ...(answer.export?.bands ?? [])],
    sentence: siteSentence(ctx, answer),
    saving: savingSentence(shifted?.shift, answer.currency),
    table: { columns, rows: (answer.points ?? []).map((p) => columns.map((c) => p[c])) },
    tariff,
  };
}

async function meterCost(ctx, tariff, base) {
  const channel = meterChannel(ctx);
  const params = { ...base, obis: channel.hex, interval: "1d", shift: ctx.state.shift };
  const answer = await api.cost(channel.muid, params, { signal: ctx.signal });
  const columns = ["start", "end", "kwh", "cost", "count"];
  return {
    subject: `meter ${channel.muid.slice(0, 8)}${answer.kind ? ` (${answer.kind})` : ""}`,
    total: answer.total_cost,
    currency: answer.currency,
    bands: answer.bands,
    sentence: meterSentence(ctx, answer),
    saving: answer.kind === "export" ? "" : savingSentence(answer.shift, answer.currency),
    table: { columns, rows: (answer.points ?? []).map((p) => columns.map((c) => p[c])) },
    tariff,
  };
}

function fillTariffs(ctx, tariff) {
  const select = $("#tariff");
  if (select.options.length !== ctx.tariffs.length) {
    select.replaceChildren(...ctx.tariffs.map((t) => el("option", { value: t.name, text: `${t.name} (${t.currency})` })));
  }
  select.value = tariff.name;
  $("#tariff-description").textContent = tariff.description ?? "";
  $("#shift").value = String(Math.round(ctx.state.shift * 100));
  $("#shift-value").textContent = percent(ctx.state.shift);
}

export async function update(ctx) {
  const body = $("#cost-body");
  table = null;
  const tariff = chosenTariff(ctx);
  if (!tariff) return showEmpty(body, "The API knows no tariff: add one to its tariffs file or table.");
  fillTariffs(ctx, tariff);
  const base = { tariff: tariff.name, start: ctx.range.start, end: ctx.range.end, tz: ctx.state.tz };
  const cost = await orRefused(body, () => (ctx.site ? siteCost(ctx, tariff, base) : meterCost(ctx, tariff, base)));
  if (!cost) return;
  table = cost.table;
  body.replaceChildren(
    el("p", { class: "cost-total" }, `Cost of ${cost.subject}: `,
      el("strong", { "data-field": "total", "data-value": cost.total, text: money(cost.total, cost.currency) })),
    el("p", { class: "sentence", "data-field": "sentence", text: cost.sentence }),
    cost.saving ? el("p", { class: "sentence saving", "data-field": "saving", text: cost.saving }) : null,
    cost.bands.length ? bandTable(cost.bands, cost.currency, `Energy and cost by band under ${tariff.name}`) : el("p", { class: "empty", text: "No readings in this range." }),
  );
}
