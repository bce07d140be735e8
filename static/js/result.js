// Result page: listen on a websocket for the prediction, fall back to polling the API, and
// draw each face: its box and label on the photo, a strip of face crops (phones, several
// faces), and a card with one headline age, its range and a pie of the 8 age groups whose
// slice holding that age is marked.
(function () {
  "use strict";
  const root = document.getElementById("result");
  const statusEl = document.getElementById("status");
  const messageEl = document.getElementById("message");
  const noFaceHelp = document.getElementById("no-face-help");
  const photo = document.getElementById("photo");
  const photoImg = document.getElementById("photo-img");
  const spinner = document.getElementById("spinner");
  const intro = document.getElementById("faces-intro");
  const strip = document.getElementById("face-strip");
  const resultBody = root.querySelector(".result-body");
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
    const noFace = data.status === "done" && !data.faces.length;
    statusEl.dataset.status = noFace ? "noface" : data.status;
    statusEl.textContent = noFace ? "No face found" : STATUS_TEXT[data.status] || data.status;
    spinner.hidden = finished(data);
    messageEl.textContent = data.message || "";
    messageEl.hidden = !data.message;
    noFaceHelp.hidden = !noFace;
    const key = data.status + "|" + data.finished_at;
    if (key === rendered) return;
    rendered = key;
    photo.querySelectorAll(".box, .box-label").forEach((el) => el.remove());
    facesEl.replaceChildren();
    strip.replaceChildren();
    intro.hidden = data.status !== "done" || noFace;
    strip.hidden = data.status !== "done" || data.faces.length < 2;
    resultBody.classList.toggle("group", !strip.hidden);  // several faces: the cards get the wider column
    if (data.status !== "done") return;
    drawVersions(data);
    data.faces.forEach((face, i) => { drawBox(data, face, i); drawStripFace(data, face, i); drawCard(data, face, i); });
    placeLabels();
  }

  // --- the photo: boxes, and labels placed outside every face ---

  function drawBox(data, face, i) {
    const box = document.createElement("a");
    box.className = "box";
    box.href = "#face-" + (i + 1);
    box.dataset.face = String(i);
    box.setAttribute("aria-label", "Face " + (i + 1) + ", " + years(face.age) + " years: go to its age and chart");
    box.style.left = (100 * face.box.x / data.width) + "%";
    box.style.top = (100 * face.box.y / data.height) + "%";
    box.style.width = (100 * face.box.width / data.width) + "%";
    box.style.height = (100 * face.box.height / data.height) + "%";
    const label = document.createElement("span");
    label.className = "box-label";
    label.dataset.face = String(i);
    label.setAttribute("aria-hidden", "true");  // the box's own name says it
    label.textContent = (data.faces.length > 1 ? (i + 1) + " · " : "") + years(face.age);
    box.addEventListener("click", () => flashBox(i, false));
    photo.append(box, label);
  }

  // Each label goes beside its box (above, below, then the sides), inside the photo and
  // clear of every face and of the labels placed before it; where there is no such place
  // it is left out (the cards and, on phones, the strip say the same).
  function placeLabels() {
    const width = photo.clientWidth, height = photo.clientHeight;
    const boxes = [...photo.querySelectorAll(".box")].map((el) =>
      ({ x: el.offsetLeft, y: el.offsetTop, w: el.offsetWidth, h: el.offsetHeight }));
    const placed = [];
    const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    photo.querySelectorAll(".box-label").forEach((label) => {
      label.hidden = false;
      const f = boxes[Number(label.dataset.face)], w = label.offsetWidth, h = label.offsetHeight, gap = 3;
      const clampX = (x) => Math.max(0, Math.min(width - w, x));
      const spots = [
        [clampX(f.x), f.y - h - gap], [clampX(f.x), f.y + f.h + gap],
        [clampX(f.x + f.w - w), f.y - h - gap], [clampX(f.x + f.w - w), f.y + f.h + gap],
        [f.x - w - gap, f.y], [f.x + f.w + gap, f.y], [f.x - w - gap, f.y + f.h - h], [f.x + f.w + gap, f.y + f.h - h],
      ].map(([x, y]) => ({ x: x, y: y, w: w, h: h }));
      const spot = spots.find((s) => s.x >= 0 && s.y >= 0 && s.x + w <= width && s.y + h <= height &&
        !boxes.some((b) => overlaps(s, b)) && !placed.some((p) => overlaps(s, p)));
      label.hidden = !spot;
      if (!spot) return;
      placed.push(spot);
      label.style.left = spot.x + "px";
      label.style.top = spot.y + "px";
    });
  }
  if ("ResizeObserver" in window) new ResizeObserver(() => placeLabels()).observe(photo);

  // --- the strip of faces (phones): each crop drawn from the photo, a tap goes to its card ---

  function drawStripFace(data, face, i) {
    const link = document.createElement("a");
    link.className = "strip-face";
    link.href = "#face-" + (i + 1);
    link.setAttribute("aria-label", "Face " + (i + 1) + ", " + years(face.age) + " years");
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 96;
    canvas.setAttribute("aria-hidden", "true");
    const text = document.createElement("span");
    text.textContent = (i + 1) + " · " + years(face.age);
    link.append(canvas, text);
    strip.appendChild(link);
    whenPhotoLoaded(() => drawCrop(canvas, data, face));
  }

  function whenPhotoLoaded(then) {
    if (photoImg.tagName !== "IMG") return;  // the photo was deleted: numbers only
    if (photoImg.complete && photoImg.naturalWidth) then();
    else photoImg.addEventListener("load", then, { once: true });
  }

  function drawCrop(canvas, data, face) {
    const scale = photoImg.naturalWidth / data.width;  // the image may be served smaller than measured
    const side = Math.max(face.box.width, face.box.height) * 1.25;
    const cx = face.box.x + face.box.width / 2, cy = face.box.y + face.box.height / 2;
    const context = canvas.getContext("2d");
    context.fillStyle = "#0b0f19";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(photoImg, (cx - side / 2) * scale, (cy - side / 2) * scale, side * scale, side * scale,
      0, 0, canvas.width, canvas.height);
  }

  function flashBox(i, focus) {
    const box = photo.querySelector('.box[data-face="' + i + '"]');
    if (!box) return;
    box.classList.add("current");
    if (focus) box.focus({ preventScroll: true });
    setTimeout(() => box.classList.remove("current"), 2000);
  }

  // --- the cards ---

  const percent = (p) => (p > 0 && p < 0.005 ? "<1%" : Math.round(100 * p) + "%");

  // The age model is the one named by model_version; the others give the second opinion.
  function secondOpinionModels(data) {
    return Object.keys(data.model_versions || {}).filter((name) => data.model_versions[name] !== data.model_version);
  }

  function drawVersions(data) {
    const others = secondOpinionModels(data);
    versionEl.textContent = !data.model_version ? "" : "Age model " + data.model_version +
      (others.length ? "; second opinion: " + others.map((name) => data.model_versions[name]).join(", ") : "");
  }

  // The group ("15-23", "60+") that holds an age as shown (rounded).
  function groupOf(groups, age) {
    const shown = years(age);
    const index = groups.findIndex((group) => {
      const [low, high] = group.label.split(/[-+]/).map(Number);
      return shown >= low && (group.label.endsWith("+") || shown <= high);
    });
    return Math.max(0, index);
  }

  function drawCard(data, face, i) {
    const card = document.createElement("article");
    card.className = "face-card";
    card.id = "face-" + (i + 1);
    card.tabIndex = -1;
    const age = years(face.age);
    const holds = groupOf(face.groups, face.age);
    // Compact: the ring beside the headline age; the table of chances (the ring's legend,
    // with the numbers) and the second opinion wait under a line each, so that a group's
    // cards stay short beside the photo. A single face shows its table open.
    card.innerHTML =
      '<div class="face-top"><div class="face-chart"><canvas></canvas></div><div class="face-head">' +
      '<h2 class="face-title"><span class="face-name">Face ' + (i + 1) + '</span><span class="face-age"></span></h2>' +
      '<p class="face-range"></p>' +
      '<p class="face-links small-print"><a class="to-photo" href="#photo">Show on the photo</a></p></div></div>' +
      '<p class="face-agree small-print" hidden></p>' +
      '<div class="face-more"><details class="face-groups small-print"><summary>Chances by age group</summary>' +
      '<div class="face-spread">' +
      '<table class="groups-table"><caption class="visually-hidden"></caption><thead><tr><th scope="col">Age group</th>' +
      '<th scope="col">Chance</th><th scope="col"><span class="visually-hidden">Holds the age</span></th>' +
      '</tr></thead><tbody></tbody></table></div></details></div>';
    card.querySelector(".face-groups").open = data.faces.length === 1;
    card.querySelector(".face-age").textContent = age + " years";
    card.querySelector(".face-range").textContent =
      "80% likely between " + years(face.interval[0]) + " and " + years(face.interval[1]) + " years";
    card.querySelector(".groups-table caption").textContent = "Chances of each age group for face " + (i + 1);
    const body = card.querySelector(".groups-table tbody");
    face.groups.forEach((group, g) => {
      const row = document.createElement("tr");
      row.innerHTML = '<th scope="row"><span class="swatch" aria-hidden="true"></span></th><td></td><td class="mark"></td>';
      row.querySelector(".swatch").style.background = COLORS[g];
      row.querySelector("th").append(group.label);
      row.cells[1].textContent = percent(group.probability);
      if (g === holds) { row.className = "holds-age"; row.cells[2].textContent = "← " + age + " years"; }
      body.appendChild(row);
    });
    const top = face.groups.reduce((best, group, g) => (group.probability > face.groups[best].probability ? g : best), 0);
    if (top !== holds) {
      const note = card.querySelector(".face-agree");
      note.textContent = "The largest slice is " + face.groups[top].label + " (" + percent(face.groups[top].probability) +
        "); " + age + " is the average over every age, which here falls in " + face.groups[holds].label + ".";
      note.hidden = false;
    }
    if (face.ensemble_groups) card.querySelector(".face-more").appendChild(secondOpinion(data, face, i));
    card.appendChild(feedbackForm(face.index === undefined ? i : face.index, i, !!data.image_url));
    facesEl.appendChild(card);
    card.querySelector(".to-photo").addEventListener("click", () => setTimeout(() => flashBox(i, true), 0));
    drawPie(card, face, i, holds);
  }

  function secondOpinion(data, face, i) {
    const details = document.createElement("details");
    details.className = "face-details small-print";
    const models = secondOpinionModels(data).length;
    details.innerHTML = '<summary>Details: a second opinion</summary><p></p>' +
      '<table class="groups-table second-opinion"><caption class="visually-hidden"></caption><thead><tr>' +
      '<th scope="col">Age group</th><th scope="col">Second opinion</th></tr></thead><tbody></tbody></table>';
    details.querySelector("p").textContent = (models || "A few") + " smaller models that learned the 8 age groups only" +
      (face.ensemble_age === null ? " give these chances" : " say about " + years(face.ensemble_age) + " years") +
      ". Where they and the age above disagree, neither is sure.";
    details.querySelector("caption").textContent = "The second opinion's chances for face " + (i + 1);
    const body = details.querySelector("tbody");
    face.ensemble_groups.forEach((group) => {
      const row = body.insertRow();
      const head = document.createElement("th");
      head.scope = "row";
      head.textContent = group.label;
      row.appendChild(head);
      row.insertCell().textContent = percent(group.probability);
    });
    return details;
  }

  // The headline age in the middle of the ring, so the pie and the number are read together.
  const centreAge = {
    id: "centreAge",
    afterDraw(chart, args, options) {
      const { ctx, chartArea: area } = chart;
      const x = (area.left + area.right) / 2, y = (area.top + area.bottom) / 2;
      ctx.save();
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillStyle = "#1d2433";
      ctx.font = "800 22px system-ui, sans-serif";
      ctx.fillText(options.age, x, y - 7);
      ctx.fillStyle = "#596275";
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillText("years", x, y + 12);
      ctx.restore();
    },
  };

  function drawPie(card, face, i, holds) {
    const canvas = card.querySelector("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "Chances of each age group for face " + (i + 1) + "; " + face.groups[holds].label +
      ", which holds the age, is marked (the numbers are under Chances by age group)");
    if (!window.Chart) return;
    const marked = (yes, no) => face.groups.map((_, g) => (g === holds ? yes : no));
    new window.Chart(canvas, {
      type: "doughnut",
      data: {
        labels: face.groups.map((g) => g.label),
        datasets: [{
          data: face.groups.map((g) => +(100 * g.probability).toFixed(1)), backgroundColor: COLORS,
          borderColor: marked("#1d2433", "#fff"), borderWidth: marked(3, 1), offset: marked(10, 0),
        }],
      },
      plugins: [centreAge],
      options: {
        maintainAspectRatio: false,
        cutout: "55%",
        layout: { padding: 8 },
        animation: { duration: 300 },
        plugins: {
          legend: { display: false },  // the table under "Chances by age group" is the legend, with the numbers
          tooltip: { callbacks: { label: (ctx) => ctx.label + ": " + ctx.parsed + "%" } },
          centreAge: { age: String(years(face.age)) },
        },
      },
    });
  }

  // --- "About right?": one answer per face, stored through the feedback API ---
  // Keeping the face is a choice of its own, made after answering: its box is unticked
  // until then, and unticked again when the answer is removed.
  const answers = JSON.parse(document.getElementById("feedback-data").textContent);
  const csrf = () => (root.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  const feedbackUrl = (index) => root.dataset.feedbackUrl.replace("/faces/0/", "/faces/" + index + "/");

  function feedbackForm(index, i, photoKept) {
    const form = document.createElement("form");
    form.className = "feedback";
    form.noValidate = true;
    form.innerHTML =
      '<div class="feedback-row"><span class="feedback-q">About right?</span>' +
      '<button type="button" class="button small secondary fb-yes">Yes</button>' +
      '<span class="muted">or</span>' +
      '<span class="fb-no-wrap"><input type="number" class="fb-age" min="0" max="116" step="1" inputmode="numeric" ' +
      'placeholder="age"><button type="button" class="button small secondary fb-no">No, this is the real age</button></span>' +
      '</div>' +
      '<small class="muted">The age of the person in the photo when it was taken; Enter sends it.</small>' +
      '<label class="fb-consent"><input type="checkbox" class="fb-keep" disabled> Keep this face to help improve the age model</label>' +
      '<small class="muted fb-keep-hint">Answer first; then you can choose to keep this face.</small>' +
      '<details class="consent-details"><summary>What is kept, for what, and for how long</summary></details>' +
      '<p class="fb-status" role="status"></p>' +
      '<button type="button" class="link fb-remove" hidden>Remove my answer</button>';
    form.querySelector(".consent-details").appendChild(
      document.getElementById("consent-template").content.cloneNode(true));
    const age = form.querySelector(".fb-age");
    const keep = form.querySelector(".fb-keep");
    const hint = form.querySelector(".fb-keep-hint");
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
      hint.remove();
      form.querySelector(".consent-details").remove();
    }

    const said = (answer) => (answer.correct ? "about right"
      : answer.true_age === null ? "not right" : "the real age is " + answer.true_age);

    function show(answer, note) {
      current = answer;
      form.classList.toggle("answered", !!answer);
      form.querySelector(".fb-yes").classList.toggle("chosen", !!answer && answer.correct);
      form.querySelector(".fb-no").classList.toggle("chosen", !!answer && !answer.correct);
      remove.hidden = !answer;
      keep.disabled = !answer;
      keep.checked = !!answer && answer.consent_to_train;
      hint.hidden = !!answer;
      statusEl.classList.remove("error");
      if (!answer) { statusEl.textContent = note || ""; return; }
      if (!answer.correct && answer.true_age !== null) age.value = answer.true_age;
      statusEl.textContent = note || "Thank you. Saved: " + said(answer) + "." +
        (answer.consent_to_train ? " This face is kept to help improve the model." : " Kept as numbers only.");
    }

    async function send(method, body, note) {
      statusEl.classList.remove("error");
      statusEl.textContent = "Saving…";
      try {
        const response = await fetch(feedbackUrl(index), {
          method: method,
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
          body: body ? JSON.stringify(body) : undefined,
        });
        if (response.status === 204) { show(null, note); return; }
        const data = await response.json();
        if (!response.ok) throw new Error((data.error && data.error.message) || "Could not save your answer.");
        show(data, note);
      } catch (error) {
        keep.checked = !!current && current.consent_to_train;  // what is stored, not what was asked
        statusEl.textContent = error.message || "Could not save your answer; please try again.";
        statusEl.classList.add("error");
      }
    }

    function answer(correct) {
      const raw = age.value.trim();
      if (!correct && raw !== "" && !/^\d{1,3}$/.test(raw)) {
        statusEl.textContent = "The real age must be a whole number from 0 to 116.";
        statusEl.classList.add("error");
        return;
      }
      const trueAge = correct || raw === "" ? null : Number(raw);
      send("POST", { correct: correct, true_age: trueAge, consent_to_train: keep.checked });
    }
    form.querySelector(".fb-yes").addEventListener("click", () => answer(true));
    form.querySelector(".fb-no").addEventListener("click", () => answer(false));
    age.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); answer(false); } });
    keep.addEventListener("change", () => {
      if (!current) return;
      const note = keep.checked ? null
        : "Removed: the kept face was deleted. Your answer stays, as numbers only (" + said(current) + ").";
      send("POST", { correct: current.correct, true_age: current.true_age, consent_to_train: keep.checked }, note);
    });
    remove.addEventListener("click", () => send("DELETE", null, current && current.consent_to_train
      ? "Your answer was removed, and the kept face deleted." : "Your answer was removed."));
    form.addEventListener("submit", (event) => event.preventDefault());
    show(current);
    return form;
  }

  // --- updates: websocket, else polling ---

  function poll() {
    if (pollTimer) return;
    liveEl.className = "live poll";
    liveEl.textContent = "Updates: checking every second";
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
    socket.onopen = () => { liveEl.className = "live ws"; liveEl.textContent = "Updates: live"; };
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

  // The upload time in the reader's own time zone (the server wrote it in the site's).
  const uploaded = document.getElementById("uploaded-at");
  uploaded.textContent = new Date(uploaded.getAttribute("datetime")).toLocaleString(undefined,
    { dateStyle: "medium", timeStyle: "short" });

  const initial = JSON.parse(document.getElementById("prediction-data").textContent);
  function start() {
    render(initial);
    if (!finished(initial)) listen();
  }
  if (document.readyState === "complete") start(); else window.addEventListener("load", start);
})();
