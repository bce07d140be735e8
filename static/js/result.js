// Result page: listen on a websocket for the prediction, fall back to polling the API,
// and draw the boxes, ages and an 8-group pie chart per face.
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
    versionEl.textContent = data.model_version ? "Model " + data.model_version : "";
    data.faces.forEach((face, i) => { drawBox(data, face, i); drawCard(face, i); });
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

  function drawCard(face, i) {
    const card = document.createElement("article");
    card.className = "face-card";
    card.innerHTML =
      '<h3><span class="muted">Face ' + (i + 1) + '</span><span class="face-age"></span></h3>' +
      '<div class="face-range"></div><div class="face-chart"><canvas></canvas></div>';
    card.querySelector(".face-age").textContent = years(face.age) + " years";
    card.querySelector(".face-range").textContent =
      "Likely between " + years(face.interval[0]) + " and " + years(face.interval[1]);
    facesEl.appendChild(card);
    const canvas = card.querySelector("canvas");
    canvas.setAttribute("aria-label", "Probability of each age group for face " + (i + 1));
    if (!window.Chart) return;
    new window.Chart(canvas, {
      type: "pie",
      data: {
        labels: face.groups.map((g) => g.label),
        datasets: [{ data: face.groups.map((g) => +(100 * g.probability).toFixed(1)), backgroundColor: COLORS, borderWidth: 1 }],
      },
      options: {
        maintainAspectRatio: false,
        animation: { duration: 300 },
        plugins: {
          legend: { position: "right", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (ctx) => ctx.label + ": " + ctx.parsed + "%" } },
        },
      },
    });
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
