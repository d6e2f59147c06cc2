// The videos the stream has told us about, keyed by id, newest first; views subscribe to
// changes. A status change is announced once through the aria-live region.

const videos = new Map();
const listeners = new Set();
let announce = () => {};

export function setAnnouncer(callback) {
  announce = callback;
}

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify(change) {
  for (const listener of listeners) listener(change);
}

export function getVideo(id) {
  return videos.get(id);
}

export function orderedVideos() {
  return [...videos.values()].sort(
    (a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id),
  );
}

export function replaceAll(items) {
  const before = new Map(videos);
  videos.clear();
  for (const video of items) {
    videos.set(video.id, video);
    const old = before.get(video.id);
    if (old && old.status !== video.status) announceStatus(video);
  }
  notify({ type: "reset" });
}

export function upsert(video, { quiet = false } = {}) {
  const old = videos.get(video.id);
  videos.set(video.id, video);
  // A video new to the list (an upload, or one from another tab) is announced too: it may
  // already have failed by the time the stream first reports it.
  if (!quiet && (!old || old.status !== video.status)) announceStatus(video);
  notify({ type: "upsert", id: video.id, video, previous: old });
}

export function remove(id) {
  if (videos.delete(id)) notify({ type: "remove", id });
}

export function clear() {
  videos.clear();
  notify({ type: "reset" });
}

function announceStatus(video) {
  let text = `${video.title}: ${video.status}`;
  if (video.error) text += ` (${video.error.code}: ${video.error.message})`;
  announce(text);
}
