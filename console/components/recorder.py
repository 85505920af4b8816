"""Record from the microphone into an ``rx.upload``: the clip arrives like a dropped file.

A small script runs ``MediaRecorder`` in the page. When recording stops, the clip (WebM/Opus in
Chromium and Firefox, MP4 in Safari) is put into the upload zone's file input, so the page's
own ``on_drop`` handler receives it through Reflex's upload endpoint exactly as it receives an
uploaded file: one server path, one set of checks. Nothing is sent before the user stops.
"""

from __future__ import annotations

import json
from typing import Any

import reflex as rx
from reflex.event import EventType

from console.i18n import tr

MAX_RECORDING_SECONDS = 60


def zone_id(upload_id: str) -> str:
    """The id of the box around the upload zone, where the script finds the file input."""
    return f"{upload_id}-zone"


def _start_script(upload_id: str) -> str:
    selector = json.dumps(f"#{zone_id(upload_id)} input[type=file]")
    return f"""(async () => {{
  const input = document.querySelector({selector});
  if (!input || !navigator.mediaDevices || !window.MediaRecorder) return "unavailable";
  let stream;
  try {{
    stream = await navigator.mediaDevices.getUserMedia({{
      audio: {{ channelCount: 1, echoCancellation: false, noiseSuppression: false }}
    }});
  }} catch (error) {{
    return "denied";
  }}
  const recorder = new MediaRecorder(stream);
  const chunks = [];
  recorder.ondataavailable = (event) => {{ if (event.data.size) chunks.push(event.data); }};
  recorder.onstop = () => {{
    stream.getTracks().forEach((track) => track.stop());
    const type = recorder.mimeType || "audio/webm";
    const ext = type.includes("mp4") ? "m4a" : type.includes("ogg") ? "ogg" : "webm";
    const file = new File(chunks, "recording." + ext, {{ type }});
    const transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
    input.dispatchEvent(new Event("change", {{ bubbles: true }}));
  }};
  window.__amphionRecorder = recorder;
  recorder.start(250);
  setTimeout(() => {{ if (recorder.state === "recording") recorder.stop(); }},
             {MAX_RECORDING_SECONDS * 1000});
  return "recording";
}})()"""


_STOP_SCRIPT = (
    "(() => { const recorder = window.__amphionRecorder;"
    " if (recorder && recorder.state === 'recording') recorder.stop();"
    " window.__amphionRecorder = null; return true; })()"
)


def recorder_buttons(
    upload_id: str,
    *,
    recording: rx.Var[bool],
    on_started: EventType[Any],
    on_stopped: EventType[()],
    disabled: rx.Var[bool] | bool = False,
) -> rx.Component:
    """ "Record" / "Stop" for the upload zone ``upload_id``; ``on_started`` receives
    ``"recording"``, or why not (``"denied"``, ``"unavailable"``)."""
    return rx.cond(
        recording,
        rx.button(
            rx.box(
                width="0.6rem",
                height="0.6rem",
                border_radius="full",
                background=rx.color("red", 9),
                class_name="animate-pulse",
            ),
            tr("Stop recording", "停止录音"),
            on_click=[rx.call_script(_STOP_SCRIPT), on_stopped],
            color_scheme="red",
            variant="soft",
            data_testid="record-stop",
            type="button",
        ),
        rx.button(
            rx.icon("mic", size=15),
            tr("Record from microphone", "用麦克风录制"),
            on_click=rx.call_script(_start_script(upload_id), callback=on_started),
            variant="soft",
            color_scheme="gray",
            disabled=disabled,
            data_testid="record-start",
            type="button",
        ),
    )
