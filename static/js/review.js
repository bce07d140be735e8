// Staff review: one kept face at a time, one key per verdict, the next one shown at once.
(function () {
  "use strict";
  const root = document.getElementById("review");
  const $ = (id) => document.getElementById(id);
  const filters = { state: $("filter-state"), version: $("filter-version"), disagreement: $("filter-disagreement") };
  const csrf = () => (root.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  let queue = [];
  let pos = 0;
  let nextUrl = null;
  let offset = 0;  // items on the pages before the one loaded
  let total = 0;
  let reviewed = 0;  // verdicts given on this page since the filters last changed
  let reviewedAtLoad = 0;  // ... when the current list was fetched (its count excludes them)
  let chart = null;
  let busy = false;

  function listUrl() {
    const params = new URLSearchParams();
    if (filters.state.value) params.set("state", filters.state.value);
    if (filters.version.value) params.set("model_version", filters.version.value);
    if (filters.disagreement.value.trim()) params.set("min_disagreement", filters.disagreement.value.trim());
    return root.dataset.apiUrl + "?" + params.toString();
  }

  async function request(url, options) {
    const response = await fetch(url, Object.assign({ credentials: "same-origin", headers: {
      Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrf() } }, options || {}));
    const data = await response.json();
    if (!response.ok) throw new Error((data.error && data.error.message) || "The request failed.");
    return data;
  }

  async function load(url) {
    try {
      const data = await request(url || listUrl());
      offset = url ? offset + queue.length : 0;
      queue = data.results; pos = 0; nextUrl = data.next; total = data.count; reviewedAtLoad = reviewed;
      // The last verdict's "Saved" stays in sight, even when it emptied the list; an old error goes.
      if ($("review-status").classList.contains("error")) $("review-status").textContent = "";
      $("review-status").classList.remove("error");
    } catch (error) {
      queue = []; nextUrl = null; total = 0; offset = 0;
      $("review-status").textContent = error.message; $("review-status").classList.add("error");
    }
    show();
  }

  const years = (value) => (value === null || value === undefined ? "—" : Math.round(value) + " years");

  function show() {
    const item = queue[pos];
    $("review-item").hidden = !item;
    $("review-empty").hidden = !!item;
    const pending = filters.state.value === "pending";
    const gone = pending ? reviewed - reviewedAtLoad : 0;  // reviewed since the load: no longer pending
    const left = Math.max(total - gone, 0);
    const where = item ? "Face " + (offset + pos - gone + 1) + " of " + left : (pending ? "None" : "No face");
    $("review-count").textContent = where + (pending ? " waiting, " : " matching, ") + reviewed + " reviewed";
    if (!item) return;
    $("review-crop").src = item.crop_url;
    $("review-estimate").textContent = years(item.estimate) + " (likely " + Math.round(item.interval[0]) + " to " + Math.round(item.interval[1]) + ")";
    $("review-answer").textContent = item.correct ? "About right" : (item.true_age === null ? "Not right, no age given" : "Real age " + item.true_age);
    $("review-disagreement").textContent = years(item.disagreement);
    $("review-version").textContent = item.model_version || "—";
    $("review-state").textContent = item.state;
    $("review-state").dataset.state = item.state;
    $("review-by").textContent = item.reviewer ? "by " + item.reviewer + (item.corrected_age !== null ? ", corrected to " + item.corrected_age : "") : "";
    $("review-age").value = item.corrected_age !== null ? item.corrected_age : "";
    if (queue[pos + 1]) new Image().src = queue[pos + 1].crop_url;  // the next one is ready at once
    drawChart(item.distribution);
  }

  function drawChart(distribution) {
    if (!window.Chart) return;
    const data = { labels: distribution.map((_, age) => age), datasets: [{ data: distribution.map((p) => +(100 * p).toFixed(2)),
      backgroundColor: "#6172f3", borderWidth: 0, barPercentage: 1, categoryPercentage: 1 }] };
    if (chart) { chart.data = data; chart.update("none"); return; }
    chart = new window.Chart($("review-chart"), { type: "bar", data: data, options: {
      maintainAspectRatio: false, animation: false, plugins: { legend: { display: false },
        tooltip: { callbacks: { title: (items) => "Age " + items[0].label, label: (ctx) => ctx.parsed.y + "%" } } },
      scales: { x: { ticks: { maxTicksLimit: 11 } }, y: { title: { display: true, text: "%" } } } } });
  }

  async function advance() {
    pos += 1;
    if (pos < queue.length) { show(); return; }
    if (filters.state.value === "pending") { await load(); return; }  // reviewed items have left the list
    if (nextUrl) { await load(nextUrl); return; }
    show();
  }

  async function verdict(state, correctedAge) {
    const item = queue[pos];
    if (!item || busy) return;
    busy = true;
    $("review-status").classList.remove("error");
    try {
      await request(item.crop_url.replace(/crop\/$/, ""), { method: "PATCH",
        body: JSON.stringify({ state: state, corrected_age: correctedAge }) });
      reviewed += 1;
      $("review-status").textContent = "Saved: " + state + (correctedAge !== null ? " with age " + correctedAge : "") + ".";
      await advance();
    } catch (error) {
      $("review-status").textContent = error.message; $("review-status").classList.add("error");
    } finally { busy = false; }
  }

  function corrected() {
    const raw = $("review-age").value.trim();
    if (!/^\d{1,3}$/.test(raw) || Number(raw) > 116) {
      $("review-status").textContent = "Type the corrected age first: a whole number from 0 to 116.";
      $("review-status").classList.add("error"); $("review-age").focus(); return;
    }
    verdict("accepted", Number(raw));
  }

  $("review-accept").addEventListener("click", () => verdict("accepted", null));
  $("review-reject").addEventListener("click", () => verdict("rejected", null));
  $("review-correct").addEventListener("click", corrected);
  $("review-skip").addEventListener("click", advance);
  $("review-age").addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); corrected(); }
    if (event.key === "Escape") $("review-age").blur();
  });
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (key === "a") verdict("accepted", null);
    else if (key === "r") verdict("rejected", null);
    else if (key === "c") { event.preventDefault(); $("review-age").focus(); }
    else if (key === "s") advance();
    else if (key === "b" && pos > 0) { pos -= 1; show(); }
  });
  [filters.state, filters.version].forEach((el) => el.addEventListener("change", () => { reviewed = 0; load(); }));
  filters.disagreement.addEventListener("change", () => { reviewed = 0; load(); });
  $("review-filters").addEventListener("submit", (event) => { event.preventDefault(); reviewed = 0; load(); });
  if (document.readyState === "complete") load(); else window.addEventListener("load", () => load());
})();
