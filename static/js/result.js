// Result page: listen on a websocket for the prediction, fall back to polling the API,
// and draw the boxes, ages, likely ranges and an 8-group pie chart with its table per face.
(function () {
  "use strict";
  const root = document.getElementById("result");
  const statusEl = document.getElementById("status");
  const messageEl = document.getElementById("message");
  const photo = document.getElementById("photo");
  const spinner = document.getElementById("spinner");
  const facesEl = document.getElementById("faces");
  const versionEl = document.getElementById("model-version");
  const liveEl = document.getElementById("live");
  const COLORS = ["#f97066", "#fdb022", "#fde272", "#a6ef67", "#32d583", "#36bffa", "#6172f3", "#9e77ed"];
  const STATUS_TEXT = { queued: "Queued", running: "Estimating…", done: "Done", failed: "Failed" };
  let rendered = null;  // the status and version last drawn, to avoid redrawing the same
  let pollTimer = null;

  const finished = (data) => data.status === "done" || data.status === "failed";
  const NOT_FOUND = 4404;  // the websocket's close code for a prediction that is gone

  function gone() {  // deleted (here or in another tab): stop listening and polling for good
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    spinner.hidden = true;
    statusEl.dataset.status = "failed";
    statusEl.textContent = "Deleted";
    messageEl.textContent = "This prediction was deleted.";
    messageEl.hidden = false;
    liveEl.textContent = "";
    liveEl.className = "live";
  }
  const years = (value) => Math.round(value);

  function render(data) {
    statusEl.dataset.status = data.status;
    statusEl.textContent = STATUS_TEXT[data.status] || data.status;
    spinner.hidden = finished(data);
    messageEl.textContent = data.message || "";
    messageEl.hidden = !data.message;
    const key = data.status + "|" + data.finished_at;
    if (key === rendered) return;
    rendered = key;
    photo.querySelectorAll(".box").forEach((el) => el.remove());
    facesEl.replaceChildren();
    if (data.status !== "done") return;
    drawVersions(data);
    data.faces.forEach((face, i) => { drawBox(data, face, i); drawCard(data, face, i); });
  }

  function drawBox(data, face, i) {
    const box = document.createElement("div");
    box.className = "box" + (face.box.y < data.height * 0.08 ? " below" : "");
    box.style.left = (100 * face.box.x / data.width) + "%";
    box.style.top = (100 * face.box.y / data.height) + "%";
    box.style.width = (100 * face.box.width / data.width) + "%";
    box.style.height = (100 * face.box.height / data.height) + "%";
    const label = document.createElement("span");
    label.className = "box-label";
    label.textContent = (data.faces.length > 1 ? (i + 1) + ": " : "") + years(face.age);
    box.appendChild(label);
    photo.appendChild(box);
  }

  const percent = (p) => (p > 0 && p < 0.005 ? "<1%" : Math.round(100 * p) + "%");
  const MODELS = {
    age: { name: "Age model", caption: "Pie: the age model's chances for each age group (its 101 ages, summed)" },
    ensemble: { name: "8-group ensemble", caption: "Pie: the 8-group ensemble's chances for each age group" },
  };

  // The age model is the one named by model_version; every other model is an ensemble member.
  function ensembleMembers(data) {
    return Object.keys(data.model_versions || {}).filter((name) => data.model_versions[name] !== data.model_version);
  }

  function drawVersions(data) {
    const members = ensembleMembers(data);
    versionEl.textContent = !data.model_version ? "" : "Age model " + data.model_version +
      (members.length ? " · 8-group ensemble of " + members.length + " models (" + members.join(", ") + ")" : "");
  }

  function drawCard(data, face, i) {
    const card = document.createElement("article");
    card.className = "face-card";
    const both = !!face.ensemble_groups;
    card.innerHTML =
      '<h3><span class="muted">Face ' + (i + 1) + '</span><span class="face-age"></span></h3>' +
      '<p class="face-range"></p>' +
      '<p class="face-range-note muted small-print">Such ranges held the true age 8 times in 10 in tests; ' +
      'the narrower the range, the surer the model.</p>' +
      (both ? '<div class="pie-switch" role="group" aria-label="Draw the pie from">' +
        '<button type="button" class="button small secondary" data-model="age" aria-pressed="true">Age model</button>' +
        '<button type="button" class="button small secondary" data-model="ensemble" aria-pressed="false">8-group ensemble</button>' +
        '</div>' : '') +
      '<p class="pie-caption small-print"></p>' +
      '<div class="face-chart"><canvas></canvas></div>' +
      '<table class="groups-table"><caption class="visually-hidden"></caption><thead><tr><th scope="col">Age group</th>' +
      '<th scope="col">Age model</th>' + (both ? '<th scope="col">8-group ensemble</th>' : '') +
      '</tr></thead><tbody></tbody></table>' +
      '<p class="ensemble-note small-print"></p>';
    card.querySelector(".face-age").textContent = years(face.age) + " years";
    card.querySelector(".face-range").textContent =
      "80% likely between " + years(face.interval[0]) + " and " + years(face.interval[1]) + " years";
    card.querySelector(".groups-table caption").textContent = "Chances of each age group for face " + (i + 1);
    const body = card.querySelector(".groups-table tbody");
    face.groups.forEach((group, g) => {
      const row = document.createElement("tr");
      row.innerHTML = '<th scope="row"><span class="swatch" aria-hidden="true"></span></th><td></td>' + (both ? "<td></td>" : "");
      row.querySelector(".swatch").style.background = COLORS[g];
      row.querySelector("th").append(group.label);
      row.cells[1].textContent = percent(group.probability);
      if (both) row.cells[2].textContent = percent(face.ensemble_groups[g].probability);
      body.appendChild(row);
    });
    const members = ensembleMembers(data).length;
    card.querySelector(".ensemble-note").textContent = !both
      ? "No 8-group ensemble result for this face: the age model's alone."
      : "The 8-group ensemble (" + (members || "several") + " models trained on the 8 groups alone)" +
        (face.ensemble_age === null ? "" : " says about " + years(face.ensemble_age) + " years") + ".";
    card.appendChild(feedbackForm(face.index === undefined ? i : face.index, i, !!data.image_url));
    facesEl.appendChild(card);
    drawPie(card, face, i, "age");
    card.querySelectorAll(".pie-switch button").forEach((button) =>
      button.addEventListener("click", () => drawPie(card, face, i, button.dataset.model)));
  }

  function drawPie(card, face, i, model) {
    const groups = model === "ensemble" ? face.ensemble_groups : face.groups;
    card.querySelector(".pie-caption").textContent = MODELS[model].caption;
    card.querySelectorAll(".pie-switch button").forEach((button) =>
      button.setAttribute("aria-pressed", String(button.dataset.model === model)));
    const canvas = card.querySelector("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", MODELS[model].name + ": chances of each age group for face " + (i + 1) +
      " (the table below has the numbers)");
    canvas.dataset.model = model;
    if (!window.Chart) return;
    const values = groups.map((g) => +(100 * g.probability).toFixed(1));
    const chart = window.Chart.getChart(canvas);
    if (chart) { chart.data.datasets[0].data = values; chart.update(); return; }
    new window.Chart(canvas, {
      type: "pie",
      data: {
        labels: groups.map((g) => g.label),
        datasets: [{ data: values, backgroundColor: COLORS, borderWidth: 1 }],
      },
      options: {
        maintainAspectRatio: false,
        animation: { duration: 300 },
        plugins: {
          legend: { display: false },  // the table below is the legend, with the percentages
          tooltip: { callbacks: { label: (ctx) => ctx.label + ": " + ctx.parsed + "%" } },
        },
      },
    });
  }

  // "About right?": one answer per face, stored through the feedback API.
  const answers = JSON.parse(document.getElementById("feedback-data").textContent);
  const csrf = () => (root.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  const feedbackUrl = (index) => root.dataset.feedbackUrl.replace("/faces/0/", "/faces/" + index + "/");

  function feedbackForm(index, i, photoKept) {
    const form = document.createElement("form");
    form.className = "feedback";
    form.noValidate = true;
    form.innerHTML =
      '<p class="feedback-q">About right?</p>' +
      '<div class="feedback-row">' +
      '<button type="button" class="button small secondary fb-yes">Yes</button>' +
      '<span class="fb-no-wrap"><button type="button" class="button small secondary fb-no">No, the real age is</button>' +
      '<input type="number" class="fb-age" min="0" max="116" step="1" inputmode="numeric" placeholder="age"></span>' +
      '</div>' +
      '<small class="muted">The age of the person in the photo when it was taken.</small>' +
      '<label class="fb-consent"><input type="checkbox" class="fb-keep"> Keep this face to help improve the age model</label>' +
      '<details class="consent-details"><summary>What is kept, for what, and for how long</summary></details>' +
      '<p class="fb-status" role="status"></p>' +
      '<button type="button" class="link fb-remove" hidden>Remove my answer</button>';
    form.querySelector(".consent-details").appendChild(
      document.getElementById("consent-template").content.cloneNode(true));
    const age = form.querySelector(".fb-age");
    const keep = form.querySelector(".fb-keep");
    const statusEl = form.querySelector(".fb-status");
    const remove = form.querySelector(".fb-remove");
    age.setAttribute("aria-label", "The real age of face " + (i + 1));
    keep.setAttribute("aria-label", "Keep face " + (i + 1) + " to help improve the age model");
    let current = answers[String(index)] || null;
    if (!photoKept && !(current && current.kept)) {  // the crop is cut from the photo, which is gone
      const note = document.createElement("p");
      note.className = "muted small-print";
      note.textContent = "The photo was deleted after the retention period, so this face can no longer be kept.";
      form.querySelector(".fb-consent").replaceWith(note);
      form.querySelector(".consent-details").remove();
    }

    function show(answer, note) {
      current = answer;
      form.classList.toggle("answered", !!answer);
      form.querySelector(".fb-yes").classList.toggle("chosen", !!answer && answer.correct);
      form.querySelector(".fb-no").classList.toggle("chosen", !!answer && !answer.correct);
      remove.hidden = !answer;
      statusEl.classList.remove("error");
      if (!answer) { statusEl.textContent = note || ""; return; }
      keep.checked = answer.consent_to_train;
      if (!answer.correct && answer.true_age !== null) age.value = answer.true_age;
      const said = answer.correct ? "about right" : (answer.true_age === null ? "not right" : "the real age is " + answer.true_age);
      statusEl.textContent = "Thank you. Saved: " + said + "." +
        (answer.consent_to_train ? " This face is kept to help improve the model." : " Kept as numbers only.");
    }

    async function send(method, body) {
      statusEl.classList.remove("error");
      statusEl.textContent = "Saving…";
      try {
        const response = await fetch(feedbackUrl(index), {
          method: method,
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
          body: body ? JSON.stringify(body) : undefined,
        });
        if (response.status === 204) { show(null, "Your answer was removed."); return; }
        const data = await response.json();
        if (!response.ok) throw new Error((data.error && data.error.message) || "Could not save your answer.");
        show(data);
      } catch (error) {
        statusEl.textContent = error.message || "Could not save your answer; please try again.";
        statusEl.classList.add("error");
      }
    }

    function answerNo() {
      const raw = age.value.trim();
      if (raw !== "" && !/^\d{1,3}$/.test(raw)) { statusEl.textContent = "The real age must be a whole number from 0 to 116."; statusEl.classList.add("error"); return; }
      send("POST", { correct: false, true_age: raw === "" ? null : Number(raw), consent_to_train: keep.checked });
    }
    form.querySelector(".fb-yes").addEventListener("click", () =>
      send("POST", { correct: true, true_age: null, consent_to_train: keep.checked }));
    form.querySelector(".fb-no").addEventListener("click", answerNo);
    age.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); answerNo(); } });
    keep.addEventListener("change", () => {
      if (current) send("POST", { correct: current.correct, true_age: current.true_age, consent_to_train: keep.checked });
    });
    remove.addEventListener("click", () => send("DELETE"));
    form.addEventListener("submit", (event) => event.preventDefault());
    show(current);
    return form;
  }

  function poll() {
    if (pollTimer) return;
    liveEl.className = "live poll";
    liveEl.textContent = "checking every second";
    pollTimer = setInterval(async () => {
      try {
        const response = await fetch(root.dataset.apiUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (response.status === 404) { gone(); return; }
        if (!response.ok) return;
        const data = await response.json();
        render(data);
        if (finished(data)) { clearInterval(pollTimer); liveEl.textContent = ""; liveEl.className = "live"; }
      } catch (error) { /* keep trying: the network may come back */ }
    }, 1000);
  }

  function listen() {
    if (!("WebSocket" in window)) { poll(); return; }
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + root.dataset.wsPath);
    let last = null;
    // A socket can stay open yet go quiet for good (the channel layer restarted): ask the
    // API now and then while waiting, and stop listening once the answer is final.
    const check = setInterval(async () => {
      try {
        const response = await fetch(root.dataset.apiUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (response.status === 404) { clearInterval(check); socket.close(); gone(); return; }
        if (!response.ok) return;
        const data = await response.json();
        if (finished(data)) { last = data; render(data); clearInterval(check); socket.close(); liveEl.textContent = ""; liveEl.className = "live"; }
      } catch (error) { /* the network may come back */ }
    }, 10000);
    socket.onopen = () => { liveEl.className = "live ws"; liveEl.textContent = "live"; };
    socket.onmessage = (event) => {
      last = JSON.parse(event.data);
      render(last);
      if (finished(last)) { socket.close(); liveEl.textContent = ""; liveEl.className = "live"; }
    };
    socket.onclose = (event) => {
      clearInterval(check);
      if (event.code === NOT_FOUND) gone();
      else if (!last || !finished(last)) poll();
    };
  }

  const initial = JSON.parse(document.getElementById("prediction-data").textContent);
  function start() {
    render(initial);
    if (!finished(initial)) listen();
  }
  if (document.readyState === "complete") start(); else window.addEventListener("load", start);
})();
