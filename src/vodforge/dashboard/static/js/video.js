// One video's page: status and actions (kept live by the stream), the player (hls.js from
// npm) with a quality menu, an embed snippet with the signed playback URL, the renditions,
// and the job's event history.

import { actionButton, isCancelling } from "./actions.js";
import { api } from "./api.js";
import {
  allowedActions,
  bitrate,
  duration,
  element,
  progressText,
  statusWord,
  when,
} from "./format.js";
import * as store from "./store.js";

export function createVideoPage(dom, { onError, onGone }) {
  let currentId = null;
  let hls = null;
  let playing = null; // which published package the player shows: job id and attempt
  let actionsKey = null;
  let historyKey = null;

  dom.quality.addEventListener("change", () => {
    if (hls) hls.currentLevel = Number(dom.quality.value);
  });
  dom.copy.addEventListener("click", () => copyEmbed(dom));

  store.subscribe((change) => {
    if (!currentId) return;
    if (change.type === "remove" && change.id === currentId) {
      onGone(currentId);
      return;
    }
    const video = store.getVideo(currentId);
    if (video && (change.type === "reset" || change.id === currentId)) render(video);
  });

  async function show(id) {
    hide();
    currentId = id;
    dom.heading.textContent = "Loading…";
    const known = store.getVideo(id);
    if (known) render(known);
    try {
      const video = await api.video(id);
      if (currentId !== id) return;
      store.upsert(video, { quiet: true });
      render(video);
    } catch (error) {
      if (currentId !== id) return;
      dom.heading.textContent = error.status === 404 ? "No such video" : "Could not load";
      onError(`${error.code || "ERROR"}: ${error.message}`);
    }
  }

  function hide() {
    currentId = null;
    actionsKey = null;
    historyKey = null;
    stopPlayer();
  }

  function render(video) {
    dom.heading.textContent = video.title;
    dom.status.textContent = statusWord(video.status);
    dom.status.className = `badge status-${video.status.toLowerCase()}`;
    let text = progressText(video);
    if (isCancelling(video)) text = text ? `${text} · cancelling…` : "cancelling…";
    dom.progress.textContent = text;
    dom.error.hidden = !video.error;
    dom.error.replaceChildren();
    if (video.error) {
      dom.error.append(
        element("code", { class: "error-code", text: video.error.code }),
        ` ${video.error.message || ""}`,
      );
    }
    renderActions(video);
    renderDetails(dom.details, video);
    renderRenditions(dom.renditions, dom.renditionsEmpty, video.renditions || []);
    const job = video.job || {};
    const history = `${job.id}:${job.state}:${job.attempt_count}:${video.status}`;
    if (history !== historyKey) {
      historyKey = history;
      loadHistory(video.id);
    }
    const ready = video.status === "READY" && video.playback_url;
    dom.playerSection.hidden = !ready;
    if (!ready) {
      stopPlayer();
    } else if (playing !== `${job.id}:${job.attempt_count}`) {
      playing = `${job.id}:${job.attempt_count}`;
      startPlayer(video);
      dom.embed.value = embedSnippet(video);
      dom.embedNote.textContent = expiryNote(video);
    }
  }

  function renderActions(video) {
    const allowed = allowedActions(video);
    const key = `${video.id}:${allowed.join(",")}`;
    if (key !== actionsKey) {
      actionsKey = key;
      dom.actions.replaceChildren(...allowed.map((a) => actionButton(a, video, onError)));
    }
    const cancel = dom.actions.querySelector("[data-action=cancel]");
    if (cancel) cancel.disabled = isCancelling(video);
  }

  async function loadHistory(id) {
    try {
      const { items } = await api.events(id);
      if (currentId !== id) return;
      const rows = items.map((event) =>
        element(
          "tr",
          {},
          element("td", { text: when(event.at) }),
          element("td", { text: `${event.from || "new"} → ${event.to}` }),
          element("td", { text: String(event.attempt) }),
          element("td", { text: event.reason || "" }),
          element("td", { text: event.worker || "" }),
        ),
      );
      dom.events.tBodies[0].replaceChildren(...rows);
    } catch (error) {
      onError(`Job history: ${error.code || "ERROR"}: ${error.message}`);
    }
  }

  function startPlayer(video) {
    stopPlayer();
    const media = dom.player;
    if (video.thumbnail_url) media.poster = video.thumbnail_url;
    const Hls = window.Hls;
    if (Hls && Hls.isSupported()) {
      hls = new Hls();
      window.vodforgePlayer = hls; // for people (and tests) poking at it in the console
      hls.on(Hls.Events.MANIFEST_PARSED, () => fillLevels(dom, hls.levels));
      hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => {
        const level = hls.levels[data.level];
        dom.qualityNow.textContent = level ? `Playing ${levelName(level)}` : "";
      });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) onError(`Playback stopped: ${data.type}: ${data.details}`);
      });
      hls.loadSource(video.playback_url);
      hls.attachMedia(media);
    } else if (media.canPlayType("application/vnd.apple.mpegurl")) {
      media.src = video.playback_url; // Safari plays HLS itself and picks the quality
      dom.qualityNow.textContent = "This browser chooses the quality itself.";
    } else {
      onError("This browser cannot play HLS, and hls.js is not loaded.");
    }
  }

  function stopPlayer() {
    playing = null;
    if (hls) {
      hls.destroy();
      hls = null;
      window.vodforgePlayer = null;
    }
    dom.player.removeAttribute("src");
    dom.player.removeAttribute("poster");
    dom.quality.replaceChildren(element("option", { value: "-1", text: "Auto" }));
    dom.quality.disabled = true;
    dom.qualityNow.textContent = "";
  }

  return { show, hide };
}

function levelName(level) {
  return `${level.height}p · ${bitrate(level.bitrate)}`;
}

function fillLevels(dom, levels) {
  const options = [element("option", { value: "-1", text: "Auto" })];
  levels.forEach((level, index) => {
    options.push(element("option", { value: String(index), text: levelName(level) }));
  });
  dom.quality.replaceChildren(...options);
  dom.quality.disabled = levels.length < 2;
}

function renderDetails(list, video) {
  const job = video.job;
  const rows = [
    ["Video id", video.id],
    ["Status", statusWord(video.status)],
    ["Duration", duration(video.duration_s)],
    ["Source resolution", video.width ? `${video.width}×${video.height}` : ""],
    ["Job", job ? `${job.state}, attempt ${job.attempt_count} of ${job.max_attempts}` : ""],
    ["Queue position", video.queue_position ? `#${video.queue_position}` : ""],
    ["Uploaded", when(video.created_at)],
    ["Last change", when(video.updated_at)],
  ];
  list.replaceChildren(
    ...rows
      .filter(([, value]) => value)
      .flatMap(([name, value]) => [element("dt", { text: name }), element("dd", { text: value })]),
  );
}

function renderRenditions(table, empty, renditions) {
  table.hidden = renditions.length === 0;
  empty.hidden = renditions.length > 0;
  table.tBodies[0].replaceChildren(
    ...renditions.map((r) =>
      element(
        "tr",
        {},
        element("td", { text: r.name }),
        element("td", { text: `${r.width}×${r.height}` }),
        element("td", { text: bitrate(r.bandwidth) }),
      ),
    ),
  );
}

// HTML a customer pastes into their page: hls.js from this server (the same file the
// dashboard uses) and the signed URL, which needs no header and plays on any origin.
export function embedSnippet(video) {
  const origin = new URL(video.playback_url).origin;
  const id = `vodforge-${video.id.slice(0, 8)}`;
  const poster = video.thumbnail_url ? ` poster="${video.thumbnail_url}"` : "";
  return `<video id="${id}" controls playsinline${poster} style="width:100%;max-width:960px"></video>
<script src="${origin}/vendor/hls.js/hls.min.js"></script>
<script>
  (function () {
    var video = document.getElementById("${id}");
    var src = "${video.playback_url}";
    if (window.Hls && Hls.isSupported()) {
      var hls = new Hls();
      hls.loadSource(src);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src; // Safari plays HLS natively
    }
  })();
</script>`;
}

function expiryNote(video) {
  const match = /\/(\d+)\.[^/]+\/[^/]+$/.exec(new URL(video.playback_url).pathname);
  const until = match ? when(Number(match[1])) : "its expiry";
  return (
    `The URL in this snippet is signed and stops working at ${until}. A page that stays up ` +
    "longer should fetch a fresh playback_url from GET /v1/videos/{id} on its server."
  );
}

async function copyEmbed(dom) {
  const text = dom.embed.value;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (plain http on another host): copy the selection instead.
    dom.embed.select();
    document.execCommand("copy");
  }
  dom.copyStatus.textContent = "Copied";
  setTimeout(() => {
    dom.copyStatus.textContent = "";
  }, 3000);
}
