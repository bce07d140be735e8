// Live page: webcam frames over the /ws/live/ websocket, one in flight; each answer's faces
// are drawn over the video. Protocol: README, "Live webcam".
(function () {
  "use strict";
  const page = document.getElementById("live-page");
  const video = document.getElementById("stream-video");
  const overlay = document.getElementById("stream-overlay");
  const stage = document.getElementById("stage");
  const status = document.getElementById("stream-status");
  const errorBox = document.getElementById("stream-error");
  const buttons = {
    start: document.getElementById("stream-start"),
    stop: document.getElementById("stream-stop"),
    flip: document.getElementById("stream-switch"),
    keep: document.getElementById("stream-keep"),
  };
  const stats = {
    rate: document.getElementById("stat-rate"),
    latency: document.getElementById("stat-latency"),
    faces: document.getElementById("stat-faces"),
    model: document.getElementById("stat-model"),
  };
  const faceList = document.getElementById("stream-faces");
  const kept = document.getElementById("stream-kept");
  const FRAME_WIDTH = 640; // frames are sent at most this wide: what the model needs, and fast
  const MIN_GAP_MS = 40; // at most 25 frames a second
  // Close codes after which reconnecting cannot help (README: "Live webcam").
  const FINAL = {
    4401: "You are no longer logged in; log in again to go live.",
    4409: "You already have the most live streams allowed open (in other tabs or devices); close one and start again.",
    4429: "Too many frames a second were sent; start again.",
  };

  let stream = null, socket = null, facing = "user", running = false;
  let sentAt = 0, inFlight = false, lastFaces = [], frameSize = [FRAME_WIDTH, 480];
  let answers = [], latencies = [], retry = 0, retryTimer = null;
  // The frame in flight, and the last one the server answered: "Keep this frame" keeps that
  // very frame (the ages on screen are its ages), not a later picture from the camera.
  let sentBlob = null, scoredBlob = null;
  const grab = document.createElement("canvas");

  function setState(state, text) { status.dataset.state = state; status.textContent = text; }
  function showError(text) { errorBox.textContent = text; errorBox.hidden = !text; }
  function show(name, visible) { buttons[name].hidden = !visible; }

  function cameraProblem() {
    if (!window.isSecureContext) return "The camera needs a secure page: open this site over HTTPS (or on localhost).";
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return "This browser cannot use a camera.";
    return null;
  }

  function cameraError(error) {
    if (error.name === "NotAllowedError" || error.name === "SecurityError") {
      return "The camera was refused. Allow it in your browser's site settings, then press Start camera again.";
    }
    if (error.name === "NotFoundError" || error.name === "OverconstrainedError") return "No camera was found on this device.";
    if (error.name === "NotReadableError") return "The camera is in use by another program.";
    return "The camera could not be opened: " + (error.message || error.name) + ".";
  }

  async function openCamera() {
    const constraints = { video: { facingMode: facing, width: { ideal: 640 }, height: { ideal: 480 } }, audio: false };
    const next = await navigator.mediaDevices.getUserMedia(constraints);
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = next;
    video.srcObject = stream;
    await video.play().catch(() => {});
    const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
    show("flip", cameras.length > 1);
  }

  async function start() {
    showError("");
    kept.hidden = true;
    const problem = cameraProblem();
    if (problem) { showError(problem); setState("error", "No camera"); return; }
    setState("connecting", "Opening camera…");
    try {
      await openCamera();
    } catch (error) {
      showError(cameraError(error));
      setState("error", "No camera");
      return;
    }
    running = true;
    stage.hidden = false;
    show("start", false); show("stop", true); show("keep", true);
    connect();
    requestAnimationFrame(draw);
  }

  function stop(message) {
    running = false;
    clearTimeout(retryTimer);
    if (socket) { socket.onclose = null; socket.close(1000); socket = null; }
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null; inFlight = false; lastFaces = []; answers = []; latencies = []; sentBlob = scoredBlob = null;
    stage.hidden = true;
    show("start", true); show("stop", false); show("keep", false); show("flip", false);
    setState("off", "Camera off");
    if (message) showError(message);
    faceList.replaceChildren();
    Object.values(stats).forEach((figure) => { figure.textContent = "–"; });  // nothing is measured now
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + page.dataset.wsPath);
    socket.binaryType = "arraybuffer";
    setState("connecting", "Connecting…");
    socket.onopen = () => { retry = 0; inFlight = false; setState("live", "Live"); showError(""); sendFrame(); };
    socket.onmessage = (event) => receive(JSON.parse(event.data));
    socket.onclose = (event) => {
      socket = null;
      if (!running) return;
      if (FINAL[event.code]) { stop(FINAL[event.code]); return; }
      // Dropped (network, server restart, idle): reconnect by itself, waiting longer each time.
      const wait = Math.min(10000, 500 * 2 ** retry++);
      setState("connecting", "Reconnecting…");
      showError("The connection dropped; reconnecting in " + Math.round(wait / 1000) + " s.");
      retryTimer = setTimeout(connect, wait);
    };
  }

  function sendFrame() {
    if (!running || !socket || socket.readyState !== WebSocket.OPEN || inFlight || !video.videoWidth) {
      if (running && !video.videoWidth) setTimeout(sendFrame, 100);
      return;
    }
    const gap = performance.now() - sentAt;
    if (gap < MIN_GAP_MS) { setTimeout(sendFrame, MIN_GAP_MS - gap); return; }
    const scale = Math.min(1, FRAME_WIDTH / video.videoWidth);
    grab.width = Math.round(video.videoWidth * scale);
    grab.height = Math.round(video.videoHeight * scale);
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    inFlight = true;
    grab.toBlob((blob) => {
      if (!socket || socket.readyState !== WebSocket.OPEN) { inFlight = false; return; }
      sentAt = performance.now();
      sentBlob = blob;
      socket.send(blob);
    }, "image/jpeg", 0.8);
  }

  function receive(message) {
    const now = performance.now();
    if (message.type === "result") {
      inFlight = false;
      scoredBlob = sentBlob;
      latencies.push(now - sentAt); if (latencies.length > 15) latencies.shift();
      answers.push(now); while (answers.length && now - answers[0] > 2000) answers.shift();
      lastFaces = message.faces;
      frameSize = [message.width, message.height];
      stats.model.textContent = message.model_version;
      setState("live", "Live");
      showFaces();
    } else if (message.type === "error") {
      if (message.seq === null) return; // about a message that was not a frame: nothing in flight changed
      inFlight = false;
      if (message.code === "busy") setState("busy", "Server busy");
      else showError("A frame was refused: " + message.message);
    }
    // "skipped" cannot happen to this page (it waits for each answer), but would change nothing.
    sendFrame();
  }

  function median(values) {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  function showFaces() {
    const spanSeconds = answers.length > 1 ? (answers[answers.length - 1] - answers[0]) / 1000 : 0;
    stats.rate.textContent = spanSeconds ? ((answers.length - 1) / spanSeconds).toFixed(1) : "–";
    stats.latency.textContent = latencies.length ? Math.round(median(latencies)) + " ms" : "–";
    stats.faces.textContent = String(lastFaces.length);
    faceList.replaceChildren(...lastFaces.map((face) => {
      const item = document.createElement("li");
      item.textContent = face.steady
        ? "Face " + face.track + ": " + Math.round(face.age) + " years, likely " +
          Math.round(face.interval[0]) + "–" + Math.round(face.interval[1])
        : "Face " + face.track + ": measuring…";
      return item;
    }));
  }

  function draw() {
    if (!running) return;
    const width = overlay.clientWidth, height = overlay.clientHeight;
    const ratio = window.devicePixelRatio || 1;
    if (overlay.width !== Math.round(width * ratio)) overlay.width = Math.round(width * ratio);
    if (overlay.height !== Math.round(height * ratio)) overlay.height = Math.round(height * ratio);
    const context = overlay.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const sx = width / frameSize[0], sy = height / frameSize[1];
    context.lineWidth = 3;
    context.font = "700 15px system-ui, sans-serif";
    for (const face of lastFaces) {
      const b = face.box;
      const x = b.x * sx, y = b.y * sy, w = b.width * sx, h = b.height * sy;
      context.strokeStyle = "#4f46e5";
      context.strokeRect(x, y, w, h);
      const label = face.steady
        ? Math.round(face.age) + " (" + Math.round(face.interval[0]) + "–" + Math.round(face.interval[1]) + ")"
        : "…";
      const textWidth = context.measureText(label).width + 12;
      const top = y > 24 ? y - 24 : y + h;
      context.fillStyle = "#4f46e5";
      context.fillRect(x - 1.5, top, textWidth, 24);
      context.fillStyle = "#fff";
      context.fillText(label, x + 5, top + 17);
    }
    requestAnimationFrame(draw);
  }

  function keepFrame() {
    if (scoredBlob) { keep(scoredBlob, "live"); return; }
    if (!video.videoWidth) return;
    const canvas = document.createElement("canvas");  // nothing scored yet: the camera's picture
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => keep(blob, "upload"), "image/jpeg", 0.92);
  }

  async function keep(blob, source) {
    buttons.keep.disabled = true;
    const form = new FormData();
    form.append("image", blob, "live.jpg");
    form.append("source", source);
    try {
      const response = await fetch(page.dataset.keepUrl, {
        method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRFToken": page.dataset.csrf },
      });
      const body = await response.json();
      kept.replaceChildren();
      if (response.ok) {
        const link = document.createElement("a");
        link.href = body.page_url;
        link.textContent = "see its result";
        kept.append("Frame kept as a prediction: ", link, ".");
      } else {
        kept.textContent = "The frame could not be kept: " + body.error.message;
      }
    } catch (error) {
      kept.textContent = "The frame could not be kept: the server did not answer.";
    }
    kept.hidden = false;
    buttons.keep.disabled = false;
  }

  buttons.start.addEventListener("click", start);
  buttons.stop.addEventListener("click", () => stop(""));
  buttons.keep.addEventListener("click", keepFrame);
  buttons.flip.addEventListener("click", async () => {
    facing = facing === "user" ? "environment" : "user";
    try { await openCamera(); } catch (error) { showError(cameraError(error)); }
  });
  const problem = cameraProblem();
  if (problem) showError(problem);
})();
