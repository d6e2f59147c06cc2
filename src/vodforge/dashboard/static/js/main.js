// The dashboard's entry point: sign-in, the two views (#/ the list, #/videos/ID a video),
// the live stream that feeds both, and the places problems and status changes are shown.

import { api, forgetKey, storedKey, storeKey } from "./api.js";
import { mountList } from "./list.js";
import * as store from "./store.js";
import { connectStream } from "./stream.js";
import { mountUploads } from "./upload.js";
import { createVideoPage } from "./video.js";

const $ = (id) => document.getElementById(id);

const views = {
  signIn: $("sign-in-view"),
  list: $("list-view"),
  video: $("video-view"),
};
const announcer = $("announcer");
const problem = $("script-problem");
const connection = $("connection");
const signOut = $("sign-out");

let stream = null;

function announce(text) {
  // Replacing the text (not appending) keeps the region short; a screen reader reads each.
  announcer.textContent = text;
}

function showProblem(text) {
  problem.textContent = text;
  problem.hidden = !text;
}

const CONNECTION_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
};

function setConnection(state) {
  connection.textContent = CONNECTION_TEXT[state] || "";
  connection.dataset.state = state;
}

function showView(name) {
  for (const [key, view] of Object.entries(views)) view.hidden = key !== name;
}

const videoPage = createVideoPage(
  {
    heading: $("video-heading"),
    status: $("video-status"),
    progress: $("video-progress-text"),
    error: $("video-error"),
    actions: $("video-actions"),
    playerSection: $("player-section"),
    player: $("player"),
    quality: $("quality"),
    qualityNow: $("quality-now"),
    embed: $("embed-code"),
    embedNote: $("embed-note"),
    copy: $("copy-embed"),
    copyStatus: $("copy-status"),
    renditions: $("renditions"),
    renditionsEmpty: $("renditions-empty"),
    details: $("video-details"),
    events: $("events"),
  },
  {
    onError: showProblem,
    onGone: () => {
      announce("The video was deleted.");
      window.location.hash = "#/";
    },
  },
);

function route() {
  if (!storedKey()) {
    videoPage.hide();
    showView("signIn");
    $("api-key").focus();
    return;
  }
  const match = /^#\/videos\/([0-9a-fA-F-]{36})$/.exec(window.location.hash);
  if (match) {
    showView("video");
    videoPage.show(match[1]);
    $("video-heading").setAttribute("tabindex", "-1");
    $("video-heading").focus();
  } else {
    videoPage.hide();
    showView("list");
  }
}

function startStream() {
  if (stream) stream.stop();
  stream = connectStream({
    key: storedKey(),
    onState: setConnection,
    onUnauthorized: () => endSession("That API key is no longer valid: sign in again."),
    onEvent(type, data) {
      if (type === "snapshot") store.replaceAll(data.items);
      else if (type === "video") store.upsert(data);
      else if (type === "removed") store.remove(data.id);
    },
  });
}

function endSession(message) {
  if (stream) stream.stop();
  stream = null;
  forgetKey();
  store.clear();
  setConnection("");
  signOut.hidden = true;
  $("sign-in-error").textContent = message || "";
  route();
}

function beginSession() {
  signOut.hidden = false;
  showProblem("");
  startStream();
  route();
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("api-key");
  const key = input.value.trim();
  const error = $("sign-in-error");
  if (!key) {
    error.textContent = "Paste the API key first.";
    input.focus();
    return;
  }
  error.textContent = "Checking…";
  try {
    await api.checkKey(key);
  } catch (failure) {
    error.textContent =
      failure.status === 401
        ? "That key was not accepted. Check it and try again."
        : `Could not check the key: ${failure.code}: ${failure.message}`;
    input.focus();
    return;
  }
  error.textContent = "";
  input.value = "";
  storeKey(key);
  beginSession();
});

signOut.addEventListener("click", () => endSession("Signed out."));
window.addEventListener("hashchange", route);

store.setAnnouncer(announce);
mountList({ list: $("video-list"), empty: $("list-empty"), onError: showProblem });
mountUploads({
  dropZone: $("drop-zone"),
  chooser: $("choose-file"),
  input: $("file-input"),
  list: $("uploads"),
  announce,
});

if (storedKey()) beginSession();
else route();
