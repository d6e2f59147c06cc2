// The live list: Server-Sent Events from GET /v1/videos/stream, read with fetch() so the
// request carries the Authorization header (EventSource cannot send one, and the key must
// never go into a URL). The server ends each stream after a few minutes; this reconnects,
// with backoff when the server cannot be reached.

const MAX_BACKOFF_MS = 15000;

export function connectStream({ key, onEvent, onState, onUnauthorized }) {
  let stopped = false;
  let controller = null;

  async function run() {
    let failures = 0;
    while (!stopped) {
      let wait = null;
      controller = new AbortController();
      try {
        onState("connecting");
        const response = await fetch("/v1/videos/stream", {
          headers: { Accept: "text/event-stream", Authorization: `Bearer ${key}` },
          cache: "no-store",
          signal: controller.signal,
        });
        if (response.status === 401) {
          onUnauthorized();
          return;
        }
        if (!response.ok || !response.body) {
          throw new Error(`the stream answered ${response.status}`);
        }
        for await (const message of readEvents(response.body)) {
          if (message.event === "end") {
            wait = JSON.parse(message.data).reconnect_ms;
          } else if (message.event === "unavailable") {
            throw new Error("the server cannot read the list right now");
          } else {
            failures = 0;
            onState("live");
            onEvent(message.event, JSON.parse(message.data));
          }
        }
      } catch (error) {
        if (stopped) return;
        console.warn("video stream:", error);
      }
      if (wait === null) {
        failures += 1;
        wait = Math.min(MAX_BACKOFF_MS, 500 * 2 ** failures);
        onState("reconnecting");
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  run();
  return {
    stop() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}

// Splits a text/event-stream body into {event, data} messages (the WHATWG parsing rules:
// CR, LF or CRLF line ends; lines starting with ":" are comments, such as the heartbeats).
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // A CR at the very end may be the first half of a CRLF split across two reads.
      const held = buffer.endsWith("\r") ? "\r" : "";
      let text = (held ? buffer.slice(0, -1) : buffer).replace(/\r\n|\r/g, "\n");
      let end;
      while ((end = text.indexOf("\n\n")) >= 0) {
        const message = parseBlock(text.slice(0, end));
        text = text.slice(end + 2);
        if (message) yield message;
      }
      buffer = text + held;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function parseBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { event, data: data.join("\n") } : null;
}
