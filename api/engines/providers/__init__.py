"""Hosted speech providers behind the engine protocols: DashScope, OpenAI-compatible, Fish Audio.

Each adapter takes a ``ProviderConfig`` (operator base URL, key, timeouts, model mapping) and
implements ``TTSEngine``, ``ASREngine`` or ``CloneEngine`` from ``api.engines.base``; DashScope's
file transcription and voice enrollment are helpers with their own methods, because they work
on public URLs rather than audio in hand. Calls are blocking (run them in a worker thread) and
raise only the platform's errors; ``common`` documents the mapping, including
``ProviderKeyRejectedError`` (code ``PROVIDER_KEY_REJECTED``) for a user's own key that the
provider refuses.
"""

from .common import (
    PROVIDER_KEY_REJECTED,
    ProviderConfig,
    ProviderError,
    ProviderKeyRejectedError,
    ProviderTranscript,
    RedactingFilter,
    redact,
)
from .dashscope import (
    ChannelTranscript,
    DashScopeASR,
    DashScopeCosyVoiceTTS,
    DashScopeFileTranscription,
    DashScopeVoiceEnrollment,
    EnrolledVoice,
    FileTranscriptionTask,
    TimedSentence,
    TimedWord,
    voice_status,
)
from .fish import FishASR, FishClone, FishTTS
from .openai_compatible import OpenAICompatibleASR, OpenAICompatibleTTS

__all__ = [
    "PROVIDER_KEY_REJECTED",
    "ChannelTranscript",
    "DashScopeASR",
    "DashScopeCosyVoiceTTS",
    "DashScopeFileTranscription",
    "DashScopeVoiceEnrollment",
    "EnrolledVoice",
    "FileTranscriptionTask",
    "FishASR",
    "FishClone",
    "FishTTS",
    "OpenAICompatibleASR",
    "OpenAICompatibleTTS",
    "ProviderConfig",
    "ProviderError",
    "ProviderKeyRejectedError",
    "ProviderTranscript",
    "RedactingFilter",
    "TimedSentence",
    "TimedWord",
    "redact",
    "voice_status",
]
