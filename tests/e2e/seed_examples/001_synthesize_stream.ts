const synthesizeStream = async (
  token: string,
  request: TTSRequest,
  onAudioChunk: (chunk: ArrayBuffer) => void
): Promise => {
  const response = await fetch('/api/audio/tts/synthesize', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Authorization': `Bearer ${token}`
    },
    body: JSON.stringify({ ...request, stream: true })
  });
  const reader = response.body?.getReader();
  if (!reader) throw new Error('No response body');
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    onAudioChunk(value.buffer);
  }
};
