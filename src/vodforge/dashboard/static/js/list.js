// The list of videos. Each video keeps its own element, updated in place as the stream
// reports changes, so keyboard focus on a button survives every update.

import { actionButton, isCancelling } from "./actions.js";
import { allowedActions, element, progressText, statusWord } from "./format.js";
import * as store from "./store.js";

export function mountList({ list, empty, onError }) {
  const entries = new Map();

  function build(video) {
    const thumb = element("img", { class: "thumb", alt: "", loading: "lazy", hidden: true });
    const frame = element("div", { class: "thumb-frame", "aria-hidden": "true" }, thumb);
    const title = element("a", { class: "video-title", href: `#/videos/${video.id}` });
    const badge = element("span", { class: "badge" });
    const bar = element("progress", { max: "100", value: "0" });
    const progress = element("span", { class: "progress-text" });
    const progressRow = element("div", { class: "progress-row" }, bar, progress);
    const error = element("p", { class: "error-text", hidden: true });
    const actions = element("div", { class: "actions" });
    const buttons = {};
    for (const action of ["cancel", "retry", "delete"]) {
      buttons[action] = actionButton(action, video, onError);
      buttons[action].dataset.videoId = video.id;
      actions.append(buttons[action]);
    }
    const body = element(
      "div",
      { class: "video-body" },
      element("div", { class: "video-head" }, title, badge),
      progressRow,
      error,
      actions,
    );
    const root = element("li", { class: "video", "data-id": video.id }, frame, body);
    return { root, thumb, title, badge, bar, progress, progressRow, error, buttons };
  }

  function update(entry, video) {
    entry.root.dataset.status = video.status;
    entry.title.textContent = video.title;
    entry.badge.textContent = statusWord(video.status);
    entry.badge.className = `badge status-${video.status.toLowerCase()}`;

    const moving = video.status === "UPLOADED" || video.status === "PROCESSING";
    entry.progressRow.hidden = !moving;
    const percent = Math.round((video.progress && video.progress.percent) || 0);
    entry.bar.value = percent;
    entry.bar.setAttribute("aria-label", `Progress of ${video.title}`);
    entry.bar.setAttribute("aria-valuetext", `${percent}%`);
    let text = progressText(video);
    if (isCancelling(video)) text = text ? `${text} · cancelling…` : "cancelling…";
    entry.progress.textContent = text;

    entry.error.hidden = !video.error;
    entry.error.replaceChildren();
    if (video.error) {
      entry.error.append(
        element("code", { class: "error-code", text: video.error.code }),
        ` ${video.error.message || ""}`,
      );
    }

    // Loaded once per READY spell: each snapshot signs the URL afresh, and reloading the
    // same picture for a new signature would only flicker. A retry clears it first.
    if (!video.thumbnail_url) {
      entry.thumb.hidden = true;
      entry.thumb.removeAttribute("src");
    } else if (!entry.thumb.getAttribute("src")) {
      entry.thumb.src = video.thumbnail_url;
      entry.thumb.hidden = false;
    }

    const allowed = allowedActions(video);
    for (const [action, button] of Object.entries(entry.buttons)) {
      button.hidden = !allowed.includes(action);
    }
    entry.buttons.cancel.disabled = isCancelling(video);
  }

  function render() {
    const ordered = store.orderedVideos();
    const wanted = new Set(ordered.map((video) => video.id));
    for (const [id, entry] of entries) {
      if (!wanted.has(id)) {
        entry.root.remove();
        entries.delete(id);
      }
    }
    let previous = null;
    for (const video of ordered) {
      let entry = entries.get(video.id);
      if (!entry) {
        entry = build(video);
        entries.set(video.id, entry);
      }
      update(entry, video);
      // Moved only when out of place: re-inserting an element that holds focus blurs it.
      const expected = previous ? previous.nextElementSibling : list.firstElementChild;
      if (expected !== entry.root) {
        if (previous) previous.after(entry.root);
        else list.prepend(entry.root);
      }
      previous = entry.root;
    }
    empty.hidden = ordered.length > 0;
  }

  store.subscribe(render);
  render();
}
