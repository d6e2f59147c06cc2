// Cancel, retry and delete, shared by the list and the video page. The answer is applied at
// once; the stream then confirms it (a running job stops at its worker's next heartbeat, so
// until then the video shows "cancelling").

import { api } from "./api.js";
import { element } from "./format.js";
import * as store from "./store.js";

export const ACTION_LABELS = { cancel: "Cancel", retry: "Retry", delete: "Delete" };

const cancelling = new Set();

export function isCancelling(video) {
  if (video.status !== "PROCESSING" && video.status !== "UPLOADED") cancelling.delete(video.id);
  return cancelling.has(video.id);
}

// A button whose accessible name carries the video's title ("Cancel clip.mp4"): a screen
// reader listing buttons hears which video each one acts on.
export function actionButton(action, video, onError) {
  const hidden = element("span", { class: "visually-hidden", text: ` ${video.title}` });
  const button = element(
    "button",
    { type: "button", "data-action": action, class: action === "delete" ? "danger" : null },
    ACTION_LABELS[action],
    hidden,
  );
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await runAction(action, button.dataset.videoId || video.id);
    } catch (error) {
      onError(`${ACTION_LABELS[action]} failed: ${error.code || "ERROR"}: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export async function runAction(action, id) {
  const video = store.getVideo(id);
  const title = video ? video.title : id;
  if (action === "delete") {
    if (!window.confirm(`Delete “${title}”? Its stream and files are removed for good.`)) {
      return false;
    }
    await api.remove(id);
    store.remove(id);
    return true;
  }
  if (action === "cancel") {
    cancelling.add(id);
    store.upsert(await api.cancel(id));
    return true;
  }
  store.upsert(await api.retry(id));
  return true;
}
