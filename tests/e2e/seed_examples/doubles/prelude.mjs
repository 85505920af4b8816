// Test doubles for the seeds' JavaScript and TypeScript examples (tests/e2e/test_seed_examples.py):
// what a browser page or a Node script written for node-fetch would give them, and nothing else.
// Loaded with `node --import`; configured by the SEED_* environment variables the test sets.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const env = process.env;
const examples = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const report = { results: [], played: [], decoded_chunks: 0, sources_started: 0, streamed_chunks: 0 };
const pending = [];
const decoded = [];
const streamed = [];

// Seed 000 mixes CommonJS `require` with top-level await, which Node refuses in one file
// (ERR_AMBIGUOUS_MODULE_SYNTAX). The example runs as an ES module and finds `require` here,
// resolving packages from tests/e2e/seed_examples/node_modules.
globalThis.require = createRequire(path.join(examples, "package.json"));

if (env.SEED_FETCH === "node-fetch") {
  // Seed 000's SED example posts an npm `form-data` stream. Node's own fetch does not know that
  // object and sends the string "[object FormData]"; node-fetch 2, which the example was
  // written for, streams the multipart body.
  globalThis.fetch = globalThis.require("node-fetch");
}

// Seed 001's usage examples take the signed-in user's token from the page.
if (env.SEED_TOKEN) globalThis.token = env.SEED_TOKEN;

// A page with <input type="file" id="audioFile"> holding the harness's recording.
globalThis.__audioFile = () =>
  new File([fs.readFileSync(env.SEED_AUDIO_FILE)], path.basename(env.SEED_AUDIO_FILE), { type: "audio/wav" });
globalThis.document = {
  querySelector: (selector) => (selector === "#audioFile" ? { files: [globalThis.__audioFile()] } : null),
};

// HTMLAudioElement: play() fetches the source the way a browser does (relative to the page, no
// Authorization header) and keeps the bytes, so the test can decode what a listener would hear.
globalThis.Audio = class Audio {
  constructor(src) {
    this.src = src;
  }
  play() {
    const played = fetch(new URL(this.src, env.SEED_BASE_URL)).then(async (response) => {
      const file = path.resolve(`played-${report.played.length}.bin`);
      fs.writeFileSync(file, Buffer.from(await response.arrayBuffer()));
      report.played.push({ src: this.src, status: response.status, content_type: response.headers.get("content-type"), file });
    });
    pending.push(played);
    return played;
  }
  pause() {}
};

// Web Audio: decodeAudioData keeps each buffer it is handed (the test decodes them joined).
class AudioContext {
  constructor() {
    this.destination = {};
  }
  decodeAudioData(buffer, onSuccess) {
    decoded.push(Buffer.from(buffer));
    report.decoded_chunks += 1;
    const audioBuffer = { byteLength: buffer.byteLength };
    if (onSuccess) setImmediate(() => onSuccess(audioBuffer));
    return Promise.resolve(audioBuffer);
  }
  createBufferSource() {
    return { buffer: null, connect() {}, start() { report.sources_started += 1; } };
  }
}
globalThis.window = globalThis;
globalThis.AudioContext = AudioContext;

// Hooks for the harness's driver lines appended after an example.
globalThis.__report = (value) => report.results.push(value);
globalThis.__settle = () => Promise.all(pending);
globalThis.__collect = (chunk) => {
  streamed.push(Buffer.from(chunk));
  report.streamed_chunks += 1;
};

process.on("exit", () => {
  if (decoded.length) fs.writeFileSync("decoded.bin", Buffer.concat(decoded));
  if (streamed.length) fs.writeFileSync("streamed.bin", Buffer.concat(streamed));
  fs.writeFileSync(env.SEED_REPORT, JSON.stringify(report));
});
