// Resumable uploads with tus-js-client (from npm) to /v1/uploads/tus. Each file gets its own
// row with a progress bar, pause/resume and remove. tus-js-client remembers unfinished
// uploads in localStorage (by file name, size, date and endpoint, never the key), so picking
// the same file again, or a dropped connection, resumes from the server's offset.

import { authHeaders, storedKey } from "./api.js";
import { bytes, element } from "./format.js";

const CHUNK_BYTES = 16 * 1024 * 1024; // bounded PATCH bodies: proxies often cap them

export function mountUploads({ dropZone, chooser, input, list, announce }) {
  chooser.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    for (const file of input.files) startUpload(file);
    input.value = "";
  });

  for (const name of ["dragenter", "dragover"]) {
    dropZone.addEventListener(name, (event) => {
      event.preventDefault();
      dropZone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "dragend"]) {
    dropZone.addEventListener(name, () => dropZone.classList.remove("dragging"));
  }
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("dragging");
    for (const file of event.dataTransfer.files) startUpload(file);
  });

  function startUpload(file) {
    if (typeof window.tus === "undefined") {
      announce("Uploads need tus-js-client, which is not installed: see the message above.");
      return;
    }
    const bar = element("progress", { max: "100", value: "0", "aria-label": `Upload of ${file.name}` });
    const status = element("span", { class: "progress-text", text: "starting…" });
    const pause = element("button", { type: "button", class: "quiet" }, "Pause");
    const removeButton = element("button", { type: "button", class: "quiet" }, "Remove");
    const message = element("p", { class: "error-text", role: "alert", hidden: true });
    const row = element(
      "li",
      { class: "upload" },
      element("span", { class: "upload-name", text: file.name }),
      element("div", { class: "progress-row" }, bar, status),
      message,
      element("div", { class: "actions" }, pause, removeButton),
    );
    list.prepend(row);

    let videoId = null;
    let paused = false;
    const upload = new window.tus.Upload(file, {
      endpoint: `${window.location.origin}/v1/uploads/tus`,
      chunkSize: CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      // The key is read at each request: signing in again need not restart an upload.
      onBeforeRequest(request) {
        const headers = authHeaders(storedKey());
        for (const [name, value] of Object.entries(headers)) request.setHeader(name, value);
      },
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        const percent = total ? Math.floor((sent / total) * 100) : 0;
        bar.value = percent;
        status.textContent = `${percent}% · ${bytes(sent)} of ${bytes(total)}`;
      },
      onAfterResponse(_request, response) {
        videoId = response.getHeader("Vodforge-Video-Id") || videoId;
      },
      onSuccess() {
        bar.value = 100;
        status.textContent = `uploaded ${bytes(file.size)}; queued for processing`;
        pause.hidden = true;
        removeButton.textContent = "Dismiss";
        // The stream adds the video to the list; the id is kept for the link.
        announce(`${file.name} uploaded`);
        if (videoId) {
          const link = element("a", { href: `#/videos/${videoId}`, text: "open" });
          status.append(" · ", link);
        }
      },
      onError(error) {
        message.hidden = false;
        message.textContent = describeError(error);
        status.textContent = "stopped";
        pause.textContent = "Resume";
        paused = true;
      },
    });

    pause.addEventListener("click", () => {
      if (paused) {
        message.hidden = true;
        upload.start();
        pause.textContent = "Pause";
      } else {
        upload.abort();
        status.textContent = `paused at ${bar.value}%`;
        pause.textContent = "Resume";
      }
      paused = !paused;
    });
    removeButton.addEventListener("click", () => {
      // An unfinished upload is terminated on the server too, so its bytes go at once.
      if (bar.value < 100) upload.abort(true).catch(() => {});
      row.remove();
      chooser.focus(); // the removed row held focus: keep it somewhere sensible
    });

    upload.findPreviousUploads().then((previous) => {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        status.textContent = "resuming…";
      }
      upload.start();
    });
  }
}

// tus-js-client's error carries the server's response: show our {"error": {code, message}}.
function describeError(error) {
  const response = error.originalResponse;
  if (response) {
    try {
      const body = JSON.parse(response.getBody());
      if (body && body.error) return `${body.error.code}: ${body.error.message}`;
    } catch {
      // not JSON
    }
    return `upload failed (HTTP ${response.getStatus()})`;
  }
  return `upload failed: ${error.message || error}`;
}
