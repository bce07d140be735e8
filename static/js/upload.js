// Upload page: choose, drop or take a photo, then submit the form (the server validates).
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = document.getElementById("id_image");
  const zone = document.getElementById("dropzone");
  const preview = document.getElementById("preview");
  const zoneText = document.getElementById("dropzone-text");
  const submit = document.getElementById("upload-submit");
  const camera = document.getElementById("camera");
  const video = document.getElementById("camera-video");
  const cameraError = document.getElementById("camera-error");
  const uploadError = document.getElementById("upload-error");
  const actions = document.getElementById("upload-actions");
  let stream = null;

  function showError(text) {
    uploadError.textContent = text;
    uploadError.hidden = !text;
    zone.classList.toggle("invalid", !!text);
  }

  function showPreview(file) {
    showError("");
    if (!file || !file.type.startsWith("image/")) { preview.hidden = true; zoneText.hidden = false; return; }
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    zoneText.hidden = true;
  }

  function useFile(file) {
    const transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
    showPreview(file);
  }

  input.addEventListener("change", () => showPreview(input.files[0]));

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
    submit.textContent = "Uploading…";
  });

  function stopCamera() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    camera.hidden = true;
    zone.hidden = false;
    actions.hidden = false;
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
      camera.hidden = false;  // the camera takes the place of the file choice while it is open
      zone.hidden = true;
      actions.hidden = true;
    } catch (error) {
      cameraError.textContent = "The camera could not be opened: " + (error.message || error.name) + ".";
      cameraError.hidden = false;
    }
  });

  document.getElementById("camera-stop").addEventListener("click", stopCamera);

  document.getElementById("camera-snap").addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      stopCamera();
      useFile(new File([blob], "camera.jpg", { type: "image/jpeg" }));
      form.requestSubmit();
    }, "image/jpeg", 0.92);
  });
})();
