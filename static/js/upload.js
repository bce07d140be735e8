// Upload page: choose, drop or take a photo, see it, then submit the form (the server validates).
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = document.getElementById("id_image");
  const zone = document.getElementById("dropzone");
  const preview = document.getElementById("preview");
  const zoneText = document.getElementById("dropzone-text");
  const chosen = document.getElementById("chosen");
  const chosenName = document.getElementById("chosen-name");
  const submit = document.getElementById("upload-submit");
  const camera = document.getElementById("camera");
  const video = document.getElementById("camera-video");
  const shot = document.getElementById("camera-shot");
  const liveActions = document.getElementById("camera-live-actions");
  const shotActions = document.getElementById("camera-shot-actions");
  const cameraError = document.getElementById("camera-error");
  const uploadError = document.getElementById("upload-error");
  const actions = document.getElementById("upload-actions");
  let stream = null, taken = null;

  function showError(text) {
    uploadError.textContent = text;
    uploadError.hidden = !text;
    zone.classList.toggle("invalid", !!text);
  }

  const megabytes = (bytes) => (bytes / 1048576).toFixed(bytes < 1048576 ? 2 : 1) + " MB";

  // What was chosen: its name, and its picture where the browser can draw it. A file that
  // is no picture at all is refused here; one the browser cannot draw (TIFF) still goes.
  function showPreview(file) {
    showError("");
    preview.hidden = true;
    zoneText.hidden = false;
    preview.removeAttribute("src");
    chosen.hidden = !file;
    submit.disabled = !file;
    if (!file) return;
    chosenName.textContent = file.name + " (" + megabytes(file.size) + ")";
    const unreadable = () => {
      submit.disabled = true;
      showError("“" + file.name + "” cannot be read as a photo. Choose a JPEG, PNG, WebP, GIF, BMP or TIFF file.");
    };
    if (file.type && !file.type.startsWith("image/")) { unreadable(); return; }
    preview.onload = () => { preview.hidden = false; zoneText.hidden = true; };
    preview.onerror = () => {
      if (/tiff?$/i.test(file.type || file.name)) chosenName.textContent += ": no preview in this browser, but it can be sent";
      else unreadable();
    };
    preview.src = URL.createObjectURL(file);
  }

  function useFile(file) {
    const transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
    showPreview(file);
  }

  input.addEventListener("change", () => showPreview(input.files[0]));
  document.getElementById("change-photo").addEventListener("click", () => input.click());

  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) useFile(event.dataTransfer.files[0]);
  });

  form.addEventListener("submit", (event) => {
    if (!input.files.length) { event.preventDefault(); showError("Choose a photo first."); return; }
    submit.disabled = true;
    submit.classList.add("busy");
    submit.textContent = "Uploading…";
  });

  // --- the camera: take, look, then use or retake ---

  function showShot(visible) {
    video.hidden = visible;
    shot.hidden = !visible;
    liveActions.hidden = visible;
    shotActions.hidden = !visible;
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    camera.hidden = true;
    zone.hidden = false;
    actions.hidden = false;
    showShot(false);
  }

  document.getElementById("camera-start").addEventListener("click", async () => {
    cameraError.hidden = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraError.textContent = "This browser cannot use a camera here (it needs HTTPS or localhost).";
      cameraError.hidden = false;
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 1280 } }, audio: false });
      video.srcObject = stream;
      showError("");
      showShot(false);
      camera.hidden = false;  // the camera takes the place of the file choice while it is open
      zone.hidden = true;
      chosen.hidden = true;
      actions.hidden = true;
    } catch (error) {
      cameraError.textContent = "The camera could not be opened: " + (error.message || error.name) + ".";
      cameraError.hidden = false;
    }
  });

  document.getElementById("camera-stop").addEventListener("click", () => { stopCamera(); showPreview(input.files[0]); });

  document.getElementById("camera-snap").addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      taken = new File([blob], "camera.jpg", { type: "image/jpeg" });
      shot.src = URL.createObjectURL(blob);
      showShot(true);
      document.getElementById("camera-use").focus();
    }, "image/jpeg", 0.92);
  });

  document.getElementById("camera-retake").addEventListener("click", () => {
    showShot(false);
    document.getElementById("camera-snap").focus();
  });

  document.getElementById("camera-use").addEventListener("click", () => {
    stopCamera();
    useFile(taken);
    form.requestSubmit();
  });

  // A file the browser kept on going back is shown; with none, there is nothing to send yet
  // (and the server's own error, if it sent one, stays in sight).
  if (input.files.length) showPreview(input.files[0]); else submit.disabled = true;
})();
