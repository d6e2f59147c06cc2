// Small formatting and DOM helpers shared by the views. Text always goes in through
// textContent, never innerHTML: titles and error messages come from users and ffmpeg.

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child);
    }
  }
  return node;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const total = Math.max(0, Math.round(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
}

export function bitrate(bitsPerSecond) {
  if (!bitsPerSecond) return "";
  return bitsPerSecond >= 1e6
    ? `${(bitsPerSecond / 1e6).toFixed(1)} Mb/s`
    : `${Math.round(bitsPerSecond / 1e3)} kb/s`;
}

export function bytes(count) {
  if (!Number.isFinite(count)) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

export function when(value) {
  if (value === null || value === undefined) return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toLocaleString();
}

const STATUS_WORDS = {
  PENDING_UPLOAD: "Waiting for upload",
  UPLOADED: "Queued",
  PROCESSING: "Processing",
  READY: "Ready",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
};

export function statusWord(status) {
  return STATUS_WORDS[status] || status;
}

// "transcode 42% · about 0:12 left · #2 in queue": what a person wants to know at a glance.
export function progressText(video) {
  const parts = [];
  const progress = video.progress || {};
  if (video.status === "PROCESSING") {
    parts.push(`${progress.stage || "working"} ${Math.round(progress.percent || 0)}%`);
    if (progress.eta_s !== null && progress.eta_s !== undefined) {
      parts.push(`about ${duration(progress.eta_s)} left`);
    }
  }
  if (video.queue_position) {
    parts.push(`#${video.queue_position} in queue`);
  }
  const job = video.job;
  if (job && job.attempt_count > 1 && !["READY", "CANCELLED"].includes(video.status)) {
    parts.push(`attempt ${job.attempt_count} of ${job.max_attempts}`);
  }
  return parts.join(" · ");
}

// What a person may do with a video in each status.
export function allowedActions(video) {
  const actions = [];
  if (["UPLOADED", "PROCESSING"].includes(video.status)) actions.push("cancel");
  if (["FAILED", "CANCELLED"].includes(video.status)) actions.push("retry");
  actions.push("delete");
  return actions;
}
